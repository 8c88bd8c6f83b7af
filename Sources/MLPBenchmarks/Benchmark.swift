import Foundation
import MLP

/// `mlp bench`: training throughput on fixed workloads, against the sgemm peak measured in the
/// same processes, with the time split of a step.
public enum Benchmark {
    public struct Workload: Sendable {
        public var name: String
        public var layerSizes: [Int]
        public var batchSize: Int

        /// Matrix multiply-add FLOPs per sample: forward 2·Σ U_l·U_{l−1}, backward the same for
        /// dW plus dQ for every layer but the first.
        public var flopsPerSample: Double {
            var total = 0.0
            for l in 1 ..< layerSizes.count {
                let product = Double(layerSizes[l] * layerSizes[l - 1])
                total += 2 * product * (l == 1 ? 2 : 3)
            }
            return total
        }
    }

    /// The benchmark workloads W1–W5: MNIST-shaped, ReLU, cross-entropy (plain SGD unless
    /// `mlp bench --optimizer` says otherwise). W5 is W1 at batch 64, where the update weighs most.
    public static let workloads = [
        Workload(name: "W1", layerSizes: [784, 512, 512, 10], batchSize: 256),
        Workload(name: "W2", layerSizes: [784, 512, 512, 10], batchSize: 1024),
        Workload(name: "W3", layerSizes: [784, 128, 10], batchSize: 64),
        Workload(name: "W4", layerSizes: [784, 2048, 2048, 10], batchSize: 512),
        Workload(name: "W5", layerSizes: [784, 512, 512, 10], batchSize: 64),
    ]

    public struct Result: Sendable {
        public var workload: Workload
        /// Samples per second of each timed repeat (all ranks together).
        public var samplesPerSecond: [Double]
        /// The whole job's sgemm peak, GFLOP/s: the sum of every rank's, measured together, the
        /// larger of the measurements just before and just after the workload.
        public var peakGFLOPS: Double
        /// Per step, seconds, averaged over ranks.
        public var split: StepTimings
        /// Largest peak resident set over ranks, bytes.
        public var peakResidentBytes: Double
        /// `--reproducible`'s chunk rows; nil: the plain step.
        public var chunkRows: Int?
        /// The update rule, whether it was sharded, and the largest optimizer state a rank held, bytes.
        public var optimizer = OptimizerSettings.Kind.sgd
        public var shardedUpdate = false
        /// The steps used the node-shared exchange (`--allreduce shared` where the window could be had).
        public var nodeShared = false
        public var optimizerStateBytes = 0
        /// Samples per second of each repeat of the step's matrix products alone, same shapes,
        /// same ranks and threads: what OpenBLAS allows at this workload before anything else.
        public var productsSamplesPerSecond: [Double]

        public var medianSamplesPerSecond: Double { median(samplesPerSecond) }
        public var gflops: Double { medianSamplesPerSecond * workload.flopsPerSample / 1e9 }
        public var fractionOfPeak: Double { gflops / peakGFLOPS }
        public var productsGFLOPS: Double { median(productsSamplesPerSecond) * workload.flopsPerSample / 1e9 }
        public var productsFractionOfPeak: Double { productsGFLOPS / peakGFLOPS }
        /// The step's rate over the products-alone rate: 1 would be a step that costs nothing but its sgemm calls.
        public var fractionOfProducts: Double { gflops / productsGFLOPS }
    }

    /// Runs each workload: `warmup` steps, then `repeats` timed runs of `steps` steps, on random
    /// MNIST-shaped data (60,000 rows; speed does not depend on the values).
    /// `exchange`: how each workload's steps combine the ranks' sums (with `--reproducible`'s
    /// chunks, on one BLAS thread).
    public static func run(_ selected: [Workload], steps: Int, repeats: Int, warmup: Int,
                           optimizer: OptimizerSettings = OptimizerSettings(),
                           exchange: (Workload) -> GradientExchange = { _ in .allreduce },
                           communicator: Communicator, report: (Result) -> Void) {
        // The peak is measured before and after each workload and the larger taken: on a shared
        // machine one measurement can fall in a slow minute and flatter every fraction of it.
        var peakBefore = sgemmPeak(communicator: communicator)
        for workload in selected {
            let threads = BLASInfo.threads
            var result = measure(workload, steps: steps, repeats: repeats, warmup: warmup, optimizer: optimizer,
                                 exchange: exchange(workload), peak: peakBefore, communicator: communicator)
            BLASInfo.threads = threads
            result.chunkRows = exchange(workload).chunkRows
            result.optimizer = optimizer.kind
            let peakAfter = sgemmPeak(communicator: communicator)
            result.peakGFLOPS = max(peakBefore, peakAfter)
            report(result)
            peakBefore = peakAfter
        }
    }

