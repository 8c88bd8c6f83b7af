import Foundation

/// Everything one `mlp train` run uses, every choice decided: made once from the options the
/// user gave by `TrainingOptions.resolve(resuming:startingModel:)`. `Trainer`, the optimizer and
/// checkpoints take what they need from it. An optional here means "off", never "not decided".
public struct TrainingConfiguration: Sendable {
    public var train: DataSource
    public var test: DataSource?
    /// The CSV target columns; nil: the last column.
    public var targetColumns: [String]?
    public var standardize: Bool

    public var loss: Loss
    public var activation: Activation
    public var hidden: [Int]
    public var precision: Precision

    public var batchSize: Int
    /// Epochs and steps count from the start of training, so a resumed run ends where an
    /// uninterrupted one would.
    public var epochs: Int
    public var maxSteps: Int?
    public var seed: UInt64
    public var shuffle: Bool

    /// γ₀, the schedule's base rate.
    public var learningRate: Double
    public var optimizer: OptimizerSettings
    public var schedule: ScheduleSettings
    public var clipGradientNorm: Double?
    public var validationSplit: Double?
    /// The early-stopping patience in epochs (needs `validationSplit`).
    public var earlyStopping: Int?

    /// The model to start from: the checkpoint's (`resume`) or `initFrom`'s; nil: initialize.
    public var resume: String?
    public var initFrom: String?
    public var save: String?
    public var metrics: String?
    public var checkpoint: String?
    /// Also write the checkpoint every this many steps; 0: at epoch ends only.
    public var checkpointEvery: Int
    public var checksumEvery: Int
    public var onNonFinite: TrainingOptions.NonFinitePolicy
    /// How the steps combine the ranks' sums: `--allreduce`, `--sharded-update` and
    /// `--reproducible`'s chunk rows, resolved.
    public var exchange: GradientExchange
    /// `--allreduce shared` was given: a run that cannot have it says so (`auto` does not).
    public var requestsSharedMemory = false
    /// The dropout rate of each hidden layer; empty: none.
    public var dropout: [Double] = []
    /// The rows' weights: a CSV column, a .npy file, per class; nil: none.
    public var sampleWeight: String?
    public var trainWeights: String?
    public var classWeight: TrainingOptions.ClassWeight?
    /// The rows of `train` this run trains on, in file order (one fold of `mlp sweep`); nil: all.
    /// Everything computed from the training rows (the validation split, standardization,
    /// balanced class weights) sees these alone.
    public var trainRows: [Int]?
    /// Stop after this step, as `maxSteps` does, but with the learning-rate schedule of the whole
    /// run: a round of `mlp sweep --halving`, continued later from its checkpoint exactly.
    public var pauseAfterStep: Int?
    /// Write an epoch's checkpoint only once this many seconds have passed since the last one
    /// (and where the run stops); nil: every epoch. Set by `mlp sweep` for its folds.
    public var checkpointSeconds: Double?
    /// How a CSV table's columns are read: categorical columns, rare categories, missing values.
    public var table = TableOptions()

    /// S: mini-batches per epoch over `rows` training rows (the last one may be partial).
    public func stepsPerEpoch(trainingRows rows: Int) -> Int {
        EpochOrder.batchCount(rowCount: rows, batchSize: batchSize)
    }

    /// The learning rate of every step: S steps per epoch, T = epochs × S or `maxSteps` if fewer.
    public func learningRateSchedule(trainingRows rows: Int) -> LearningRateSchedule {
        let stepsPerEpoch = stepsPerEpoch(trainingRows: rows)
        return LearningRateSchedule(baseRate: learningRate, settings: schedule, stepsPerEpoch: stepsPerEpoch,
                                    totalSteps: min(epochs * stepsPerEpoch, maxSteps ?? Int.max))
    }
}

extension TrainingConfiguration {
    /// A new run's settings before any option is applied: the declared defaults
    /// (`TrainOptionTable`); what has none is off, or decided by `resolve` from other settings.
    static func defaults(train: DataSource) -> TrainingConfiguration {
        typealias Table = TrainOptionTable
        return TrainingConfiguration(
            train: train, test: nil, targetColumns: nil, standardize: Table.standardize.declaredDefault,
            loss: Table.loss.declaredDefault, activation: Table.activation.declaredDefault, hidden: Table.hidden.declaredDefault,
            precision: Table.precision.declaredDefault, batchSize: Table.batchSize.declaredDefault, epochs: Table.epochs.declaredDefault,
            maxSteps: nil, seed: Table.seed.declaredDefault, shuffle: Table.noShuffle.declaredDefault,
            learningRate: OptimizerSettings.defaults.defaultLearningRate, optimizer: OptimizerSettings(), schedule: ScheduleSettings(),
            clipGradientNorm: nil, validationSplit: nil, earlyStopping: nil,
            resume: nil, initFrom: nil, save: nil, metrics: nil, checkpoint: nil, checkpointEvery: 0,
            checksumEvery: Table.checksumEvery.declaredDefault, onNonFinite: Table.onNonFinite.declaredDefault,
            exchange: .allreduce)
    }
}

