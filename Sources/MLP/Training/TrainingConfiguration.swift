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
        let model = checkpoint?.model ?? startingModel
        let modelPath = resume ?? initFrom ?? "the model"
        let loss = try agreeWithModel(loss, model?.loss, "--loss", modelPath, trainedWith: \.rawValue) ?? .crossEntropy
        let activation = try agreeWithModel(activation, model?.activation, "--activation", modelPath, trainedWith: \.rawValue) ?? .relu
        let fileHidden = model.map { Array($0.layerSizes.dropFirst().dropLast()) }
        if let hidden, let fileHidden, hidden != fileHidden {
            let has = fileHidden.isEmpty ? "which has no hidden layer" : "whose hidden layers are " + widths(fileHidden)
            throw InputError("--hidden \(widths(hidden)) disagrees with \(modelPath), \(has)")
        }

        guard let checkpoint, let path = resume else {
            guard let train else { throw InputError("--train is required (unless --resume gives it)") }
            let optimizer = optimizerSettings(basedOn: OptimizerSettings(kind: optimizer ?? .sgd))
            return TrainingConfiguration(
                train: train, test: test, targetColumns: targetColumns, standardize: standardize ?? false,
                loss: loss, activation: activation, hidden: fileHidden ?? hidden ?? Self.defaultHidden,
                precision: precision ?? .float32,
                batchSize: batchSize ?? Self.defaultBatchSize, epochs: epochs ?? Self.defaultEpochs, maxSteps: maxSteps,
                seed: seed ?? 0, shuffle: shuffle ?? true,
                learningRate: learningRate ?? optimizer.defaultLearningRate, optimizer: optimizer,
                schedule: scheduleSettings(basedOn: ScheduleSettings(kind: lrSchedule ?? .constant)),
                clipGradientNorm: clipGradientNorm, validationSplit: validationSplit, earlyStopping: earlyStopping,
                resume: nil, initFrom: initFrom, save: save, metrics: metrics, checkpoint: self.checkpoint,
                checkpointEvery: checkpointEvery ?? 0, checksumEvery: checksumEvery ?? Self.defaultChecksumEvery,
                onNonFinite: onNonFinite ?? .stop, allreduce: allreduce ?? .single)
        }

        let saved = checkpoint.settings
        func agree<Value: Equatable>(_ given: Value?, _ stored: Value, _ name: String, _ show: (Value) -> String) throws -> Value {
            if let given, given != stored {
                throw InputError("\(name) \(show(given)) differs from the checkpoint \(path), which was trained with \(show(stored)); resuming must not change it")
            }
            return stored
        }
        // The optimization settings' message names the stored value with its option.
        func agreeSetting<Value: Equatable>(_ given: Value?, _ stored: Value, _ name: String, _ show: (Value) -> String) throws -> Value {
            if let given, given != stored {
                throw InputError("\(name) differs from the checkpoint \(path), which was trained with \(name) \(show(stored)); resuming must not change it")
            }
            return stored
        }
        func number(_ value: Double?) -> String { value.map { "\($0)" } ?? "none" }
        func count(_ value: Int?) -> String { value.map { "\($0)" } ?? "none" }
        let labels = try agree(train.map(\.labels), saved.trainLabels, "--train-labels", { $0 ?? "(none)" })
        let trainText = try agree(train?.text, saved.train, "--train", { $0 })
        let storedTarget: [String]? = saved.targetColumns.isEmpty ? nil : saved.targetColumns
        let stored = saved.optimizer
        let optimizer = OptimizerSettings(
            kind: try agreeSetting(optimizer, stored.kind, "--optimizer", \.rawValue),
            momentum: try agreeSetting(momentum, stored.momentum, "--momentum", { "\($0)" }),
            nesterov: try agreeSetting(nesterov, stored.nesterov, "--nesterov", { "\($0)" }),
            beta1: try agreeSetting(beta1, stored.beta1, "--beta1", { "\($0)" }),
            beta2: try agreeSetting(beta2, stored.beta2, "--beta2", { "\($0)" }),
            epsilon: try agreeSetting(epsilon, stored.epsilon, "--eps", { "\($0)" }),
            weightDecay: try agreeSetting(weightDecay.map { Optional($0) }, stored.weightDecay, "--weight-decay", number))
        let schedule = ScheduleSettings(
            kind: try agreeSetting(lrSchedule, saved.schedule.kind, "--lr-schedule", \.rawValue),
            warmupSteps: try agreeSetting(warmupSteps, saved.schedule.warmupSteps, "--warmup-steps", { "\($0)" }),
            stepSize: try agreeSetting(stepSize.map { Optional($0) }, saved.schedule.stepSize, "--step-size", count),
            gamma: try agreeSetting(gamma.map { Optional($0) }, saved.schedule.gamma, "--gamma", number))
        return TrainingConfiguration(
            train: try DataSource(trainText, labels: labels),
            test: test,
            targetColumns: try agree(targetColumns, storedTarget, "--target", { $0?.joined(separator: ",") ?? "(the last column)" }),
            standardize: try agree(standardize, saved.standardize, "--standardize", { $0 ? "on" : "off" }),
            loss: loss, activation: activation, hidden: fileHidden ?? Self.defaultHidden,
            precision: try agree(precision, checkpoint.model.precision, "--precision", \.rawValue),
            batchSize: try agree(batchSize, saved.batchSize, "--batch-size", { "\($0)" }),
            epochs: epochs ?? saved.epochs, maxSteps: maxSteps,
            seed: try agree(seed, saved.seed, "--seed", { "\($0)" }),
            shuffle: try agree(shuffle, saved.shuffle, "shuffling", { $0 ? "on" : "off (--no-shuffle)" }),
            learningRate: learningRate ?? saved.learningRate, optimizer: optimizer, schedule: schedule,
            clipGradientNorm: try agreeSetting(clipGradientNorm.map { Optional($0) }, saved.clipGradientNorm, "--clip-grad-norm", number),
            validationSplit: try agreeSetting(validationSplit.map { Optional($0) }, saved.validationSplit, "--validation-split", number),
            earlyStopping: try agreeSetting(earlyStopping.map { Optional($0) }, saved.earlyStopping, "--early-stopping", count),
            resume: path, initFrom: nil, save: save, metrics: metrics, checkpoint: self.checkpoint,
            checkpointEvery: checkpointEvery ?? 0, checksumEvery: checksumEvery ?? Self.defaultChecksumEvery,
            onNonFinite: onNonFinite ?? .stop, allreduce: allreduce ?? .single)
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
