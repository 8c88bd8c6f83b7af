import Foundation

/// How the learning rate changes over training (`--lr-schedule`, `--warmup-steps`,
/// `--step-size`, `--gamma`).
public struct ScheduleSettings: Sendable, Equatable {
    public enum Kind: String, CaseIterable, Sendable {
        case constant, step, cosine, plateau
    }

    public var kind: Kind = .constant
    /// N: linear warm-up over the first N steps (0: none).
    public var warmupSteps = 0
    /// `step`: multiply by γ every this many **epochs** (PyTorch `StepLR(step_size=…)` stepped once per epoch).
    public var stepSize: Int?
    /// `step`: the factor (PyTorch `StepLR`'s `gamma`, default 0.1).
    public var gamma: Double?
    /// `plateau`: PyTorch `ReduceLROnPlateau`'s patience, factor, threshold and min_lr (nil: its
    /// defaults, 10, 0.1, 1e-4 and 0).
    public var plateauPatience: Int?
    public var plateauFactor: Double?
    public var plateauThreshold: Double?
    public var minimumRate: Double?

    public init(kind: Kind = .constant, warmupSteps: Int = 0, stepSize: Int? = nil, gamma: Double? = nil,
                plateauPatience: Int? = nil, plateauFactor: Double? = nil, plateauThreshold: Double? = nil, minimumRate: Double? = nil) {
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.stepSize = stepSize
        self.gamma = gamma
        self.plateauPatience = plateauPatience
        self.plateauFactor = plateauFactor
        self.plateauThreshold = plateauThreshold
        self.minimumRate = minimumRate
    }

    public func validate() throws {
        for (option, value) in [(TrainOptionTable.warmupSteps, warmupSteps), (TrainOptionTable.stepSize, stepSize),
                                (TrainOptionTable.plateauPatience, plateauPatience)] {
            try option.check(value)
        }
        for (option, value) in [(TrainOptionTable.gamma, gamma), (TrainOptionTable.plateauFactor, plateauFactor),
                                (TrainOptionTable.plateauThreshold, plateauThreshold), (TrainOptionTable.minLr, minimumRate)] {
            try option.check(value)
        }
        if kind == .step {
            guard stepSize != nil else { throw InputError("--lr-schedule step needs --step-size (epochs between decays)") }
        } else {
            if stepSize != nil { throw InputError("--step-size applies to --lr-schedule step only") }
            if gamma != nil { throw InputError("--gamma applies to --lr-schedule step only") }
        }
        if kind != .plateau {
            for (value, option) in [(plateauPatience.map(Double.init), "--plateau-patience"), (plateauFactor, "--plateau-factor"),
                                    (plateauThreshold, "--plateau-threshold"), (minimumRate, "--min-lr")] where value != nil {
                throw InputError("\(option) applies to --lr-schedule plateau only (plateau replaces the other schedules)")
            }
        }
    }

    /// PyTorch `ReduceLROnPlateau`'s defaults.
    var patience: Int { plateauPatience ?? 10 }
    var factor: Double { plateauFactor ?? 0.1 }
    var threshold: Double { plateauThreshold ?? 1e-4 }
    var minimum: Double { minimumRate ?? 0 }
}

/// `--lr-schedule plateau`'s state, which the epochs' losses move (PyTorch `ReduceLROnPlateau`,
/// mode min, relative threshold, cooldown 0, eps 1e-8): the current rate, the best loss so far
/// and the epochs since it improved. Kept in checkpoints, so a resume continues it exactly.
public struct PlateauState: Sendable, Equatable {
    public var rate: Double
    public var best = Double.infinity
    public var badEpochs = 0

    public init(rate: Double, best: Double = .infinity, badEpochs: Int = 0) {
        self.rate = rate
        self.best = best
        self.badEpochs = badEpochs
    }

