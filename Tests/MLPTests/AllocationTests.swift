import AllocationCounter
import XCTest
@testable import MLP

/// A training step allocates nothing: every workspace is allocated once per batch shape.
final class AllocationTests: XCTestCase {
    func testTrainingStepsDoNotAllocate() {
        var generator = SplitMix64(seed: 1)
        let rows = 500, inputs = 20
        let data = Dataset<Float>(rowCount: rows, featureCount: inputs,
                                  features: (0 ..< rows * inputs).map { _ in Float(generator.nextUniform()) },
                                  featureNames: (0 ..< inputs).map { "x\($0)" },
                                  labels: (0 ..< rows).map { _ in Int32(generator.next() % 3) },
                                  classNames: ["a", "b", "c"], targetNames: ["y"])
        // Plain; Adam with overlap; and --reproducible with dropout (chunked, exact sums, masks).
        let configurations: [(OptimizerSettings, GradientExchange)] = [
            (OptimizerSettings(kind: .sgd), .allreduce), (OptimizerSettings(kind: .adam), .overlappedAllreduce),
            (OptimizerSettings(kind: .sgd), .exactSums(chunkRows: 8, sharded: false)),
            (OptimizerSettings(kind: .adam), .nodeShared(chunkRows: nil)), (OptimizerSettings(kind: .sgd), .nodeShared(chunkRows: 8)),
        ]
        for (optimizer, mode) in configurations {
            let network = Network<Float>(layerSizes: [inputs, 32, 16, 3], activation: .tanh, loss: .crossEntropy)
            network.initialize(seed: 0)
            var settings = Trainer<Float>.Settings(batchSize: 50, epochs: 1, seed: 0, shuffle: true, checksumEvery: 0,
                                                   clipGradientNorm: 1)
            if mode.chunkRows != nil { settings.dropout = [0.3, 0.1] }
            let trainer = Trainer(network: network, optimizer: optimizer,
                                  schedule: LearningRateSchedule(baseRate: 0.01, settings: ScheduleSettings(kind: .cosine),
                                                                 stepsPerEpoch: 10, totalSteps: 100),
                                  train: data, test: nil, settings: settings, exchange: mode,
                                  communicator: mode.isNodeShared ? OneRankWithSharedMemory() : SingleProcessCommunicator())
            XCTAssertEqual(trainer.exchange, mode, "the in-process window was not taken")
            trainer.prepareEpoch(1)
            for batch in 0 ..< 3 { trainer.trainStep(batch: batch) }   // warm-up
            allocation_counter_start()
            for step in 0 ..< 200 { trainer.trainStep(batch: 3 + step % 7) }
            let allocations = allocation_counter_stop()
            // Other threads of the test process (the runtime's, OpenBLAS's idle workers: these
            // shapes are too small for OpenBLAS to thread) are not part of the step; say so if
            // they allocated, but judge the step by the thread that ran it.
            if allocations > 0 || allocation_counter_other_threads() > 0 {
                print("\(optimizer.kind), exchange \(mode): \(allocations) allocations on the training thread, "
                      + "\(allocation_counter_other_threads()) on other threads")
                allocation_counter_print_origins()
            }
            XCTAssertEqual(allocations, 0, "\(optimizer.kind), exchange \(mode): heap allocations in 200 training steps")
        }
        // The counter itself works: an array allocates.
        allocation_counter_start()
        let array = [Int](repeating: 1, count: 1000)
        XCTAssertGreaterThan(allocation_counter_stop(), 0)
        withExtendedLifetime(array) {}   // used, and alive until the count is read
    }
}

/// A world of one process whose "shared" memory is its own: the node-shared exchange's step
/// (slots, barriers, streamed update) in process, for the allocation count.
private final class OneRankWithSharedMemory: Communicator {
    private let world = SingleProcessCommunicator()
    var rank: Int { 0 }
    var size: Int { 1 }
    func allreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {}
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) {}
    func reduceScatterSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32]) {}
    func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Int64>, counts: [Int32]) {}
    func allgather<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32], displacements: [Int32]) {}
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    func startAllreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {}
    func waitForReductions() {}
    func broadcast<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {}
    func abort(exitCode: Int32) -> Never { world.abort(exitCode: exitCode) }
    func split(color: Int, key: Int) -> Communicator { self }
    func allocateSharedMemory(byteCount: Int) -> SharedMemory? { OwnMemory(byteCount: byteCount) }

    private final class OwnMemory: SharedMemory {
        let base: UnsafeMutableRawPointer
        let byteCount: Int
        init(byteCount: Int) {
            self.byteCount = byteCount
            base = .allocate(byteCount: byteCount, alignment: 4096)
        }
        deinit { base.deallocate() }
        func barrier() {}
        func synchronize() {}
    }
}
