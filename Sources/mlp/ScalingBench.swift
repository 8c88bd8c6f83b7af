import ArgumentParser
import Foundation
import MLP
import MLPBenchmarks

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
            guard let value = Int(part.trimmingWhitespace()), value >= 4 else { throw ValidationError("--bytes: '\(part)' is not a size ≥ 4") }
            return value / 4
        }
        try withCommunicator { communicator in
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
        abstract: "Time one training step without communication (gather, forward, backward, SGD update) for each shard size. See Benchmarks/SCALING.md.",
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
        let timings = ScalingBenchmark.step(precision: precision, layerSizes: sizes, shardRows: shards, steps: steps)
        standardOutput.line("layers \(layers) \(precision.rawValue)")
        standardOutput.line("rows   seconds")
        for timing in timings { standardOutput.line(String(format: "%-6d %.4e", timing.rows, timing.seconds)) }
    }
}
