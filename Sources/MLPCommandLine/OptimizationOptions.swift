import ArgumentParser
import MLP

// Option declarations here look alike (`duplicates` pairs them by shape): each declares one flag, as
// swift-argument-parser wants them; kept on purpose.

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

    @Option(help: "Learning-rate schedule: constant, step (×gamma every --step-size epochs), cosine (to 0 at the last step) or plateau (×--plateau-factor when the validation loss, else the training loss, has not improved for --plateau-patience epochs).")
    var lrSchedule: ScheduleSettings.Kind?

    @Option(help: ArgumentHelp("Linear warm-up over the first N steps: step s uses (s+1)/N of the rate.", valueName: "N"))
    var warmupSteps: Int?

    @Option(help: ArgumentHelp("--lr-schedule step: epochs between decays.", valueName: "epochs"))
    var stepSize: Int?

    @Option(help: "--lr-schedule step: the decay factor. (default: 0.1)")
    var gamma: Double?

    @Option(help: ArgumentHelp("--lr-schedule plateau: epochs without improvement before the rate drops. (default: 10)", valueName: "epochs"))
    var plateauPatience: Int?

    @Option(help: "--lr-schedule plateau: the factor the rate drops by. (default: 0.1)")
    var plateauFactor: Double?

    @Option(help: "--lr-schedule plateau: the relative improvement that counts (loss < best·(1 − T)). (default: 1e-4)")
    var plateauThreshold: Double?

    @Option(help: ArgumentHelp("--lr-schedule plateau: the rate never drops below this. (default: 0)", valueName: "rate"))
    var minLr: Double?

    @Option(help: ArgumentHelp("Clip the mini-batch gradient to this global L2 norm.", valueName: "C"))
    var clipGradNorm: Double?

    @Option(help: ArgumentHelp("Hold out this fraction of the training rows (chosen by --seed) and report validation loss/accuracy each epoch.", valueName: "F"))
    var validationSplit: Double?

    @Option(help: ArgumentHelp("Stop when the validation loss has not improved for this many epochs; --save writes the best epoch's model.", valueName: "patience"))
    var earlyStopping: Int?

    /// Puts the options given into `options`.
    func apply(to options: inout TrainingOptions) {
        options.optimizer = optimizer
        options.momentum = momentum
        options.nesterov = nesterov ? true : nil
        options.beta1 = beta1
        options.beta2 = beta2
        options.epsilon = eps
        options.weightDecay = weightDecay
        options.lrSchedule = lrSchedule
        options.warmupSteps = warmupSteps
        options.stepSize = stepSize
        options.gamma = gamma
        options.plateauPatience = plateauPatience
        options.plateauFactor = plateauFactor
        options.plateauThreshold = plateauThreshold
        options.minimumRate = minLr
        options.clipGradientNorm = clipGradNorm
        options.validationSplit = validationSplit
        options.earlyStopping = earlyStopping
    }
}

extension OptimizerSettings.Kind: ExpressibleByArgument {}
extension ScheduleSettings.Kind: ExpressibleByArgument {}
