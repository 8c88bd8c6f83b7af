import ArgumentParser
import MLP

// Option declarations here look alike (`duplicates` pairs them by shape): each declares one flag, as
// swift-argument-parser wants them; kept on purpose. Flags and help are `TrainOptionTable`'s.
private typealias T = TrainOptionTable

/// The options of `mlp train` that pick the update rule, the learning-rate schedule, gradient
/// clipping, validation and early stopping. Defaults and update rules are PyTorch's.
struct OptimizationOptions: ParsableArguments {
    @Option(name: T.optimizer.long, help: T.optimizer.argumentHelp)
    var optimizer: OptimizerSettings.Kind?

    @Option(name: T.momentum.long, parsing: .unconditional, help: T.momentum.argumentHelp)
    var momentum: Double?

    @Flag(name: T.nesterov.long, help: T.nesterov.argumentHelp)
    var nesterov = false

    @Option(name: T.beta1.long, parsing: .unconditional, help: T.beta1.argumentHelp)
    var beta1: Double?

    @Option(name: T.beta2.long, parsing: .unconditional, help: T.beta2.argumentHelp)
    var beta2: Double?

    @Option(name: T.eps.long, parsing: .unconditional, help: T.eps.argumentHelp)
    var eps: Double?

    @Option(name: T.weightDecay.long, parsing: .unconditional, help: T.weightDecay.argumentHelp)
    var weightDecay: Double?

    @Option(name: T.lrSchedule.long, help: T.lrSchedule.argumentHelp)
    var lrSchedule: ScheduleSettings.Kind?

    @Option(name: T.warmupSteps.long, parsing: .unconditional, help: T.warmupSteps.argumentHelp)
    var warmupSteps: Int?

    @Option(name: T.stepSize.long, parsing: .unconditional, help: T.stepSize.argumentHelp)
    var stepSize: Int?

    @Option(name: T.gamma.long, parsing: .unconditional, help: T.gamma.argumentHelp)
    var gamma: Double?

    @Option(name: T.plateauPatience.long, parsing: .unconditional, help: T.plateauPatience.argumentHelp)
    var plateauPatience: Int?

    @Option(name: T.plateauFactor.long, parsing: .unconditional, help: T.plateauFactor.argumentHelp)
    var plateauFactor: Double?

    @Option(name: T.plateauThreshold.long, parsing: .unconditional, help: T.plateauThreshold.argumentHelp)
    var plateauThreshold: Double?

    @Option(name: T.minLr.long, parsing: .unconditional, help: T.minLr.argumentHelp)
    var minLr: Double?

    @Option(name: T.clipGradNorm.long, parsing: .unconditional, help: T.clipGradNorm.argumentHelp)
    var clipGradNorm: Double?

    @Option(name: T.validationSplit.long, parsing: .unconditional, help: T.validationSplit.argumentHelp)
    var validationSplit: Double?

    @Option(name: T.earlyStopping.long, parsing: .unconditional, help: T.earlyStopping.argumentHelp)
    var earlyStopping: Int?
}

extension OptimizerSettings.Kind: ExpressibleByArgument {}
extension ScheduleSettings.Kind: ExpressibleByArgument {}
