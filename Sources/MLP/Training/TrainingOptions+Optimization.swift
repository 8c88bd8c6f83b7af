/// The optimizer, schedule, clipping and validation options of `mlp train`: their checks, and
/// what `TrainingRun` builds from them.

extension TrainingOptions {
    /// The checks that need no data, for the options of this file.
    func validateOptimization() throws {
        try optimizer.validate()
        try schedule.validate()
        if let clipGradientNorm, !(clipGradientNorm > 0 && clipGradientNorm.isFinite) {
            throw InputError("--clip-grad-norm must be a positive number (got \(clipGradientNorm))")
        }
        if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
            throw InputError("--validation-split must be a fraction strictly between 0 and 1 (got \(validationSplit))")
        }
        if let earlyStopping {
            guard earlyStopping >= 1 else { throw InputError("--early-stopping must be at least 1 epoch (got \(earlyStopping))") }
            guard validationSplit != nil else { throw InputError("--early-stopping needs --validation-split (it watches the validation loss)") }
        }
    }
}

extension TrainingRun {
    /// The training rows and, with `--validation-split`, the held-out ones.
    func holdOutValidation(_ data: Dataset<T>) throws -> (Dataset<T>, Dataset<T>?) {
        guard let fraction = options.validationSplit else { return (data, nil) }
        let split = try data.holdingOut(fraction: fraction, seed: options.seed!)
        return (split.training, split.validation)
    }

    /// The learning rate of every step for this run: S steps per epoch, T = epochs × S or
    /// `--max-steps` if fewer.
    func schedule(trainingRows: Int) -> LearningRateSchedule {
        let stepsPerEpoch = EpochOrder.batchCount(rowCount: trainingRows, batchSize: options.batchSize!)
        let totalSteps = min(options.epochs! * stepsPerEpoch, options.maxSteps ?? Int.max)
        return LearningRateSchedule(baseRate: options.learningRate!, settings: options.schedule,
                                    stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
    }

    /// The rest of the first line: optimizer, learning rate and schedule, validation.
    func describeOptimization(validation: Dataset<T>?) -> String {
        let settings = options.optimizer
        var parts: [String] = []
        switch settings.kind {
        case .sgd:
            var sgd = "sgd"
            if settings.momentum != 0 { sgd += " momentum \(settings.momentum)\(settings.nesterov ? " nesterov" : "")" }
            parts.append(sgd)
        case .adam, .adamw:
            parts.append("\(settings.kind.rawValue) betas (\(settings.beta1), \(settings.beta2)) eps \(settings.epsilon)")
        }
        if settings.effectiveWeightDecay != 0 { parts[0] += " weight decay \(settings.effectiveWeightDecay)" }
        var rate = "learning rate \(options.learningRate!)"
        switch options.schedule.kind {
        case .constant: break
        case .step: rate += ", ×\(options.schedule.gamma ?? 0.1) every \(options.schedule.stepSize!) epochs"
        case .cosine: rate += ", cosine to 0"
        }
        if options.schedule.warmupSteps > 0 { rate += ", warm-up \(options.schedule.warmupSteps) steps" }
        parts.append(rate)
        if let clip = options.clipGradientNorm { parts.append("gradient norm clipped at \(clip)") }
        if let validation {
            var held = "\(validation.rowCount) validation rows held out"
            if let patience = options.earlyStopping { held += ", early stopping after \(patience) epochs without improvement" }
            parts.append(held)
        }
        return "\n" + parts.joined(separator: "; ")
    }

    func describe(_ earlyStopping: EarlyStopping<T>, lastEpoch: Int) -> String {
        guard let best = earlyStopping.bestEpoch else { return "early stopping: no epoch completed" }
        var line = earlyStopping.epochsWithoutImprovement >= earlyStopping.patience
            ? "early stopping after epoch \(lastEpoch): no improvement for \(earlyStopping.patience) epochs; "
            : "early stopping: "
        line += "best epoch \(best) (validation loss \(fixed(earlyStopping.bestLoss, 4)))"
        if options.save != nil { line += ", whose parameters --save writes" }
        return line
    }
}

/// The optimization settings a run was trained with, as a checkpoint keeps them.
public struct OptimizationSettings: Equatable, Sendable {
    public var optimizer: OptimizerSettings
    public var schedule: ScheduleSettings
    public var clipGradientNorm: Double?
    public var validationSplit: Double?
    public var earlyStopping: Int?

    public init(_ options: TrainingOptions) {
        optimizer = options.optimizer
        schedule = options.schedule
        clipGradientNorm = options.clipGradientNorm
        validationSplit = options.validationSplit
        earlyStopping = options.earlyStopping
    }

    /// Option name → the value as text, for every option these settings cover.
    var values: [String: String] {
        func text(_ value: Double?) -> String { value.map { "\($0)" } ?? "none" }
        return ["--optimizer": optimizer.kind.rawValue, "--momentum": "\(optimizer.momentum)", "--nesterov": "\(optimizer.nesterov)",
                "--beta1": "\(optimizer.beta1)", "--beta2": "\(optimizer.beta2)", "--eps": "\(optimizer.epsilon)",
                "--weight-decay": text(optimizer.weightDecay), "--lr-schedule": schedule.kind.rawValue,
                "--warmup-steps": "\(schedule.warmupSteps)", "--step-size": schedule.stepSize.map { "\($0)" } ?? "none",
                "--gamma": text(schedule.gamma), "--clip-grad-norm": text(clipGradientNorm),
                "--validation-split": text(validationSplit), "--early-stopping": earlyStopping.map { "\($0)" } ?? "none"]
    }

    func agrees(with options: TrainingOptions, on name: String) -> Bool {
        values[name] == OptimizationSettings(options).values[name]
    }

    func describe(_ name: String) -> String { "\(name) \(values[name] ?? "?")" }
}
