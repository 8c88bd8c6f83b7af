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
                                  train: data, test: nil, settings: settings, exchange: mode, communicator: SingleProcessCommunicator())
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
