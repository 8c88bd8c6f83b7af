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
    public var allreduce: AllreduceMode
    /// `--sharded-update`, resolved (`ShardedUpdateMode.resolved`).
    public var shardedUpdate: Bool
    /// `--reproducible`'s chunk rows (`ChunkGrid`); nil: off.
    public var chunkRows: Int?
    /// The dropout rate of each hidden layer; empty: none.
    public var dropout: [Double] = []
    /// The rows' weights: a CSV column, a .npy file, per class; nil: none.
    public var sampleWeight: String?
    public var trainWeights: String?
    public var classWeight: TrainingOptions.ClassWeight?

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

extension TrainingOptions {
    /// Decides every setting once: what was given, else the checkpoint's when resuming (given
    /// values must agree with it: they would silently change the run; the learning rate,
    /// epochs, steps, test data and outputs may change), else the starting model's for the
    /// model's shape (given values must agree with it), else the default.
    ///
    /// - Parameters:
    ///   - checkpoint: the checkpoint read from `resume`.
    ///   - startingModel: the model read from `initFrom`.
    public func resolve(resuming checkpoint: Checkpoint?, startingModel: ModelFile?) throws -> TrainingConfiguration {
        let shape = try modelShape(of: checkpoint?.model ?? startingModel)
        let rates = try dropoutRates(hidden: shape.hidden)
        if classWeight != nil, shape.loss != .crossEntropy { throw InputError("--class-weight needs classes: --loss cross-entropy") }
        guard let checkpoint, let path = resume else {
            var configuration = try fresh(shape)
            configuration.dropout = rates ?? []
            (configuration.sampleWeight, configuration.trainWeights, configuration.classWeight) = (sampleWeight, trainWeights, classWeight)
            return configuration
        }
        var configuration = try resumed(from: checkpoint, path: path, shape)
        let stored = CheckpointAgreement(path: path), saved = checkpoint.settings
        configuration.dropout = try stored.setting(
            rates, saved.dropout, "--dropout", { $0.isEmpty ? "0" : $0.map { "\($0)" }.joined(separator: ",") })
        configuration.sampleWeight = try stored.setting(sampleWeight.map { Optional($0) }, saved.sampleWeight, "--sample-weight", stored.text)
        configuration.trainWeights = trainWeights ?? saved.trainWeights
        configuration.classWeight = try stored.setting(classWeight.map { Optional($0) }, saved.classWeight, "--class-weight", stored.text)
        return configuration
    }

    /// `--dropout` as one rate per hidden layer: one value for all of them, or one each.
    private func dropoutRates(hidden: [Int]) throws -> [Double]? {
        guard let dropout else { return nil }
        if hidden.isEmpty { throw InputError("--dropout needs a hidden layer (it acts on hidden layers' outputs)") }
        if dropout.count == 1 { return dropout.allSatisfy { $0 == 0 } ? [] : Array(repeating: dropout[0], count: hidden.count) }
        guard dropout.count == hidden.count else {
            throw InputError("--dropout gives \(dropout.count) rates for \(hidden.count) hidden layers: give one rate, or one per hidden layer")
        }
        return dropout.allSatisfy { $0 == 0 } ? [] : dropout
    }

    /// Loss, activation and hidden widths: the starting model's (given values must agree), else
    /// what was given, else the defaults.
    private func modelShape(of model: ModelFile?) throws -> (loss: Loss, activation: Activation, hidden: [Int]) {
        let path = resume ?? initFrom ?? "the model"
        let loss = try agreeWithModel(loss, model?.loss, "--loss", path, trainedWith: \.rawValue) ?? .crossEntropy
        let activation = try agreeWithModel(activation, model?.activation, "--activation", path, trainedWith: \.rawValue) ?? .relu
        let fileHidden = model.map { Array($0.layerSizes.dropFirst().dropLast()) }
        if let hidden, let fileHidden, hidden != fileHidden {
            let has = fileHidden.isEmpty ? "which has no hidden layer" : "whose hidden layers are " + widths(fileHidden)
            throw InputError("--hidden \(widths(hidden)) disagrees with \(path), \(has)")
        }
        return (loss, activation, fileHidden ?? hidden ?? Self.defaultHidden)
    }