extension TrainingOptions {
    /// Decides every setting once: what was given, else the checkpoint's when resuming (given
    /// values must agree with it where they would silently change the run, see `ResumeRule`),
    /// else the starting model's for the model's shape (given values must agree with it), else
    /// the default. One path for every option: `TrainOptionTable` says where each one goes.
    ///
    /// - Parameters:
    ///   - checkpoint: the checkpoint read from `resume`.
    ///   - startingModel: the model read from `initFrom`.
    public func resolve(resuming checkpoint: Checkpoint?, startingModel: ModelFile?) throws -> TrainingConfiguration {
        let shape = try modelShape(of: checkpoint?.model ?? startingModel)
        let rates = try dropoutRates(hidden: shape.hidden)
        if classWeight != nil, shape.loss != .crossEntropy { throw InputError("--class-weight needs classes: --loss cross-entropy") }
        var configuration: TrainingConfiguration
        let chunkRows: Int?
        if let checkpoint, let path = resume {
            configuration = try given(over: stored(in: checkpoint, path: path), resuming: path)
            let saved = checkpoint.settings
            if let rates { try agree(rates, saved.dropout, show: TrainOptionTable.dropout.show, checkpoint: path) }
            configuration.dropout = saved.dropout
            if reproducible == true {
                let rows = self.chunkRows ?? saved.chunkRows ?? Self.defaultChunkRows(batchSize: saved.batchSize)
                try agree(rows, saved.chunkRows, show: TrainOptionTable.chunkRows.show, checkpoint: path)
            }
            chunkRows = saved.chunkRows
        } else {
            guard let train else { preconditionFailure("validate() refuses a new run without --train") }
            configuration = try given(over: .defaults(train: train), resuming: nil)
            configuration.learningRate = learningRate ?? configuration.optimizer.defaultLearningRate
            configuration.dropout = rates ?? []
            chunkRows = reproducible == true ? self.chunkRows ?? Self.defaultChunkRows(batchSize: configuration.batchSize) : nil
        }
        (configuration.loss, configuration.activation, configuration.hidden) = shape
        if checkpoint == nil, let stored = startingModel?.preprocessing?.options {
            try agreeWithStartingTable(stored)
            configuration.table = stored
        }
        configuration.requestsSharedMemory = allreduce == .shared
        configuration.exchange = try GradientExchange(allreduce: allreduce ?? TrainOptionTable.allreduce.declaredDefault,
                                                      sharded: shardedUpdate ?? TrainOptionTable.shardedUpdate.declaredDefault,
                                                      chunkRows: chunkRows, optimizer: configuration.optimizer)
        return configuration
    }

    /// `base` with every option given put in its place; resuming from `checkpoint`, one whose
    /// `ResumeRule` is `mustAgree` must equal `base`'s (the checkpoint's) value.
    func given(over base: TrainingConfiguration, resuming checkpoint: String?) throws -> TrainingConfiguration {
        var configuration = base
        for option in TrainOptionTable.all { try option.apply(self, &configuration, checkpoint) }
        return configuration
    }

    /// The checkpoint's settings over the defaults: what a resumed run starts from.
    private func stored(in checkpoint: Checkpoint, path: String) throws -> TrainingConfiguration {
        let saved = checkpoint.settings
        var configuration = TrainingConfiguration.defaults(train: try train ?? storedTrainingData(saved, checkpointPath: path))
        for option in TrainOptionTable.all { option.restore(saved, &configuration) }
        configuration.targetColumns = saved.targetColumns.isEmpty ? nil : saved.targetColumns
        configuration.precision = checkpoint.model.precision
        configuration.resume = path
        return configuration
    }

