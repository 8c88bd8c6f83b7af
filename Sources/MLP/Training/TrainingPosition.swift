import Foundation

/// What one epoch (or the partial epoch that `--max-steps` ends) achieved, as rank 0 prints it.
public struct EpochReport: Sendable {
    public var epoch: Int
    /// Steps taken since training started.
    public var step: Int
    public var trainLoss: Double
    public var trainAccuracy: Double?
    public var testLoss: Double?
    public var testAccuracy: Double?
    /// On the `--validation-split` rows; nil without them.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// Seconds since training started.
    public var seconds: Double
    /// Training samples per second over this epoch (evaluation not counted).
    public var samplesPerSecond: Double
    /// The learning rate of the epoch's last step.
    public var learningRate: Double
    /// Steps of this epoch skipped for a non-finite loss or gradient (`--on-nonfinite skip-step`).
    public var skippedSteps = 0
    /// `fingerprint` of θ's bytes after the epoch's last step: two runs whose lines agree here
    /// hold the same parameters, bit for bit.
    public var parametersFingerprint: UInt64 = 0
}

/// Where training stands: all a checkpoint needs, besides θ and the optimizer state, to go on
/// exactly as if it had never stopped.
public struct TrainingPosition: Equatable, Sendable {
    /// The epoch in progress, 1-based.
    public var epoch = 1
    /// Mini-batches of `epoch` already done.
    public var batchInEpoch = 0
    /// Steps done since training started.
    public var step = 0
    /// Global sums over the done mini-batches of `epoch`, for its report.
    public var epochLossSum = 0.0, epochSamples = 0.0, epochCorrect = 0.0
    /// Σ wᵢ of those mini-batches' rows (`epochSamples` without weights): the train loss's divisor.
    public var epochWeightSum = 0.0

    public init(epoch: Int = 1, batchInEpoch: Int = 0, step: Int = 0,
                epochLossSum: Double = 0, epochSamples: Double = 0, epochCorrect: Double = 0) {
        self.epoch = epoch; self.batchInEpoch = batchInEpoch; self.step = step
        self.epochLossSum = epochLossSum; self.epochSamples = epochSamples; self.epochCorrect = epochCorrect
    }
}