    static func measure(_ workload: Workload, steps: Int, repeats: Int, warmup: Int, optimizer: OptimizerSettings,
                        exchange: GradientExchange, peak: Double, communicator: Communicator) -> Result {
        let data = Dataset<Float>.uniformNoise(rows: 60_000, inputs: workload.layerSizes[0], classes: workload.layerSizes.last!)
        let network = Network<Float>(layerSizes: workload.layerSizes, activation: .relu, loss: .crossEntropy)
        network.initialize(seed: 0)
        let settings = Trainer<Float>.Settings(batchSize: workload.batchSize, epochs: 1, seed: 0, shuffle: true, checksumEvery: 0)
        // A BLAS call's bits depend on its thread count: the exact sums need one, on every rank.
        if exchange.chunkRows != nil { BLASInfo.threads = 1 }
        let trainer = Trainer(network: network, optimizer: optimizer,
                              schedule: LearningRateSchedule(baseRate: 0.01, settings: ScheduleSettings(), stepsPerEpoch: 1, totalSteps: 1),
                              train: data, test: nil, settings: settings, exchange: exchange, communicator: communicator)
        let batches = trainer.batchesPerEpoch
        var batch = 0, epoch = 1
        trainer.prepareEpoch(epoch)
        func takeSteps(_ count: Int) {
            for _ in 0 ..< count {
                if batch == batches - 1 { batch = 0; epoch += 1; trainer.prepareEpoch(epoch) }   // full batches only
                trainer.trainStep(batch: batch)
                batch += 1
            }
        }
        takeSteps(warmup)
        trainer.timings = StepTimings()
        var rates: [Double] = []
        for _ in 0 ..< repeats {
            barrier(communicator)
            let start = PhaseClock.now()
            takeSteps(steps)
            barrier(communicator)
            rates.append(Double(steps * workload.batchSize) / (PhaseClock.now() - start))
        }
        // Average the split over ranks, per step.
        let t = trainer.timings, n = Double(max(t.steps, 1) * communicator.size)
        var split = [t.gather, t.forward, t.backward, t.allreduce, t.update, t.allgather]
        split.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        // Counted from the optimizer's buffers, not from the resident set.
        var largest = [peakResidentBytes(), Double(trainer.optimizer.stateBytes)]
        largest.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
        var timings = StepTimings()
        (timings.gather, timings.forward, timings.backward, timings.allreduce, timings.update, timings.allgather) =
            (split[0] / n, split[1] / n, split[2] / n, split[3] / n, split[4] / n, split[5] / n)
        timings.steps = 1

        // The same step's sgemm calls alone, with the same shapes, all ranks at once.
        let rows = shardRange(count: min(workload.batchSize, data.rowCount), rank: communicator.rank, size: communicator.size).count
        let products = MatrixProducts(network: network, rows: rows)
        var productRates: [Double] = []
        for _ in 0 ..< repeats {
            barrier(communicator)
            let start = PhaseClock.now()
            for _ in 0 ..< steps { products.run() }
            barrier(communicator)
            productRates.append(Double(steps * workload.batchSize) / (PhaseClock.now() - start))
        }
        var result = Result(workload: workload, samplesPerSecond: rates, peakGFLOPS: peak, split: timings, peakResidentBytes: largest[0],
                            productsSamplesPerSecond: productRates)
        result.shardedUpdate = trainer.isUpdateSharded
        result.nodeShared = trainer.exchange.isNodeShared
        result.optimizerStateBytes = Int(largest[1])
        return result
    }