    /// One epoch's loss: PyTorch's `step(metrics)`. A NaN loss is a bad epoch, never the best.
    mutating func observe(_ loss: Double, settings: ScheduleSettings) {
        if !loss.isNaN, loss < best * (1 - settings.threshold) {
            best = loss
            badEpochs = 0
        } else {
            badEpochs += 1
        }
        if badEpochs > settings.patience {
            let reduced = max(rate * settings.factor, settings.minimum)
            if rate - reduced > 1e-8 { rate = reduced }
            badEpochs = 0
        }
    }
}

/// The learning rate of every step, a function of the global step s = 0, 1, … (the number of
/// steps taken before it) and, for `plateau` only, of the losses of the epochs before it (its
/// `PlateauState`, kept in checkpoints), so a resumed run gets the same rates:
///
///     γ(s) = γ₀ · warmup(s) · decay(s)
///     warmup(s) = min(1, (s + 1)/N)                     (1 when N = 0)
///     decay(s)  = 1                                     constant
///               = gamma^⌊e / stepSize⌋,  e = ⌊s / S⌋     step (e: the epoch, from 0; S: steps per epoch)
///               = (1 + cos(π s / T)) / 2                cosine (T: total steps)
///               = γ_plateau / γ₀                         plateau (the state's rate, reduced by its
///                                                       factor after `patience` epochs without improvement)
///
/// In PyTorch terms, with every scheduler stepped as noted (they compose multiplicatively, as
/// PyTorch's chainable schedulers do on one optimizer):
/// - warm-up = `LinearLR(start_factor=1/N, end_factor=1, total_iters=N-1)`, stepped after each
///   optimizer step;
/// - step = `StepLR(step_size, gamma)`, stepped after each epoch;
/// - cosine = `CosineAnnealingLR(T_max=T, eta_min=0)`, stepped after each optimizer step;
/// - plateau = `ReduceLROnPlateau(mode="min", factor, patience, threshold, threshold_mode="rel",
///   cooldown=0, min_lr)`, stepped after each complete epoch once warm-up is over, on the
///   validation loss (the training loss without a validation split).
public struct LearningRateSchedule: Sendable, Equatable {
    public let baseRate: Double
    public let settings: ScheduleSettings
    /// S: mini-batches per epoch.
    public let stepsPerEpoch: Int
    /// T: the steps training will take, epochs × S or `--max-steps` if fewer (cosine's period).
    public let totalSteps: Int
    /// `step`: epochs between decays.
    private let decayEpochs: Int
    /// `plateau`: where it stands; nil for the other schedules.
    public var plateau: PlateauState?

    /// `settings` must have passed `validate()`.
    public init(baseRate: Double, settings: ScheduleSettings, stepsPerEpoch: Int, totalSteps: Int) {
        precondition(stepsPerEpoch > 0 && totalSteps > 0)
        precondition(settings.kind != .step || settings.stepSize != nil, "--lr-schedule step without --step-size")
        decayEpochs = settings.stepSize ?? 1
        self.baseRate = baseRate
        self.settings = settings
        self.stepsPerEpoch = stepsPerEpoch
        self.totalSteps = totalSteps
        plateau = settings.kind == .plateau ? PlateauState(rate: baseRate) : nil
    }

    /// The end of a complete epoch with this loss, after `steps` steps: `plateau` observes it once
    /// warm-up is over; the other schedules ignore it.
    public mutating func epochEnded(loss: Double, steps: Int) {
        guard plateau != nil, steps >= settings.warmupSteps else { return }
        plateau!.observe(loss, settings: settings)
    }

    /// γ(s): the learning rate of step s (0-based: s steps were taken before it).
    public func rate(atStep s: Int) -> Double {
        // plateau's rate as PyTorch holds it, not rebuilt from γ₀ (which would round differently).
        if let plateau { return warmupFactor(s) * plateau.rate }
        return baseRate * warmupFactor(s) * decayFactor(s)
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
        case .plateau:
            return 1   // `rate(atStep:)` takes the state's rate itself
        }
    }
}