    /// A new run: what was given, else the defaults.
    private func fresh(_ shape: (loss: Loss, activation: Activation, hidden: [Int])) throws -> TrainingConfiguration {
        guard let train else { throw InputError("--train is required (unless --resume gives it)") }
        let optimizer = optimizerSettings(basedOn: OptimizerSettings(kind: optimizer ?? .sgd))
        return TrainingConfiguration(
            train: train, test: test, targetColumns: targetColumns, standardize: standardize ?? false,
            loss: shape.loss, activation: shape.activation, hidden: shape.hidden, precision: precision ?? .float32,
            batchSize: batchSize ?? Self.defaultBatchSize, epochs: epochs ?? Self.defaultEpochs, maxSteps: maxSteps,
            seed: seed ?? 0, shuffle: shuffle ?? true,
            learningRate: learningRate ?? optimizer.defaultLearningRate, optimizer: optimizer,
            schedule: scheduleSettings(basedOn: ScheduleSettings(kind: lrSchedule ?? .constant)),
            clipGradientNorm: clipGradientNorm, validationSplit: validationSplit, earlyStopping: earlyStopping,
            resume: nil, initFrom: initFrom, save: save, metrics: metrics, checkpoint: checkpoint,
            checkpointEvery: checkpointEvery ?? 0, checksumEvery: checksumEvery ?? Self.defaultChecksumEvery,
            onNonFinite: onNonFinite ?? .stop, allreduce: allreduce ?? .single,
            shardedUpdate: try GradientExchange(allreduce: allreduce ?? .single, sharded: shardedUpdate ?? .auto, chunkRows: nil, optimizer: optimizer).isSharded,
            chunkRows: reproducible == true ? chunkRows ?? Self.defaultChunkRows(batchSize: batchSize ?? Self.defaultBatchSize) : nil)
    }

