import Foundation
import MLP

/// The measurements behind `Benchmarks/SCALING.md`: how long one allreduce of n bytes takes
/// on this job's ranks, and how long one training step's computation takes on a shard of b rows.
/// A step of the data-parallel trainer costs t_step(P) = t_compute(n_b / P) + t_allreduce(bytes(θ), P).
public enum ScalingBenchmark {
    public struct AllreduceTiming: Sendable {
        public var bytes: Int
        /// Seconds per `MPI_Allreduce` (SUM, in place), the slowest rank's mean over a timed block,
        /// the best of three blocks.
        public var seconds: Double
    }

    /// Times `allreduceSum` over `count` float32 values for each count, on every rank of the
    /// communicator (call it on all ranks). Each timed block runs long enough to last about
    /// `blockSeconds`.
    public static func allreduce(counts: [Int], blockSeconds: Double = 0.2, communicator: Communicator) -> [AllreduceTiming] {
        counts.map { count in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 1)
            let values = UnsafeMutableBufferPointer(rebasing: buffer[0 ..< count])
            func slowest(_ seconds: Double) -> Double {
                var value = [seconds]
                value.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
                return value[0]
            }
            func block(_ iterations: Int) -> Double {
                sync(communicator)
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0 ..< iterations { communicator.allreduceSum(values) }
                return slowest(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(iterations))
            }
            _ = block(5)   // warm-up: connections, buffers
            let estimate = block(10)
            let iterations = max(10, min(100_000, Int(blockSeconds / max(estimate, 1e-7))))
            let best = (0 ..< 3).map { _ in block(iterations) }.min()!
            return AllreduceTiming(bytes: count * MemoryLayout<Float>.size, seconds: best)
        }
    }

    /// One small collective, so every rank starts a timed block together.
    static func sync(_ communicator: Communicator) {
        var token: [Double] = [0]
        token.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
    }

    public struct StepTiming: Sendable {
        public var rows: Int
        /// Median seconds of one step (gather, forward, backward, gradient scaling, SGD update)
        /// without communication (a world of one).
        public var seconds: Double
    }

    /// Times the trainer's own step in one process for shards of each size in `shardRows`, on
    /// random data of `layerSizes[0]` features and `layerSizes.last` classes.
    public static func step(precision: Precision, layerSizes: [Int], shardRows: [Int], steps: Int) -> [StepTiming] {
        switch precision {
        case .float32: return step(Float.self, layerSizes: layerSizes, shardRows: shardRows, steps: steps)
        case .float64: return step(Double.self, layerSizes: layerSizes, shardRows: shardRows, steps: steps)
        }
    }

    static func step<T: Scalar>(_: T.Type, layerSizes: [Int], shardRows: [Int], steps: Int) -> [StepTiming] {
        let data = Dataset<T>.uniformNoise(rows: max(shardRows.max() ?? 1, 1) * 4, inputs: layerSizes[0], classes: layerSizes.last!)
        return shardRows.map { shard in
            let network = Network<T>(layerSizes: layerSizes, activation: .relu, loss: .crossEntropy)
            network.initialize(seed: 1)
            let settings = Trainer<T>.Settings(batchSize: shard, epochs: 1, seed: 1, shuffle: true, checksumEvery: 0)
            let trainer = Trainer(network: network, optimizer: OptimizerSettings(),
                                  schedule: LearningRateSchedule(baseRate: 0.01, settings: ScheduleSettings(),
                                                                 stepsPerEpoch: 1, totalSteps: 1),
                                  train: data, test: nil, settings: settings, communicator: SingleProcessCommunicator())
            trainer.prepareEpoch(1)
            let fullBatches = data.rowCount / shard
            var times: [Double] = []
            for step in 0 ..< steps + 3 {
                let start = DispatchTime.now().uptimeNanoseconds
                trainer.trainStep(batch: step % fullBatches)
                if step >= 3 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            }
            times.sort()
            return StepTiming(rows: shard, seconds: times[times.count / 2])
        }
    }
}
