import Foundation

/// How the learning rate changes over training (`--lr-schedule`, `--warmup-steps`,
/// `--step-size`, `--gamma`).
public struct ScheduleSettings: Sendable, Equatable {
    public enum Kind: String, CaseIterable, Sendable {
        case constant, step, cosine
    }

    public var kind: Kind = .constant
    /// N: linear warm-up over the first N steps (0: none).
    public var warmupSteps = 0
    /// `step`: multiply by γ every this many **epochs** (PyTorch `StepLR(step_size=…)` stepped once per epoch).
    public var stepSize: Int?
    /// `step`: the factor (PyTorch `StepLR`'s `gamma`, default 0.1).
    public var gamma: Double?

    public init(kind: Kind = .constant, warmupSteps: Int = 0, stepSize: Int? = nil, gamma: Double? = nil) {
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func validate() throws {
        guard warmupSteps >= 0 else { throw InputError("--warmup-steps must be 0 or more (got \(warmupSteps))") }
        guard warmupSteps <= TrainingOptions.largestCount else {
            throw InputError("--warmup-steps must be at most \(TrainingOptions.largestCount) (got \(warmupSteps))")
        }
        if kind == .step {
            guard let stepSize else { throw InputError("--lr-schedule step needs --step-size (epochs between decays)") }
            guard stepSize > 0 else { throw InputError("--step-size must be at least 1 (got \(stepSize))") }
            guard stepSize <= TrainingOptions.largestCount else {
                throw InputError("--step-size must be at most \(TrainingOptions.largestCount) (got \(stepSize))")
            }
        } else {
            if stepSize != nil { throw InputError("--step-size applies to --lr-schedule step only") }
            if gamma != nil { throw InputError("--gamma applies to --lr-schedule step only") }
        }
        if let gamma, !(gamma > 0 && gamma.isFinite) { throw InputError("--gamma must be a positive number (got \(gamma))") }
    }
}

/// The learning rate of every step, a pure function of the global step s = 0, 1, … (the number
/// of steps taken before it), so a resumed run that restores the step gets the same rates:
///
///     γ(s) = γ₀ · warmup(s) · decay(s)
///     warmup(s) = min(1, (s + 1)/N)                     (1 when N = 0)
///     decay(s)  = 1                                     constant
///               = gamma^⌊e / stepSize⌋,  e = ⌊s / S⌋     step (e: the epoch, from 0; S: steps per epoch)
///               = (1 + cos(π s / T)) / 2                cosine (T: total steps)
///
/// In PyTorch terms, with every scheduler stepped as noted (they compose multiplicatively, as
/// PyTorch's chainable schedulers do on one optimizer):
/// - warm-up = `LinearLR(start_factor=1/N, end_factor=1, total_iters=N-1)`, stepped after each
///   optimizer step;
/// - step = `StepLR(step_size, gamma)`, stepped after each epoch;
/// - cosine = `CosineAnnealingLR(T_max=T, eta_min=0)`, stepped after each optimizer step.
public struct LearningRateSchedule: Sendable, Equatable {
    public let baseRate: Double
    public let settings: ScheduleSettings
    /// S: mini-batches per epoch.
    public let stepsPerEpoch: Int
    /// T: the steps training will take, epochs × S or `--max-steps` if fewer (cosine's period).
    public let totalSteps: Int
    /// `step`: epochs between decays.
    private let decayEpochs: Int

    /// `settings` must have passed `validate()`.
    public init(baseRate: Double, settings: ScheduleSettings, stepsPerEpoch: Int, totalSteps: Int) {
        precondition(stepsPerEpoch > 0 && totalSteps > 0)
        precondition(settings.kind != .step || settings.stepSize != nil, "--lr-schedule step without --step-size")
        decayEpochs = settings.stepSize ?? 1
        self.baseRate = baseRate
        self.settings = settings
        self.stepsPerEpoch = stepsPerEpoch
        self.totalSteps = totalSteps
    }

    /// γ(s): the learning rate of step s (0-based: s steps were taken before it).
    public func rate(atStep s: Int) -> Double {
        baseRate * warmupFactor(s) * decayFactor(s)
    }

    func warmupFactor(_ s: Int) -> Double {
        let n = settings.warmupSteps
        return n > 0 && s < n ? Double(s + 1) / Double(n) : 1
    }

    func decayFactor(_ s: Int) -> Double {
        switch settings.kind {
        case .constant:
            return 1
        case .step:
            let epoch = s / stepsPerEpoch
            return Foundation.pow(settings.gamma ?? 0.1, Double(epoch / decayEpochs))
        case .cosine:
            return (1 + Foundation.cos(Double.pi * Double(min(s, totalSteps)) / Double(totalSteps))) / 2
        }
    }
}
