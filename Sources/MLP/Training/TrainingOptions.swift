/// Everything `mlp train` is asked to do. Optional values not given take their default, or
/// when resuming, the checkpoint's (see `resolved(resuming:)`).
public struct TrainingOptions: Sendable {
    /// nil only when resuming: the checkpoint's data.
    public var train: DataSource?
    public var test: DataSource?
    public var targetColumns: [String]?
    /// nil: from the starting model's metadata, else cross-entropy.
    public var loss: Loss?
    /// Hidden layer widths; nil: from the starting model, else [128, 128].
    public var hidden: [Int]?
    /// nil: from the starting model's metadata, else relu.
    public var activation: Activation?
    public var batchSize: Int?
    /// nil: the checkpoint's when resuming, else the optimizer's default (0.05 for sgd, 0.001 for adam/adamw).
    public var learningRate: Double?
    /// nil: the checkpoint's when resuming, else 10.
    public var epochs: Int?
    public var maxSteps: Int?
    public var seed: UInt64?
    public var shuffle: Bool?
    public var precision: Precision?
    /// Standardize features with the training data's mean and standard deviation.
    public var standardize: Bool?
    public var initFrom: String?
    public var save: String?
    public var metrics: String?
    public var checksumEvery = 1000
    /// Write a checkpoint here at the end of every epoch (and every `checkpointEvery` steps).
    public var checkpoint: String?
    public var checkpointEvery: Int?
    /// Continue from this checkpoint.
    public var resume: String?
    /// What a non-finite loss or gradient does.
    public var onNonFinite = NonFinitePolicy.stop
    /// How each step's gradient sums are combined (the result is the same).
    public var allreduce = AllreduceMode.single

    public enum NonFinitePolicy: String, CaseIterable, Sendable {
        /// Stop training at that step, before applying it (the default).
        case stop
        /// Skip the step (no update) and go on.
        case skipStep = "skip-step"
    }
    /// `--optimizer` and its hyperparameters; `--lr-schedule` and its; `--clip-grad-norm`,
    /// `--validation-split`, `--early-stopping` (see TrainingOptions+Optimization.swift).
    public var optimizer = OptimizerSettings()
    public var schedule = ScheduleSettings()
    public var clipGradientNorm: Double?
    public var validationSplit: Double?
    public var earlyStopping: Int?
    /// Which of the settings just above the command line gave explicitly (their option names):
    /// when resuming, only these are compared with the checkpoint; the rest come from it.
    public var optimizationGiven: Set<String> = []

    public static let defaultHidden = [128, 128]
    public static let defaultBatchSize = 64
    public static let defaultEpochs = 10

    public init(train: DataSource?) { self.train = train }

    /// The checks that need no data: they fail before any work.
    public func validate() throws {
        if let batchSize, batchSize <= 0 { throw InputError("--batch-size must be at least 1 (got \(batchSize))") }
        if let learningRate, !(learningRate > 0 && learningRate.isFinite) {
            throw InputError("--learning-rate must be a positive number (got \(learningRate))")
        }
        if let epochs, epochs <= 0 { throw InputError("--epochs must be at least 1 (got \(epochs))") }
        if let maxSteps, maxSteps <= 0 { throw InputError("--max-steps must be at least 1 (got \(maxSteps))") }
        if let hidden, let bad = hidden.first(where: { $0 <= 0 }) { throw InputError("--hidden widths must be positive (got \(bad))") }
        guard checksumEvery >= 0 else { throw InputError("--checksum-every must be 0 or more (got \(checksumEvery))") }
        if let checkpointEvery {
            guard checkpointEvery > 0 else { throw InputError("--checkpoint-every must be at least 1 (got \(checkpointEvery))") }
            guard checkpoint != nil else { throw InputError("--checkpoint-every needs --checkpoint FILE") }
        }
        guard train != nil || resume != nil else { throw InputError("--train is required (unless --resume gives it)") }
        if resume != nil, initFrom != nil { throw InputError("--resume and --init-from exclude each other: a checkpoint already holds the model") }
        try validateOptimization()
    }

    /// These options with every optional setting decided: what was given, else the
    /// checkpoint's when resuming (given values must agree with it: they would silently change
    /// the run), else the default. The learning rate, epochs, steps, test data and outputs may change.
    public func resolved(resuming checkpoint: Checkpoint?) throws -> TrainingOptions {
        var options = self
        guard let checkpoint, let path = resume else {
            options.batchSize = batchSize ?? Self.defaultBatchSize
            options.learningRate = learningRate ?? optimizer.defaultLearningRate
            options.epochs = epochs ?? Self.defaultEpochs
            options.seed = seed ?? 0
            options.shuffle = shuffle ?? true
            options.precision = precision ?? .float32
            options.standardize = standardize ?? false
            return options
        }
        let saved = checkpoint.settings
        options.learningRate = learningRate ?? saved.learningRate
        options.epochs = epochs ?? saved.epochs
        func agree<Value: Equatable>(_ given: Value?, _ stored: Value, _ name: String, _ show: (Value) -> String) throws -> Value {
            if let given, given != stored {
                throw InputError("\(name) \(show(given)) differs from the checkpoint \(path), which was trained with \(show(stored)); resuming must not change it")
            }
            return stored
        }
        let labels = try agree(train.map { $0.labels }, saved.trainLabels, "--train-labels", { $0 ?? "(none)" })
        options.train = try DataSource(try agree(train?.text, saved.train, "--train", { $0 }), labels: labels)
        let storedTarget: [String]? = saved.targetColumns.isEmpty ? nil : saved.targetColumns
        options.targetColumns = try agree(targetColumns, storedTarget, "--target", { $0?.joined(separator: ",") ?? "(the last column)" })
        options.batchSize = try agree(batchSize, saved.batchSize, "--batch-size", { "\($0)" })
        options.seed = try agree(seed, saved.seed, "--seed", { "\($0)" })
        options.shuffle = try agree(shuffle, saved.shuffle, "shuffling", { $0 ? "on" : "off (--no-shuffle)" })
        options.precision = try agree(precision, checkpoint.model.precision, "--precision", { $0.rawValue })
        options.standardize = try agree(standardize, saved.standardize, "--standardize", { $0 ? "on" : "off" })
        // The optimizer, schedule, clipping and validation come from the checkpoint; those given must agree.
        let stored = saved.optimization
        for name in optimizationGiven.sorted() where !stored.agrees(with: self, on: name) {
            throw InputError("\(name) differs from the checkpoint \(path), which was trained with \(stored.describe(name)); resuming must not change it")
        }
        options.optimizer = stored.optimizer
        options.schedule = stored.schedule
        options.clipGradientNorm = stored.clipGradientNorm
        options.validationSplit = stored.validationSplit
        options.earlyStopping = stored.earlyStopping
        return options
    }
}
