import ArgumentParser
import MLP

/// The options of `mlp train` that pick the update rule, the learning-rate schedule, gradient
/// clipping, validation and early stopping. Defaults and update rules are PyTorch's.
struct OptimizationOptions: ParsableArguments {
    @Option(help: "Update rule: sgd, adam or adamw (PyTorch's torch.optim.SGD, Adam, AdamW).")
    var optimizer: OptimizerSettings.Kind = .sgd

    @Option(help: ArgumentHelp("SGD momentum μ.", valueName: "μ"))
    var momentum: Double = 0

    @Flag(help: "Nesterov momentum for SGD (needs --momentum > 0).")
    var nesterov = false

    @Option(help: ArgumentHelp("Adam/AdamW β₁.", valueName: "β₁"))
    var beta1: Double = 0.9

    @Option(help: ArgumentHelp("Adam/AdamW β₂.", valueName: "β₂"))
    var beta2: Double = 0.999

    @Option(help: ArgumentHelp("Adam/AdamW ε.", valueName: "ε"))
    var eps: Double = 1e-8

    @Option(help: ArgumentHelp("Weight decay λ: L2 added to the gradient for sgd and adam, decoupled for adamw. (default: 0; 0.01 for adamw)", valueName: "λ"))
    var weightDecay: Double?

    @Option(help: "Learning-rate schedule: constant, step (×gamma every --step-size epochs) or cosine (to 0 at the last step).")
    var lrSchedule: ScheduleSettings.Kind = .constant

    @Option(help: ArgumentHelp("Linear warm-up over the first N steps: step s uses (s+1)/N of the rate.", valueName: "N"))
    var warmupSteps: Int = 0

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
    func apply(to options: inout TrainingOptions, learningRate: Double?) {
        options.optimizer.kind = optimizer
        options.optimizer.momentum = momentum
        options.optimizer.nesterov = nesterov
        options.optimizer.beta1 = beta1
        options.optimizer.beta2 = beta2
        options.optimizer.epsilon = eps
        options.optimizer.weightDecay = weightDecay
        options.learningRate = learningRate ?? options.optimizer.defaultLearningRate
        options.schedule.kind = lrSchedule
        options.schedule.warmupSteps = warmupSteps
        options.schedule.stepSize = stepSize
        options.schedule.gamma = gamma
        options.clipGradientNorm = clipGradNorm
        options.validationSplit = validationSplit
        options.earlyStopping = earlyStopping
    }
}

extension OptimizerSettings.Kind: ExpressibleByArgument {}
extension ScheduleSettings.Kind: ExpressibleByArgument {}
