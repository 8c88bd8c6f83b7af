import ArgumentParser
import MLP

// Option declarations look alike: each declares one flag, as swift-argument-parser wants them.

/// What a safetensors file without our metadata does not say (evaluate, predict).
struct ForeignModelOptions: ParsableArguments {
    @Option(help: "The model's loss, for files without mlp metadata.")
    var loss: Loss?

    @Option(help: "The model's hidden activation, for files without mlp metadata.")
    var activation: Activation?
}

/// `mlp evaluate`: a model's loss and metrics on labelled data, data-parallel under mpirun.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model file on labelled data: loss, accuracy, per-class precision/recall and the confusion matrix, "
            + "or MSE, MAE and R².",
        discussion: "mnist:DIR evaluates on the t10k pair. Under mpirun each rank evaluates a shard; the sums are combined exactly.")

    @Option(help: ArgumentHelp("The model (safetensors, as written by --save or --checkpoint).", valueName: "file"))
    var model: String

    @Option(help: ArgumentHelp("Labelled data: a CSV (gzip-compressed too) with the model's feature and target columns, mnist:DIR, "
        + "or X.npy with --labels.", valueName: "path"))
    var data: String

    @Option(help: ArgumentHelp("The labels of .npy --data features.", valueName: "path"))
    var labels: String?

    @Option(help: ArgumentHelp("Target column(s), comma-separated (default: the model's).", valueName: "columns"))
    var target: String?

    @OptionGroup
    var foreign: ForeignModelOptions

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    @OptionGroup
    var reproducibility: ReproducibilityOptions

    @OptionGroup
    var watchdog: WatchdogOptions

    func run() throws {
        let chunkRows = try reproducibility.resolvedChunkRows()
        let source = try DataSource(data, labels: labels, labelsOption: "--labels")
        let targets = target.map { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }
        try withCommunicator(collectiveTimeout: watchdog.timeout) { communicator in
            // Reading the model and the data, then each rank's shard: all of it is evaluation.
            communicator.recordPhase(.evaluation, step: 0)
            let result = try runEvaluation(model: model, data: source, targetColumns: targets, loss: foreign.loss,
                                           activation: foreign.activation, chunkRows: chunkRows,
                                           communicator: communicator)
            if communicator.rank == 0 { standardOutput.line(json ? result.json : result.text) }
        }
    }
}

/// `mlp predict`: predictions for a CSV of features, written as CSV.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's predictions for each row of a CSV: the class label and class probabilities, or the regression outputs.",
        discussion: "Input columns are matched by name to the model's columns, in any order; other columns are ignored and "
            + "a missing one is an error. A category not seen in training is encoded as zeros and counted on stderr.")

    @Option(help: ArgumentHelp("The model (safetensors).", valueName: "file"))
    var model: String

    @Option(help: ArgumentHelp("A CSV file (gzip-compressed too) of features with a header row.", valueName: "path"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the predictions (CSV, written atomically).", valueName: "file"))
    var output: String

    @OptionGroup
    var foreign: ForeignModelOptions

    func run() throws {
        // No watchdog: the other ranks only wait for rank 0's work, whose length only the input
        // decides; there is no collective of theirs to watch.
        try withCommunicator(collectiveTimeout: nil) { communicator in
            // Prediction is not split over ranks: rank 0 does it, the others agree on the outcome
            // (a failed write: `ExitStatus.writeFailed` on every rank).
            let summary = try communicator.agreeSharingExitStatus { () -> PredictionSummary? in
                guard communicator.rank == 0 else { return nil }
                var summary: PredictionSummary?
                try stoppingQuietlyIfTheReaderLeft {
                    summary = try runPrediction(model: model, input: input, output: output, loss: foreign.loss,
                                                activation: foreign.activation)
                }
                return summary
            }
            if communicator.rank == 0, let summary {
                if !summary.unseenCategories.isEmpty {
                    StandardStreams.writeError("mlp predict: values not seen in training, encoded as zeros: "
                        + summary.unseenCategories.map { "\($0.column) \($0.rows) row\($0.rows == 1 ? "" : "s")" }.joined(separator: ", ")
                        + "\n")
                }
                standardOutput.line("wrote \(summary.rows) predictions to \(output)")
            }
        }
    }
}
