import ArgumentParser
import MLP

/// The options of `mlp train` that pick the update rule, the learning-rate schedule, gradient
/// clipping, validation and early stopping. Defaults and update rules are PyTorch's.
struct OptimizationOptions: ParsableArguments {
    @Option(help: "Update rule: sgd, adam or adamw (PyTorch's torch.optim.SGD, Adam, AdamW).")
    var optimizer: OptimizerSettings.Kind?

    @Option(help: ArgumentHelp("SGD momentum μ.", valueName: "μ"))
    var momentum: Double?

    @Flag(help: "Nesterov momentum for SGD (needs --momentum > 0).")
    var nesterov = false

    @Option(help: ArgumentHelp("Adam/AdamW β₁.", valueName: "β₁"))
    var beta1: Double?

    @Option(help: ArgumentHelp("Adam/AdamW β₂.", valueName: "β₂"))
    var beta2: Double?

    @Option(help: ArgumentHelp("Adam/AdamW ε.", valueName: "ε"))
    var eps: Double?

    @Option(help: ArgumentHelp("Weight decay λ: L2 added to the gradient for sgd and adam, decoupled for adamw. (default: 0; 0.01 for adamw)", valueName: "λ"))
    var weightDecay: Double?

    @Option(help: "Learning-rate schedule: constant, step (×gamma every --step-size epochs) or cosine (to 0 at the last step).")
    var lrSchedule: ScheduleSettings.Kind?

    @Option(help: ArgumentHelp("Linear warm-up over the first N steps: step s uses (s+1)/N of the rate.", valueName: "N"))
    var warmupSteps: Int?

    @Option(help: ArgumentHelp("--lr-schedule step: epochs between decays.", valueName: "epochs"))
    var stepSize: Int?

    @Option(help: "--lr-schedule step: the decay factor. (default: 0.1)")
    var gamma: Double?

    @Option(help: ArgumentHelp("Clip the mini-batch gradient to this global L2 norm.", valueName: "C"))
    var clipGradNorm: Double?

    @Option(help: ArgumentHelp("Hold out this fraction of the training rows (chosen by --seed) and report validation loss/accuracy each epoch.", valueName: "F"))
    var validationSplit: Double?

    @Option(help: ArgumentHelp("Stop when the validation loss has not improved for this many epochs; --save writes the best epoch's model.", valueName: "patience"))
    var earlyStopping: Int?

    /// Fills in the options; `learningRate` is `--learning-rate` if given, else the optimizer's default.
    /// Fills the options given (defaults otherwise) and records which were given, so that a
    /// resumed run compares only those with its checkpoint.
    func apply(to options: inout TrainingOptions) {
        var given: Set<String> = []
        func take<Value>(_ value: Value?, _ name: String, into target: inout Value) {
            if let value { target = value; given.insert(name) }
        }
        func takeOptional<Value>(_ value: Value?, _ name: String, into target: inout Value?) {
            if let value { target = value; given.insert(name) }
        }
        take(optimizer, "--optimizer", into: &options.optimizer.kind)
        take(momentum, "--momentum", into: &options.optimizer.momentum)
        take(nesterov ? true : nil, "--nesterov", into: &options.optimizer.nesterov)
        take(beta1, "--beta1", into: &options.optimizer.beta1)
        take(beta2, "--beta2", into: &options.optimizer.beta2)
        take(eps, "--eps", into: &options.optimizer.epsilon)
        takeOptional(weightDecay, "--weight-decay", into: &options.optimizer.weightDecay)
        take(lrSchedule, "--lr-schedule", into: &options.schedule.kind)
        take(warmupSteps, "--warmup-steps", into: &options.schedule.warmupSteps)
        takeOptional(stepSize, "--step-size", into: &options.schedule.stepSize)
        takeOptional(gamma, "--gamma", into: &options.schedule.gamma)
        takeOptional(clipGradNorm, "--clip-grad-norm", into: &options.clipGradientNorm)
        takeOptional(validationSplit, "--validation-split", into: &options.validationSplit)
        takeOptional(earlyStopping, "--early-stopping", into: &options.earlyStopping)
        options.optimizationGiven = given
    }
}

extension OptimizerSettings.Kind: ExpressibleByArgument {}
extension ScheduleSettings.Kind: ExpressibleByArgument {}
