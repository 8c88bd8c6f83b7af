import ArgumentParser
import Foundation
import MLP
import MLPBenchmarks

// Option declarations look alike: each declares one flag, as swift-argument-parser wants them.

/// `mlp bench`: throughput on the standard workloads against the sgemm peak.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput on fixed workloads (W1–W4) against the sgemm peak measured in the same run.",
        discussion: "Run it as you train: ./launch -n N bench. Rank 0 prints one line per workload (or JSON with --json).")

    @Option(help: """
        Workloads, comma-separated: W1 (784-512-512-10, batch 256), W2 (same, 1024), W3 (784-128-10, 64), \
        W4 (784-2048-2048-10, 512), W5 (784-512-512-10, 64).
        """)
    var workloads = "W1,W2,W3,W4"

    @Option(help: "Steps per timed repeat.")
    var steps = 100

    @Option(help: "Timed repeats (the median and min–max are reported).")
    var repeats = 5

    @Option(help: "Untimed steps first.")
    var warmup = 20

    @Flag(help: "One JSON object per workload.")
    var json = false

    @Option(help: "auto, single, overlap or shared (see mlp train --help).")
    var allreduce: AllreduceMode = .auto

    @Option(help: "The update rule: sgd (plain, learning rate 0.01), adam or adamw (PyTorch's defaults).")
    var optimizer: OptimizerSettings.Kind = .sgd

    @Option(help: "SGD's momentum (with --optimizer sgd).")
    var momentum = 0.0

    @Option(help: "on, off or auto, as mlp train's.")
    var shardedUpdate: ShardedUpdateMode = .auto

    @OptionGroup
    var reproducibility: ReproducibilityOptions

    @Option(help: "With --reproducible and no --chunk-rows: cut each workload's batch into this many chunks (train's default: 4).")
    var chunksPerBatch = 4

    /// A bound on the counts: a benchmark of more steps than this is a typing error.
    static let largestCount = 1_000_000

    func run() throws {
        let names = workloads.split(separator: ",").map { String($0).trimmingWhitespace().uppercased() }
        let selected = try names.map { name in
            guard let workload = Benchmark.workloads.first(where: { $0.name == name }) else {
                throw ValidationError("unknown workload '\(name)' (W1, W2, W3, W4, W5)")
            }
            return workload
        }
        guard steps > 0, repeats > 0, warmup >= 0 else { throw ValidationError("--steps and --repeats must be positive") }
        guard steps <= Self.largestCount, repeats <= Self.largestCount, warmup <= Self.largestCount else {
            throw ValidationError("--steps, --repeats and --warmup must be at most \(Self.largestCount)")
        }
        _ = try reproducibility.resolvedChunkRows()   // checks the combination
        let optimizer = OptimizerSettings(kind: optimizer, momentum: momentum)
        try optimizer.validate()
        var exchanges: [String: GradientExchange] = [:]
        do {
            for workload in selected {
                let chunkRows = reproducibility.reproducible
                    ? reproducibility.chunkRows ?? (workload.batchSize + chunksPerBatch - 1) / max(chunksPerBatch, 1) : nil
                exchanges[workload.name] = try GradientExchange(allreduce: allreduce, sharded: shardedUpdate, chunkRows: chunkRows,
                                                                optimizer: optimizer)
            }
        } catch let error as InputError { throw ValidationError(error.message) }
        // With the watchdog `mlp train` runs with by default: the benchmark measures what training costs.
        try withCommunicator(collectiveTimeout: CollectiveTimeout(seconds: CollectiveTimeout.defaultSeconds)) { communicator in
            warnAboutSlowKernels(communicator)
            if communicator.rank == 0, !json {
                standardOutput.line("mlp bench: \(BLASThreads.describe(ranks: communicator.size, threads: BLASInfo.threads)), "
                    + "core type \(BLASInfo.coreName), allreduce "
                    + "\(allreduce.rawValue)\(reproducibility.reproducible ? ", reproducible" : "")")
            }
            Benchmark.run(selected, steps: steps, repeats: repeats, warmup: warmup, optimizer: optimizer,
                          exchange: { exchanges[$0.name]! }, communicator: communicator) { result in
                if communicator.rank == 0 { standardOutput.line(json ? result.json : result.line) }
            }
        }
    }
}