    /// The sgemm rate every rank reaches at once with its own thread count (n = 2048 square
    /// products, best of 5), summed over ranks: what the machine offers this rank layout.
    static func sgemmPeak(communicator: Communicator) -> Double {
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = 0.0
        barrier(communicator)
        for trial in 0 ..< 6 {
            let start = PhaseClock.now()
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
                Float.gemm(transposeA: false, transposeB: false, m: n, n: n, k: n, alpha: 1, a: a.baseAddress!, lda: n,
                           b: b.baseAddress!, ldb: n, beta: 0, c: c.baseAddress!, ldc: n)
            } } }
            let rate = 2 * Double(n * n * n) / (PhaseClock.now() - start) / 1e9
            if trial > 0 { best = max(best, rate) }   // the first warms up
        }
        var total = [best]
        total.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return total[0]
    }

    static func barrier(_ communicator: Communicator) {
        var token: [Double] = [0]
        token.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
    }

    /// VmHWM of this process, bytes.
    static func peakResidentBytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

extension Benchmark.Result {
    /// One JSON object, for scripts.
    public var json: String {
        var object: [String: Any] = [
            "workload": workload.name, "layers": workload.layerSizes, "batch_size": workload.batchSize,
            "samples_per_second": samplesPerSecond, "median_samples_per_second": medianSamplesPerSecond,
            "gflops": gflops, "peak_gflops": peakGFLOPS, "fraction_of_peak": fractionOfPeak,
            "ms_per_step": ["gather": split.gather * 1e3, "forward": split.forward * 1e3, "backward": split.backward * 1e3,
                            "allreduce_wait": split.allreduce * 1e3, "update": split.update * 1e3, "allgather": split.allgather * 1e3],
            "optimizer": optimizer.rawValue, "sharded_update": shardedUpdate, "node_shared": nodeShared, "optimizer_state_bytes_per_rank": optimizerStateBytes,
            "peak_resident_mib": peakResidentBytes / 1_048_576,
            "products_samples_per_second": productsSamplesPerSecond, "products_gflops": productsGFLOPS,
            "products_fraction_of_peak": productsFractionOfPeak, "fraction_of_products": fractionOfProducts,
        ]
        if let chunkRows { object["chunk_rows"] = chunkRows }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// One table row.
    public var line: String {
        let rates = samplesPerSecond.sorted()
        let net = workload.layerSizes.map(String.init).joined(separator: "-")
        let split = [self.split.gather, self.split.forward, self.split.backward,
                     self.split.allreduce, self.split.update, self.split.allgather]
            .map { String(format: "%.3f", $0 * 1e3) }.joined(separator: " / ")
        return String(format: "%@ %@ batch %d, %@%@: %.0f samples/s (%.0f–%.0f), %.1f GFLOP/s = %.2f of the %.1f GFLOP/s sgemm peak; "
            + "the step's sgemm calls alone: %.1f GFLOP/s = %.2f of peak, of which the step reaches %.2f; "
            + "ms per step gather / forward / backward / reduction wait / update / allgather: "
            + "%@; optimizer state %.1f MiB per rank; peak RSS %.0f MiB",
                      workload.name, net, workload.batchSize, optimizer.rawValue, nodeShared ? " node-shared" : shardedUpdate ? " sharded" : "",
                      medianSamplesPerSecond, rates.first ?? 0, rates.last ?? 0,
                      gflops, fractionOfPeak, peakGFLOPS, productsGFLOPS, productsFractionOfPeak, fractionOfProducts,
                      split, Double(optimizerStateBytes) / 1_048_576, peakResidentBytes / 1_048_576)
    }
}

extension Dataset {
    /// `rows` rows of features uniform in [0, 1) and random class labels, from a fixed seed: what
    /// the benchmarks train on (their speed does not depend on what the numbers mean).
    static func uniformNoise(rows: Int, inputs: Int, classes: Int) -> Dataset {
        var generator = SplitMix64(seed: 1)
        let features = (0 ..< rows * inputs).map { _ in T(generator.nextUniform()) }
        let labels = (0 ..< rows).map { _ in Int32(generator.next() % UInt64(classes)) }
        return Dataset(rowCount: rows, featureCount: inputs, features: features,
                       featureNames: (0 ..< inputs).map { "x\($0)" }, labels: labels,
                       classNames: (0 ..< classes).map(String.init), targetNames: ["label"])
    }
}