    /// A resumed run: the checkpoint's settings, which given values must agree with; the
    /// learning rate, epochs, steps, test data and outputs may change.
    private func resumed(from checkpoint: Checkpoint, path: String,
                         _ shape: (loss: Loss, activation: Activation, hidden: [Int])) throws -> TrainingConfiguration {
        let saved = checkpoint.settings, stored = CheckpointAgreement(path: path)
        let optimizer = OptimizerSettings(
            kind: try stored.setting(optimizer, saved.optimizer.kind, "--optimizer", \.rawValue),
            momentum: try stored.setting(momentum, saved.optimizer.momentum, "--momentum", { "\($0)" }),
            nesterov: try stored.setting(nesterov, saved.optimizer.nesterov, "--nesterov", { "\($0)" }),
            beta1: try stored.setting(beta1, saved.optimizer.beta1, "--beta1", { "\($0)" }),
            beta2: try stored.setting(beta2, saved.optimizer.beta2, "--beta2", { "\($0)" }),
            epsilon: try stored.setting(epsilon, saved.optimizer.epsilon, "--eps", { "\($0)" }),
            weightDecay: try stored.setting(weightDecay.map { Optional($0) }, saved.optimizer.weightDecay, "--weight-decay", stored.text))
        let schedule = ScheduleSettings(
            kind: try stored.setting(lrSchedule, saved.schedule.kind, "--lr-schedule", \.rawValue),
            warmupSteps: try stored.setting(warmupSteps, saved.schedule.warmupSteps, "--warmup-steps", { "\($0)" }),
            stepSize: try stored.setting(stepSize.map { Optional($0) }, saved.schedule.stepSize, "--step-size", stored.text),
            gamma: try stored.setting(gamma.map { Optional($0) }, saved.schedule.gamma, "--gamma", stored.text),
            plateauPatience: try stored.setting(plateauPatience.map { Optional($0) }, saved.schedule.plateauPatience, "--plateau-patience", stored.text),
            plateauFactor: try stored.setting(plateauFactor.map { Optional($0) }, saved.schedule.plateauFactor, "--plateau-factor", stored.text),
            plateauThreshold: try stored.setting(plateauThreshold.map { Optional($0) }, saved.schedule.plateauThreshold, "--plateau-threshold", stored.text),
            minimumRate: try stored.setting(minimumRate.map { Optional($0) }, saved.schedule.minimumRate, "--min-lr", stored.text))
        let storedTarget: [String]? = saved.targetColumns.isEmpty ? nil : saved.targetColumns
        return TrainingConfiguration(
            train: try train ?? storedTrainingData(saved, checkpointPath: path), test: test,
            targetColumns: try stored.same(targetColumns, storedTarget, "--target", { $0?.joined(separator: ",") ?? "(the last column)" }),
            standardize: try stored.same(standardize, saved.standardize, "--standardize", { $0 ? "on" : "off" }),
            loss: shape.loss, activation: shape.activation, hidden: shape.hidden,
            precision: try stored.same(precision, checkpoint.model.precision, "--precision", \.rawValue),
            batchSize: try stored.same(batchSize, saved.batchSize, "--batch-size", { "\($0)" }),
            epochs: epochs ?? saved.epochs, maxSteps: maxSteps,
            seed: try stored.same(seed, saved.seed, "--seed", { "\($0)" }),
            shuffle: try stored.same(shuffle, saved.shuffle, "shuffling", { $0 ? "on" : "off (--no-shuffle)" }),
            learningRate: learningRate ?? saved.learningRate, optimizer: optimizer, schedule: schedule,
            clipGradientNorm: try stored.setting(clipGradientNorm.map { Optional($0) }, saved.clipGradientNorm, "--clip-grad-norm", stored.text),
            validationSplit: try stored.setting(validationSplit.map { Optional($0) }, saved.validationSplit, "--validation-split", stored.text),
            earlyStopping: try stored.setting(earlyStopping.map { Optional($0) }, saved.earlyStopping, "--early-stopping", stored.text),
            resume: path, initFrom: nil, save: save, metrics: metrics, checkpoint: self.checkpoint,
            checkpointEvery: checkpointEvery ?? 0, checksumEvery: checksumEvery ?? Self.defaultChecksumEvery,
            onNonFinite: onNonFinite ?? .stop, allreduce: allreduce ?? .single,
            shardedUpdate: try GradientExchange(allreduce: allreduce ?? .single, sharded: shardedUpdate ?? .auto, chunkRows: nil, optimizer: optimizer).isSharded,
            chunkRows: try stored.setting(reproducible == true ? Optional(chunkRows ?? saved.chunkRows ?? Self.defaultChunkRows(batchSize: saved.batchSize)) : nil,
                                          saved.chunkRows, "--reproducible --chunk-rows", stored.text))
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
            let relative = missing.hasPrefix("/") ? "" : " (relative to the directory that run started in, not \(FileManager.default.currentDirectoryPath))"
            let labels = source.labels == nil ? "" : " --train-labels LABELS.npy"
            throw InputError("\(checkpointPath) was trained on \(missing)\(relative), which is not found: to resume on the same data from here, give its path: --train PATH\(labels)")
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

/// A given value against the checkpoint's: resuming must not change what decides the run.
private struct CheckpointAgreement {
    let path: String

    /// The stored value; a given value that differs is refused.
    func same<Value: Equatable>(_ given: Value?, _ stored: Value, _ name: String, _ show: (Value) -> String) throws -> Value {
        if let given, given != stored {
            throw InputError("\(name) \(show(given)) differs from the checkpoint \(path), which was trained with \(show(stored)); resuming must not change it")
        }
        return stored
    }

    /// `same` for an optimization setting, whose message names the stored value with its option.
    func setting<Value: Equatable>(_ given: Value?, _ stored: Value, _ name: String, _ show: (Value) -> String) throws -> Value {
        if let given, given != stored {
            throw InputError("\(name) differs from the checkpoint \(path), which was trained with \(name) \(show(stored)); resuming must not change it")
        }
        return stored
    }

    /// An optional setting as the message shows it.
    func text<Value>(_ value: Value?) -> String { value.map { "\($0)" } ?? "none" }
}

func widths(_ values: [Int]) -> String { values.map(String.init).joined(separator: ",") }
