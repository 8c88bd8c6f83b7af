private typealias Key = CheckpointSchema.Key

/// The update rule, the learning-rate schedule, gradient clipping, validation and early
/// stopping: stored in checkpoints, so resuming must agree with all but the learning rate.
// The help strings are the contract of `mlp train --help`; one declaration per option, as the command line has one property.
extension TrainOptionTable {
    public static let learningRate = TrainOption<Double>(
        "--learning-rate",
        "Learning rate γ (the schedule's base). (default: 0.05 for sgd, 0.001 for adam and adamw, or the checkpoint's when resuming)",
        range: .positive, given: \.learningRate, setting: .value(\.learningRate, stored: \.learningRate),
        checkpointKey: Key.learningRate, resume: .mayChange)
    public static let optimizer = TrainOption<OptimizerSettings.Kind>(
        "--optimizer", "Update rule: sgd, adam or adamw (PyTorch's torch.optim.SGD, Adam, AdamW).", default: .sgd,
        given: \.optimizer, setting: .value(\.optimizer.kind, stored: \.optimizer.kind), checkpointKey: Key.optimizer, resume: .mustAgree)
    public static let momentum = TrainOption<Double>(
        "--momentum", "SGD momentum μ.", valueName: "μ", default: OptimizerSettings.defaults.momentum, range: .nonNegative,
        given: \.momentum, setting: .value(\.optimizer.momentum, stored: \.optimizer.momentum), checkpointKey: Key.momentum,
        resume: .mustAgree)
    public static let nesterov = TrainOption<Bool>(
        "--nesterov", "Nesterov momentum for SGD (needs --momentum > 0).", default: OptimizerSettings.defaults.nesterov,
        given: \.nesterov, setting: .value(\.optimizer.nesterov, stored: \.optimizer.nesterov), checkpointKey: Key.nesterov,
        resume: .mustAgree, show: flag("--nesterov"))
    public static let beta1 = TrainOption<Double>(
        "--beta1", "Adam/AdamW β₁.", valueName: "β₁", default: OptimizerSettings.defaults.beta1, range: .fraction,
        given: \.beta1, setting: .value(\.optimizer.beta1, stored: \.optimizer.beta1), checkpointKey: Key.beta1, resume: .mustAgree)
    public static let beta2 = TrainOption<Double>(
        "--beta2", "Adam/AdamW β₂.", valueName: "β₂", default: OptimizerSettings.defaults.beta2, range: .fraction,
        given: \.beta2, setting: .value(\.optimizer.beta2, stored: \.optimizer.beta2), checkpointKey: Key.beta2, resume: .mustAgree)
    public static let eps = TrainOption<Double>(
        "--eps", "Adam/AdamW ε.", valueName: "ε", default: OptimizerSettings.defaults.epsilon, range: .positive,
        given: \.epsilon, setting: .value(\.optimizer.epsilon, stored: \.optimizer.epsilon), checkpointKey: Key.epsilon,
        resume: .mustAgree)
    public static let weightDecay = TrainOption<Double>(
        "--weight-decay", "Weight decay λ: L2 added to the gradient for sgd and adam, decoupled for adamw. (default: 0; 0.01 for adamw)",
        valueName: "λ", range: .nonNegative,
        given: \.weightDecay, setting: .optional(\.optimizer.weightDecay, stored: \.optimizer.weightDecay),
        checkpointKey: Key.weightDecay, resume: .mustAgree)