/// `mlp blas`: the OpenBLAS kernel family and threads (`launch` uses it to catch a misdetected CPU).
struct BLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas", abstract: "Print the OpenBLAS core type in use and its thread count.", shouldDisplay: false)

    func run() {
        print("\(BLASInfo.coreName) \(BLASInfo.threads)")
    }
}

/// `mlp bench-allreduce` (hidden): MPI_Allreduce time against message size on this job's ranks.
struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-allreduce",
        abstract: "Time MPI_Allreduce (SUM, in place, float32) for each message size; run under mpirun. See Benchmarks/SCALING.md.",
        shouldDisplay: false)

    @Option(help: ArgumentHelp("Message sizes in bytes, comma-separated.", valueName: "bytes"))
    var bytes: String = "8,64,512,4096,32768,262144,1048576,2682920,8388608"

    @Option(help: "Seconds each timed block lasts (about).")
    var blockSeconds: Double = 0.2

    func run() throws {
        let sizes = try bytes.split(separator: ",").map { part -> Int in
            guard let value = Int(part.trimmingWhitespace()), value >= 4, value <= 1 << 30 else {
                throw ValidationError("--bytes: '\(part)' is not a size from 4 to 1073741824")
            }
            return value / 4
        }
        // With the watchdog `mlp train` runs with by default: the benchmark measures what training costs.
        try withCommunicator(collectiveTimeout: CollectiveTimeout(seconds: CollectiveTimeout.defaultSeconds)) { communicator in
            let timings = ScalingBenchmark.allreduce(counts: sizes, blockSeconds: blockSeconds, communicator: communicator)
            guard communicator.rank == 0 else { return }
            let P = Double(communicator.size)
            standardOutput.line("ranks \(communicator.size)")
            standardOutput.line("bytes       seconds      algbw_GB/s  busbw_GB/s")
            for timing in timings {
                let algorithm = Double(timing.bytes) / timing.seconds / 1e9
                // NCCL's bus bandwidth: what each link carries in a ring, 2(P−1)/P of the message.
                let bus = P > 1 ? algorithm * 2 * (P - 1) / P : 0
                standardOutput.line(String(format: "%-11d %-12.4e %-11.3f %.3f", timing.bytes, timing.seconds, algorithm, bus))
            }
        }
    }
}

/// `mlp bench-step` (hidden): one training step's computation against the shard's rows.
struct BenchStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-step",
        abstract: "Time one training step without communication (gather, forward, backward, "
            + "SGD update) for each shard size. See Benchmarks/SCALING.md.",
        shouldDisplay: false)

    @Option(help: ArgumentHelp("Layer sizes U_0…U_L, comma-separated.", valueName: "sizes"))
    var layers: String = "784,512,512,10"

    @Option(help: ArgumentHelp("Shard sizes (rows per rank per step), comma-separated.", valueName: "rows"))
    var rows: String = "1,2,4,8,16,32,64,128,256"

    @Option(help: "Timed steps per shard size (the median is reported).")
    var steps: Int = 50

    @Option(help: "float32 or float64.")
    var precision: Precision = .float32

    func run() throws {
        let sizes = try parseWidths(layers), shards = try parseWidths(rows)
        guard sizes.count >= 2 else { throw ValidationError("--layers needs at least inputs and outputs") }
        guard (1 ... Bench.largestCount).contains(steps), sizes.allSatisfy({ $0 <= TrainingOptions.largestWidth }),
              shards.allSatisfy({ $0 <= TrainingOptions.largestWidth }) else {
            throw ValidationError("--steps must be from 1 to \(Bench.largestCount), "
                + "--layers and --rows at most \(TrainingOptions.largestWidth) each")
        }
        let timings = ScalingBenchmark.step(precision: precision, layerSizes: sizes, shardRows: shards, steps: steps)
        standardOutput.line("layers \(layers) \(precision.rawValue)")
        standardOutput.line("rows   seconds")
        for timing in timings { standardOutput.line(String(format: "%-6d %.4e", timing.rows, timing.seconds)) }
    }
}
