import ArgumentParser
import MLP

// Option declarations here look alike (`duplicates` pairs them by shape): each declares one flag, as
// swift-argument-parser wants them; kept on purpose.

/// `mlp train`: the command line's names are the public contract; keep them.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP with mini-batch SGD, Adam or AdamW on the exact (allreduced) mini-batch gradient.",
        discussion: """
            PATH is a CSV file with a header row (gzip-compressed too, whatever its name), mnist:DIR (the four standard IDX files, .gz or raw), \
            synthetic:spirals (a built-in 3-class demo), or X.npy features (memory-mapped) with --train-labels y.npy.
            Examples:
              mlp train --train synthetic:spirals --test synthetic:spirals --epochs 20
              mpirun -n 2 mlp train --train mnist:data --test mnist:data --hidden 512,512 --save model.safetensors
              mlp train --train data.csv --optimizer adamw --lr-schedule cosine --warmup-steps 200 --validation-split 0.1 --early-stopping 3
            """)

    @Option(help: ArgumentHelp("Training data (required unless --resume).", valueName: "path"))
    var train: String?

    @Option(help: ArgumentHelp("The labels of .npy --train features (a .npy of class indices or targets).", valueName: "path"))
    var trainLabels: String?

    @Option(help: ArgumentHelp("Test data, evaluated after every epoch.", valueName: "path"))
    var test: String?

    @Option(help: ArgumentHelp("The labels of .npy --test features.", valueName: "path"))
    var testLabels: String?

    @Option(help: ArgumentHelp("Target column(s) of a CSV, comma-separated (default: the last column).", valueName: "columns"))
    var target: String?

    @Option(help: "Loss: cross-entropy (classification) or squared-error (regression). (default: cross-entropy, or the --init-from model's)")
    var loss: Loss?

    @Option(help: ArgumentHelp("Hidden layer widths, comma-separated; \"\" for none. (default: 128,128, or the --init-from model's)", valueName: "widths"))
    var hidden: String?

    @Option(help: "Hidden activation: relu, tanh or sigmoid. (default: relu, or the --init-from model's)")
    var activation: Activation?

    @Option(help: "Global mini-batch size n_b, split over the ranks. (default: 64)")
    var batchSize: Int?

    @Option(help: "Learning rate γ (the schedule's base). (default: 0.05 for sgd, 0.001 for adam and adamw, or the checkpoint's when resuming)")
    var learningRate: Double?

    @Option(help: "Passes over the training data, counted from the start of training. (default: 10, or the checkpoint's when resuming)")
    var epochs: Int?

    @Option(help: "Stop after this many steps in all.")
    var maxSteps: Int?

    @Option(help: "Seed for initialization and shuffling. (default: 0)")
    var seed: UInt64?

    @Flag(help: "Keep file order instead of shuffling each epoch.")
    var noShuffle = false

    @Option(help: "Arithmetic: float32 or float64. (default: float32)")
    var precision: Precision?

    @Flag(help: "Standardize features with the training data's mean and standard deviation (stored in the model).")
    var standardize = false

    @Option(help: ArgumentHelp("Start from this safetensors model (ours, or any with layers.{i}.weight/bias).", valueName: "file"))
    var initFrom: String?

    @Option(help: ArgumentHelp("Write the trained model here (safetensors).", valueName: "file"))
    var save: String?

    @Option(help: ArgumentHelp("Write per-epoch metrics here as JSON lines.", valueName: "file"))
    var metrics: String?

    @Option(help: "Check that all ranks hold identical parameters every this many steps (0: only at the end). (default: 1000)")
    var checksumEvery: Int?

    @Option(help: ArgumentHelp("Write a checkpoint here at the end of every epoch (atomically).", valueName: "file"))
    var checkpoint: String?

    @Option(help: ArgumentHelp("Also write the checkpoint every this many steps.", valueName: "steps"))
    var checkpointEvery: Int?

    @Option(help: ArgumentHelp("Continue from a checkpoint; --epochs and --max-steps count from the start of training.", valueName: "file"))
    var resume: String?

    @Option(help: "A non-finite loss or gradient: stop (at that step, before applying it) or skip-step (no update, go on).")
    var onNonfinite: TrainingOptions.NonFinitePolicy = .stop

    @Option(help: "How each step's gradient sums are combined: single (one MPI_Allreduce after backward) or overlap (one MPI_Iallreduce per layer as backward produces it). Same result.")
    var allreduce: AllreduceMode = .single

    @Option(help: "Update θ sharded across ranks: each rank applies the update to its slice of θ and keeps that slice's optimizer state, then the slices are gathered (ZeRO stage 1): on, off, or auto (on for Adam, AdamW and SGD with momentum). Same result; bit for bit at 2 ranks.")
    var shardedUpdate: ShardedUpdateMode = .auto

    @Option(help: ArgumentHelp("The CSV column of each row's weight: the loss is Σ wᵢ Lᵢ / Σ wᵢ (scikit-learn's sample_weight). The column is neither feature nor target; --test data with it is weighted too.", valueName: "column"))
    var sampleWeight: String?

    @Option(help: ArgumentHelp("The weights of .npy --train rows: a 1-D .npy, one per row.", valueName: "W.npy"))
    var trainWeights: String?

    @Option(help: ArgumentHelp("Class weights: balanced (n / (classes · count), counted on the training rows) or LABEL:WEIGHT,… (others 1); they multiply any sample weights.", valueName: "balanced|label:w,…"))
    var classWeight: String?

    @Option(help: ArgumentHelp("Inverted dropout on the hidden layers while training: one rate for all, or one per hidden layer (0.2 or 0.2,0.1). Masks depend on the seed, step, row and unit, never on the ranks.", valueName: "p[,p…]"))
    var dropout: String?

    @OptionGroup
    var reproducibility: ReproducibilityOptions

    @OptionGroup
    var optimization: OptimizationOptions

    @OptionGroup
    var watchdog: WatchdogOptions

    /// The options as given, checked once (the checks that need no file).
    func options() throws -> TrainingOptions {
        if train == nil, let trainLabels { throw InputError("--train-labels \(trainLabels) needs --train FEATURES.npy") }
        if test == nil, let testLabels { throw InputError("--test-labels \(testLabels) needs --test FEATURES.npy") }
        var options = TrainingOptions(train: try train.map { try DataSource($0, labels: trainLabels, labelsOption: "--train-labels") })
        options.test = try test.map { try DataSource($0, labels: testLabels, labelsOption: "--test-labels") }
        options.targetColumns = target.map { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }
        options.loss = loss
        options.hidden = try hidden.map(parseWidths)
        options.activation = activation
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.epochs = epochs
        options.maxSteps = maxSteps
        options.seed = seed
        options.shuffle = noShuffle ? false : nil
        options.precision = precision
        options.standardize = standardize ? true : nil
        options.initFrom = initFrom
        options.save = save
        options.metrics = metrics
        options.checksumEvery = checksumEvery
        options.checkpoint = checkpoint
        options.checkpointEvery = checkpointEvery
        options.resume = resume
        options.onNonFinite = onNonfinite
        options.allreduce = allreduce
        options.shardedUpdate = shardedUpdate
        options.dropout = try dropout.map { text in
            try text.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let rate = Double(String($0).trimmingWhitespace()) else { throw InputError("--dropout takes rates like 0.2 or 0.2,0.1 (got \(text))") }
                return rate
            }
        }
        options.sampleWeight = sampleWeight
        options.trainWeights = trainWeights
        options.classWeight = try classWeight.map(TrainingOptions.ClassWeight.init)
        options.reproducible = reproducibility.reproducible ? true : nil
        options.chunkRows = reproducibility.chunkRows
        optimization.apply(to: &options)
        try options.validate()
        return options
    }

    func run() throws {
        // A bad option is a usage error, reported before MPI starts.
        let options: TrainingOptions
        do { options = try self.options() } catch let error as InputError { throw ValidationError(error.message) }
        Interruption.install(printing: MLPCommand.launcherRank == 0)
        try withCommunicator(collectiveTimeout: watchdog.timeout) { communicator in
            try runTraining(options, communicator: communicator, output: standardOutput)
        }
    }
}

func parseWidths(_ text: String) throws -> [Int] {
    let trimmed = text.trimmingWhitespace()
    guard !trimmed.isEmpty else { return [] }
    return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map { part in
        guard let width = Int(part.trimmingWhitespace()), width > 0 else {
            throw InputError("--hidden: '\(part)' is not a positive integer (expected widths like 512,512, or \"\" for none)")
        }
        return width
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