    public static let lrSchedule = TrainOption<ScheduleSettings.Kind>(
        "--lr-schedule",
        """
            Learning-rate schedule: constant, step (×gamma every --step-size epochs), cosine (to 0 at the last step) or plateau \
            (×--plateau-factor when the validation loss, else the training loss, has not improved for --plateau-patience \
            epochs).
            """,
        default: .constant, given: \.lrSchedule, setting: .value(\.schedule.kind, stored: \.schedule.kind), checkpointKey: Key.schedule,
        resume: .mustAgree)
    public static let warmupSteps = TrainOption<Int>(
        "--warmup-steps",
        "Linear warm-up over the first N steps: step s uses (s+1)/N of the rate.", valueName: "N", default: ScheduleSettings().warmupSteps,
        range: .count, given: \.warmupSteps, setting: .value(\.schedule.warmupSteps, stored: \.schedule.warmupSteps),
        checkpointKey: Key.warmupSteps, resume: .mustAgree)
    public static let stepSize = TrainOption<Int>(
        "--step-size", "--lr-schedule step: epochs between decays.", valueName: "epochs", range: .positiveCount,
        given: \.stepSize, setting: .optional(\.schedule.stepSize, stored: \.schedule.stepSize), checkpointKey: Key.stepSize,
        resume: .mustAgree)
    public static let gamma = TrainOption<Double>(
        "--gamma", "--lr-schedule step: the decay factor. (default: 0.1)", range: .positive,
        given: \.gamma, setting: .optional(\.schedule.gamma, stored: \.schedule.gamma), checkpointKey: Key.gamma, resume: .mustAgree)
    public static let plateauPatience = TrainOption<Int>(
        "--plateau-patience", "--lr-schedule plateau: epochs without improvement before the rate drops. (default: 10)",
        valueName: "epochs", range: .count,
        given: \.plateauPatience, setting: .optional(\.schedule.plateauPatience, stored: \.schedule.plateauPatience),
        checkpointKey: Key.plateauPatience, resume: .mustAgree)
    public static let plateauFactor = TrainOption<Double>(
        "--plateau-factor", "--lr-schedule plateau: the factor the rate drops by. (default: 0.1)", range: .openFraction,
        given: \.plateauFactor, setting: .optional(\.schedule.plateauFactor, stored: \.schedule.plateauFactor),
        checkpointKey: Key.plateauFactor, resume: .mustAgree)
    public static let plateauThreshold = TrainOption<Double>(
        "--plateau-threshold", "--lr-schedule plateau: the relative improvement that counts (loss < best·(1 − T)). (default: 1e-4)",
        range: .fraction,
        given: \.plateauThreshold, setting: .optional(\.schedule.plateauThreshold, stored: \.schedule.plateauThreshold),
        checkpointKey: Key.plateauThreshold, resume: .mustAgree)
    public static let minLr = TrainOption<Double>(
        "--min-lr", "--lr-schedule plateau: the rate never drops below this. (default: 0)", valueName: "rate", range: .nonNegative,
        given: \.minimumRate, setting: .optional(\.schedule.minimumRate, stored: \.schedule.minimumRate),
        checkpointKey: Key.minimumRate, resume: .mustAgree)

    public static let clipGradNorm = TrainOption<Double>(
        "--clip-grad-norm", "Clip the mini-batch gradient to this global L2 norm.", valueName: "C", range: .positive,
        given: \.clipGradientNorm, setting: .optional(\.clipGradientNorm, stored: \.clipGradientNorm),
        checkpointKey: Key.clipGradientNorm, resume: .mustAgree)
    public static let validationSplit = TrainOption<Double>(
        "--validation-split",
        "Hold out this fraction of the training rows (chosen by --seed) and report validation loss/accuracy each epoch.",
        valueName: "F", range: .openFraction,
        given: \.validationSplit, setting: .optional(\.validationSplit, stored: \.validationSplit),
        checkpointKey: Key.validationSplit, resume: .mustAgree)
    public static let earlyStopping = TrainOption<Int>(
        "--early-stopping",
        "Stop when the validation loss has not improved for this many epochs; --save writes the best epoch's model.",
        valueName: "patience", range: .positiveCount,
        given: \.earlyStopping, setting: .optional(\.earlyStopping, stored: \.earlyStopping),
        checkpointKey: Key.patience, resume: .mustAgree)

    /// Every option of `mlp train`, in `--help`'s order.
    public static let all: [AnyTrainOption] = [
        .init(train), .init(trainLabels), .init(test), .init(testLabels), .init(target), .init(loss), .init(hidden),
        .init(activation), .init(batchSize), .init(learningRate), .init(epochs), .init(maxSteps), .init(seed), .init(noShuffle),
        .init(precision), .init(standardize), .init(initFrom), .init(save), .init(metrics), .init(checksumEvery),
        .init(checkpoint), .init(checkpointEvery), .init(resume), .init(onNonFinite), .init(allreduce), .init(shardedUpdate),
        .init(sampleWeight), .init(trainWeights), .init(classWeight), .init(dropout), .init(reproducible), .init(chunkRows),
        .init(optimizer), .init(momentum), .init(nesterov), .init(beta1), .init(beta2), .init(eps), .init(weightDecay),
        .init(lrSchedule), .init(warmupSteps), .init(stepSize), .init(gamma), .init(plateauPatience), .init(plateauFactor),
        .init(plateauThreshold), .init(minLr), .init(clipGradNorm), .init(validationSplit), .init(earlyStopping),
        .init(collectiveTimeout), .init(categorical), .init(maxCategories), .init(minCategoryCount), .init(missingValues),
        .init(dropMissingTarget),
    ]
}
