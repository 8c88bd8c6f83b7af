import ArgumentParser
import MLP
import MLPBenchmarks
import MLPPlot

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
        abstract: "Evaluate a model file on labelled data: loss, accuracy, per-class precision/recall and the confusion matrix, or MSE, MAE and R².",
        discussion: "mnist:DIR evaluates on the t10k pair. Under mpirun each rank evaluates a shard; the sums are combined exactly.")

    @Option(help: ArgumentHelp("The model (safetensors, as written by --save or --checkpoint).", valueName: "file"))
    var model: String

    @Option(help: ArgumentHelp("Labelled data: a CSV with the model's feature and target columns, mnist:DIR, or X.npy with --labels.", valueName: "path"))
    var data: String

    @Option(help: ArgumentHelp("The labels of .npy --data features.", valueName: "path"))
    var labels: String?

    @Option(help: ArgumentHelp("Target column(s), comma-separated (default: the model's).", valueName: "columns"))
    var target: String?

    @OptionGroup
    var foreign: ForeignModelOptions

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    func run() throws {
        let source = try DataSource(data, labels: labels, labelsOption: "--labels")
        let targets = target.map { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }
        try withCommunicator { communicator in
            let result = try runEvaluation(model: model, data: source, targetColumns: targets, loss: foreign.loss,
                                           activation: foreign.activation, communicator: communicator)
            if communicator.rank == 0 { standardOutput.line(json ? result.json : result.text) }
        }
    }
}

/// `mlp predict`: predictions for a CSV of features, written as CSV.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's predictions for each row of a CSV: the class label and class probabilities, or the regression outputs.",
        discussion: "Input columns are matched by name to the model's features (columns named like its targets are ignored); a missing or unknown column is an error.")

    @Option(help: ArgumentHelp("The model (safetensors).", valueName: "file"))
    var model: String

    @Option(help: ArgumentHelp("A CSV file of features with a header row.", valueName: "path"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the predictions (CSV, written atomically).", valueName: "file"))
    var output: String

    @OptionGroup
    var foreign: ForeignModelOptions

    func run() throws {
        try withCommunicator { communicator in
            // Prediction is not split over ranks: rank 0 does it, the others agree on the outcome.
            let rows = try communicator.agree { () -> Int in
                guard communicator.rank == 0 else { return 0 }
                return try runPrediction(model: model, input: input, output: output, loss: foreign.loss, activation: foreign.activation)
            }
            if communicator.rank == 0 { standardOutput.line("wrote \(rows) predictions to \(output)") }
        }
    }
}

/// `mlp plot`: learning curves from a metrics file, as SVG.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw train/validation/test loss and accuracy against epochs from a --metrics file, as a self-contained SVG.")

    @Option(help: ArgumentHelp("JSON lines written by mlp train --metrics.", valueName: "file"))
    var metrics: String

    @Option(help: ArgumentHelp("The SVG file to write.", valueName: "file"))
    var output: String

    func run() throws {
        do {
            let svg = try LearningCurves(metricsPath: metrics).svg
            try writeFileAtomically(Array(svg.utf8), to: output)
            standardOutput.line("wrote \(output)")
        } catch let error as InputError {
            printError(error.message)
            throw ExitCode(1)
        }
    }
}

/// `mlp bench`: throughput on the standard workloads against the sgemm peak.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput on fixed workloads (W1–W4) against the sgemm peak measured in the same run.",
        discussion: "Run it as you train: ./launch -n N bench. Rank 0 prints one line per workload (or JSON with --json).")

    @Option(help: "Workloads, comma-separated: W1 (784-512-512-10, batch 256), W2 (same, 1024), W3 (784-128-10, 64), W4 (784-2048-2048-10, 512).")
    var workloads = "W1,W2,W3,W4"

    @Option(help: "Steps per timed repeat.")
    var steps = 100

    @Option(help: "Timed repeats (the median and min–max are reported).")
    var repeats = 5

    @Option(help: "Untimed steps first.")
    var warmup = 20

    @Flag(help: "One JSON object per workload.")
    var json = false

    @Option(help: "single or overlap (see mlp train --help).")
    var allreduce: AllreduceMode = .single

    func run() throws {
        let names = workloads.split(separator: ",").map { String($0).trimmingWhitespace().uppercased() }
        let selected = try names.map { name in
            guard let workload = Benchmark.workloads.first(where: { $0.name == name }) else {
                throw ValidationError("unknown workload '\(name)' (W1, W2, W3, W4)")
            }
            return workload
        }
        guard steps > 0, repeats > 0, warmup >= 0 else { throw ValidationError("--steps and --repeats must be positive") }
        try withCommunicator { communicator in
            if communicator.rank == 0, !json {
                standardOutput.line("mlp bench: \(communicator.size) rank(s) × \(BLASInfo.threads) OpenBLAS thread(s), core type \(BLASInfo.coreName), allreduce \(allreduce.rawValue)")
            }
            Benchmark.run(selected, steps: steps, repeats: repeats, warmup: warmup, allreduce: allreduce, communicator: communicator) { result in
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