    /// The table options given must be those the `--init-from` model's preprocessing was fitted with:
    /// its columns are read as it reads them.
    private func agreeWithStartingTable(_ stored: TableOptions) throws {
        func check<Value: OptionValue>(_ option: TrainOption<Value>, _ given: Value?, _ fitted: Value) throws {
            guard let given, given != fitted else { return }
            throw InputError("\(option.show(given)) disagrees with \(initFrom ?? "the model"), whose table was read with "
                + option.show(fitted))
        }
        try check(TrainOptionTable.categorical, categorical, stored.categorical)
        try check(TrainOptionTable.maxCategories, maxCategories, stored.maxCategories ?? 0)
        try check(TrainOptionTable.minCategoryCount, minCategoryCount, stored.minCategoryCount ?? 0)
        try check(TrainOptionTable.missingValues, missingValues, stored.missingValues)
        try check(TrainOptionTable.dropMissingTarget, dropMissingTarget, stored.dropMissingTarget)
    }

    /// `--dropout` as one rate per hidden layer: one value for all of them, or one each.
    private func dropoutRates(hidden: [Int]) throws -> [Double]? {
        guard let dropout else { return nil }
        if hidden.isEmpty { throw InputError("--dropout needs a hidden layer (it acts on hidden layers' outputs)") }
        if dropout.count == 1 { return dropout.allSatisfy { $0 == 0 } ? [] : Array(repeating: dropout[0], count: hidden.count) }
        guard dropout.count == hidden.count else {
            throw InputError("--dropout gives \(dropout.count) rates for \(hidden.count) hidden layers: "
                + "give one rate, or one per hidden layer")
        }
        return dropout.allSatisfy { $0 == 0 } ? [] : dropout
    }

    /// Loss, activation and hidden widths: the starting model's (given values must agree), else
    /// what was given, else the defaults.
    private func modelShape(of model: ModelFile?) throws -> (loss: Loss, activation: Activation, hidden: [Int]) {
        let path = resume ?? initFrom ?? "the model"
        let loss = try agreeWithModel(loss, model?.loss, "--loss", path, trainedWith: \.rawValue) ?? TrainOptionTable.loss.declaredDefault
        let activation = try agreeWithModel(activation, model?.activation, "--activation", path, trainedWith: \.rawValue)
            ?? TrainOptionTable.activation.declaredDefault
        let fileHidden = model.map { Array($0.layerSizes.dropFirst().dropLast()) }
        if let hidden, let fileHidden, hidden != fileHidden {
            let has = fileHidden.isEmpty ? "which has no hidden layer" : "whose hidden layers are " + widths(fileHidden)
            throw InputError("--hidden \(widths(hidden)) disagrees with \(path), \(has)")
        }
        return (loss, activation, fileHidden ?? hidden ?? TrainOptionTable.hidden.declaredDefault)
    }

    /// The training data a checkpoint names, when `--train` is not given: its paths as given to
    /// the run that wrote it. A relative path means the directory that run started in; from
    /// another one it names nothing, and the message says what to pass. (A `--train` given when
    /// resuming is taken as it is: `TrainingData` compares its rows and fingerprint with the
    /// checkpoint's, so the data must be the same, whatever its path is called.)
    private func storedTrainingData(_ saved: Checkpoint.RunSettings, checkpointPath: String) throws -> DataSource {
        let source = try DataSource(saved.train, labels: saved.trainLabels)
        let paths: [String]
        switch source {
        case .csv(let path): paths = [path]
        case .mnist(let directory): paths = [directory]
        case .npy(let features, let labels): paths = [features, labels]
        case .spirals: paths = []
        }
        if let missing = paths.first(where: { access($0, F_OK) != 0 }) {
            let relative = missing.hasPrefix("/") ? "" : " (relative to the directory that run started in, "
                + "not \(FileManager.default.currentDirectoryPath))"
            let labels = source.labels == nil ? "" : " --train-labels LABELS.npy"
            throw InputError("\(checkpointPath) was trained on \(missing)\(relative), which is not found: "
                + "to resume on the same data from here, give its path: --train PATH\(labels)")
        }
        return source
    }

    /// The command line's value, which must agree with the model file's where both are given.
    private func agreeWithModel<Value: Equatable>(_ option: Value?, _ fromFile: Value?, _ name: String, _ path: String,
                                         trainedWith show: (Value) -> String) throws -> Value? {
        if let option, let fromFile, option != fromFile {
            throw InputError("\(name) \(show(option)) disagrees with \(path), which was trained with \(show(fromFile))")
        }
        return option ?? fromFile
    }
}

func widths(_ values: [Int]) -> String { values.map(String.init).joined(separator: ",") }
