import ArgumentParser
import MLP

/// `--reproducible` and `--chunk-rows`, for `train` and `evaluate`.
struct ReproducibilityOptions: ParsableArguments {
    @Flag(help: "The same bits on any number of ranks, hosts and OpenBLAS threads (docs/reproducibility.md): batches are cut into fixed chunks, each computed on one BLAS thread, and their sums are combined exactly.")
    var reproducible = false

    @Option(help: ArgumentHelp("Rows per chunk with --reproducible (default: a quarter of the batch, at least 8; 64 for evaluate); runs compare bit for bit only at the same value.", valueName: "n"))
    var chunkRows: Int?

    /// The chunk rows `--reproducible` asks for (`defaultRows` if not given); nil without it.
    func resolvedChunkRows(defaultRows: Int = 64) throws -> Int? {
        if let chunkRows, !(1 ... TrainingOptions.largestCount).contains(chunkRows) {
            throw InputError("--chunk-rows must be from 1 to \(TrainingOptions.largestCount) (got \(chunkRows))")
        }
        if chunkRows != nil, !reproducible { throw InputError("--chunk-rows needs --reproducible") }
        return reproducible ? chunkRows ?? defaultRows : nil
    }
}
