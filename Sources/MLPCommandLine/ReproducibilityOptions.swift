import ArgumentParser
import MLP

/// `--reproducible` and `--chunk-rows`, for `train`, `evaluate` and `bench`.
struct ReproducibilityOptions: ParsableArguments {
    @Flag(name: TrainOptionTable.reproducible.long, help: TrainOptionTable.reproducible.argumentHelp)
    var reproducible = false

    @Option(name: TrainOptionTable.chunkRows.long, parsing: .unconditional, help: TrainOptionTable.chunkRows.argumentHelp)
    var chunkRows: Int?

    /// The chunk rows `--reproducible` asks for (`defaultRows` if not given); nil without it.
    func resolvedChunkRows(defaultRows: Int = 64) throws -> Int? {
        try TrainingOptions.checkExchange(reproducible: reproducible, chunkRows: chunkRows)
        return reproducible ? chunkRows ?? defaultRows : nil
    }
}
