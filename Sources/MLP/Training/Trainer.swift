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

    public init(epoch: Int = 1, batchInEpoch: Int = 0, step: Int = 0,
                epochLossSum: Double = 0, epochSamples: Double = 0, epochCorrect: Double = 0) {
        self.epoch = epoch; self.batchInEpoch = batchInEpoch; self.step = step
        self.epochLossSum = epochLossSum; self.epochSamples = epochSamples; self.epochCorrect = epochCorrect
    }
}

/// How a step combines the ranks' gradient sums. Both give the same, exact sums.
public enum AllreduceMode: String, CaseIterable, Sendable {
    /// One blocking `MPI_Allreduce` over the whole buffer after backward.
    case single
    /// One `MPI_Iallreduce` per layer, started as soon as backward has produced that layer's
    /// gradient (last layer first), then one wait.
    case overlap
}

extension FlatBuffer {
    /// Layer l's block [vec(W⁽ˡ⁾), b⁽ˡ⁾]; for the last layer it runs on through the extra slots
    /// (loss, counts), so they travel with it.
    func layerSlice(_ l: Int) -> UnsafeMutableBufferPointer<T> {
        let start = layout.weightOffsets[l - 1]
        let end = l == layout.layerCount ? storage.count : layout.weightOffsets[l]
        return UnsafeMutableBufferPointer(rebasing: storage[start ..< end])
    }
}

/// The slots after the gradient sums in the one allreduce of a step.
enum StepExtra {
    static let lossSum = 0, samples = 1, correct = 2
    /// How many ranks received SIGINT/SIGTERM: > 0 stops all of them after this step.
    static let interrupted = 3
    static let count = 4
}

/// The data-parallel training loop.
///
/// Each step: gather this rank's shard of the global mini-batch → forward → loss → backward
/// (sums over the shard) → one allreduce of [gradient sums | loss sum | sample count | correct]
/// → divide by the global sample count → clip (optional) → optimizer update at the schedule's
/// learning rate, identical on every rank.
public final class Trainer<T: Scalar> {
    public struct Settings {
        public var batchSize: Int
        public var epochs: Int
        public var maxSteps: Int?
        public var seed: UInt64
        public var shuffle: Bool
        /// Compare a checksum of θ across ranks every this many steps (and at the end); 0: only at the end.
        public var checksumEvery: Int
        /// Call `onCheckpoint` every this many steps as well as at epoch ends; 0: epoch ends only.
        public var checkpointEvery: Int
        /// `--clip-grad-norm`: the largest global L2 norm of g before the update; nil: no clipping.
        public var clipGradientNorm: Double?
        /// `--on-nonfinite skip-step`: a step whose loss or gradient is not finite is skipped
        /// (no update) instead of stopping training.
        public var skipNonFiniteSteps = false
        /// How the step's gradient sums are combined (both give the same exact sums).
        public var allreduce = AllreduceMode.single
        public init(batchSize: Int, epochs: Int, maxSteps: Int? = nil, seed: UInt64, shuffle: Bool,
                    checksumEvery: Int = 1000, checkpointEvery: Int = 0, clipGradientNorm: Double? = nil) {
            self.batchSize = batchSize; self.epochs = epochs; self.maxSteps = maxSteps
            self.seed = seed; self.shuffle = shuffle; self.checksumEvery = checksumEvery
            self.checkpointEvery = checkpointEvery
            self.clipGradientNorm = clipGradientNorm
        }
    }

    public let network: Network<T>
    public let communicator: Communicator
    public let settings: Settings
    public let optimizer: Optimizer<T>
    public let schedule: LearningRateSchedule
    /// Stops training when the validation loss stops improving (needs `validation`).
    public var earlyStopping: EarlyStopping<T>?
    let train: Dataset<T>
    let validation: Dataset<T>?
    let test: Dataset<T>?
    /// Gradient sums, then the extra slots of `Extra`.
    let reduction: FlatBuffer<T>
    let workspace: Workspace<T>
    let evaluationWorkspace: Workspace<T>
    var order: EpochOrder
    /// Where this rank's step time went (summed; reset it at will).
    public var timings = StepTimings()
    /// Steps of the current epoch skipped for non-finite values.
    var skippedSteps = 0
    /// Where training stands; set it before `run` to resume.
    public var position = TrainingPosition()

    public init(network: Network<T>, optimizer: Optimizer<T>, schedule: LearningRateSchedule, train: Dataset<T>,
                validation: Dataset<T>? = nil, test: Dataset<T>?, settings: Settings, communicator: Communicator) {
        precondition(settings.batchSize > 0 && settings.epochs > 0)
        precondition(optimizer.layout == network.layout)
        precondition(train.featureCount == network.layout.inputCount && train.outputCount == network.layout.outputCount)
        self.network = network
        self.optimizer = optimizer
        self.schedule = schedule
        self.train = train
        self.validation = validation
        self.test = test
        self.settings = settings
        self.communicator = communicator
        reduction = FlatBuffer(layout: network.layout, extraCount: StepExtra.count)
        // The largest shard: ⌈n_b / P⌉ rows (a batch is never larger than the dataset).
        let largestBatch = min(settings.batchSize, train.rowCount)
        workspace = Workspace(layout: network.layout, capacity: (largestBatch + communicator.size - 1) / communicator.size)
        evaluationWorkspace = Workspace(layout: network.layout, capacity: 1024)
        order = EpochOrder(rowCount: train.rowCount, seed: settings.seed, shuffle: settings.shuffle)
    }

    /// Trains from `position` until `settings.epochs` epochs (or `maxSteps` steps) are done,
    /// counting from the start of training, so a resumed run continues where it stopped.
    /// Every closure is called on every rank (rank 0 does the printing and writing):
    /// `onStep` after each step, `onCheckpoint` every `checkpointEvery` steps, at the end of each
    /// epoch and where `maxSteps` stops, `onEpoch` after each epoch.
    /// Throws if the loss stops being finite or the ranks' parameters differ.
    public func run(onStep: (TrainingPosition, _ batchesPerEpoch: Int) -> Void = { _, _ in },
                    onCheckpoint: ((TrainingPosition) throws -> Void)? = nil,
                    onEpoch: (EpochReport) throws -> Void) throws {
        precondition(earlyStopping == nil || validation != nil, "early stopping needs validation data")
        let start = Date()
        let batches = EpochOrder.batchCount(rowCount: train.rowCount, batchSize: settings.batchSize)
        func stepsExhausted() -> Bool { settings.maxSteps.map { position.step >= $0 } ?? false }

        while position.epoch <= settings.epochs, !stepsExhausted() {
            order.prepare(epoch: position.epoch)
            let epochStart = Date()
            var samplesThisSession = 0.0
            skippedSteps = 0
            while position.batchInEpoch < batches, !stepsExhausted() {
                let positions = EpochOrder.batchRange(position.batchInEpoch, rowCount: train.rowCount, batchSize: settings.batchSize)
                let totals = self.step(positions: positions)
                if totals.nonFinite && !settings.skipNonFiniteSteps {
                    throw AgreedFailure(message: "non-finite loss or gradient at step \(position.step + 1) (epoch \(position.epoch)): training stopped before applying it; the last checkpoint is intact. Try a smaller --learning-rate, --clip-grad-norm, or --on-nonfinite skip-step", reportingRank: 0)
                }
                position.batchInEpoch += 1
                position.step += 1
                samplesThisSession += totals.samples
                if totals.nonFinite {
                    skippedSteps += 1
                } else {
                    position.epochLossSum += totals.lossSum
                    position.epochSamples += totals.samples
                    position.epochCorrect += totals.correct
                }
                if totals.interrupted { throw TrainingInterrupted(position: position, signal: Interruption.received) }
                if settings.checksumEvery > 0, position.step % settings.checksumEvery == 0 { try checkParametersAgree() }
                onStep(position, batches)
                if let onCheckpoint, settings.checkpointEvery > 0, position.step % settings.checkpointEvery == 0,
                   position.batchInEpoch < batches, !stepsExhausted() {
                    try onCheckpoint(position)
                }
            }
            let trainSeconds = Date().timeIntervalSince(epochStart)
            let samples = max(position.epochSamples, 1)
            var report = EpochReport(epoch: position.epoch, step: position.step, trainLoss: position.epochLossSum / samples,
                                     trainAccuracy: train.isClassification ? position.epochCorrect / samples : nil,
                                     seconds: 0, samplesPerSecond: samplesThisSession / max(trainSeconds, 1e-9),
                                     learningRate: schedule.rate(atStep: max(position.step - 1, 0)), skippedSteps: skippedSteps)
            if let validation {
                let result = evaluate(validation)
                report.validationLoss = result.loss
                report.validationAccuracy = result.accuracy
            }
            if let test {
                let result = evaluate(test)
                report.testLoss = result.loss
                report.testAccuracy = result.accuracy
            }
            report.seconds = Date().timeIntervalSince(start)
            var stop = false
            if position.batchInEpoch == batches {
                stop = earlyStopping?.observe(epoch: position.epoch, validationLoss: report.validationLoss!, parameters: network.parameters) ?? false
                position = TrainingPosition(epoch: position.epoch + 1, step: position.step)
            }
            try onEpoch(report)
            try onCheckpoint?(position)
            if stop { break }
        }
        try checkParametersAgree()
    }

    /// What one step did, from the global sums over its mini-batch.
    public struct StepResult {
        public var lossSum: Double, samples: Double, correct: Double
        /// The loss or gradient was not finite: no update was applied.
        public var nonFinite: Bool
        public var interrupted: Bool
    }

    /// One synchronized step on the mini-batch at `positions` of this epoch's order.
    @discardableResult
    func step(positions: Range<Int>) -> StepResult {
        let shard = shardRange(count: positions.count, rank: communicator.rank, size: communicator.size)
        let shardPositions = positions.lowerBound + shard.lowerBound ..< positions.lowerBound + shard.upperBound
        var clock = PhaseClock()
        gather(positions: shardPositions, into: workspace)
        timings.gather += clock.lap()

        var local = (lossSum: 0.0, correct: 0)
        if !shard.isEmpty {
            local = network.forwardAndLoss(workspace, rows: shard.count)
            timings.forward += clock.lap()
        }
        let extras = reduction.extras
        extras[StepExtra.lossSum] = T(local.lossSum)
        extras[StepExtra.samples] = T(shard.count)
        extras[StepExtra.correct] = T(local.correct)
        extras[StepExtra.interrupted] = Interruption.received != 0 ? 1 : 0

        // Backward, then the sums of all ranks: one allreduce over the whole buffer, or one
        // non-blocking allreduce per layer started as soon as backward has produced it.
        let overlap = settings.allreduce == .overlap
        if shard.isEmpty {
            // Zero rows (n_b < P): this rank adds zeros, and still joins every collective.
            reduction.values.update(repeating: 0)
            if overlap {
                for l in stride(from: network.layout.layerCount, through: 1, by: -1) {
                    communicator.startAllreduceSum(reduction.layerSlice(l))
                }
            }
        } else {
            // A closure literal passed straight in: non-escaping, so nothing is allocated per step.
            network.backward(workspace, rows: shard.count, into: reduction) { l in
                if overlap { communicator.startAllreduceSum(reduction.layerSlice(l)) }
            }
            timings.backward += clock.lap()
        }
        switch settings.allreduce {
        case .single: communicator.allreduceSum(reduction.storage)
        case .overlap: communicator.waitForReductions()
        }
        timings.allreduce += clock.lap()

        // g = (Σ over all ranks' shards) / n_b: the exact mini-batch gradient.
        let samples = extras[StepExtra.samples]
        let gradientIsFinite = T.scaleCheckingFinite(reduction.values.baseAddress!, count: reduction.layout.count, by: 1 / samples)
        let result = StepResult(lossSum: Double(extras[StepExtra.lossSum]), samples: Double(samples), correct: Double(extras[StepExtra.correct]),
                                nonFinite: !(gradientIsFinite && extras[StepExtra.lossSum].isFinite), interrupted: extras[StepExtra.interrupted] > 0)
        // Every rank sees the same sums, so every rank takes the same branch.
        guard !result.nonFinite else { return result }
        if let maxNorm = settings.clipGradientNorm { clipGradientNorm(reduction, maxNorm: maxNorm) }
        optimizer.update(parameters: network.parameters, gradients: reduction, learningRate: schedule.rate(atStep: position.step))
        timings.update += clock.lap()
        timings.steps += 1
        return result
    }

    /// Copies the rows at `positions` of the epoch order into the workspace: X and targets.
    func gather(positions: Range<Int>, into workspace: Workspace<T>) {
        let rows = order.rows
        gather(count: positions.count, from: train, into: workspace) { rows[positions.lowerBound + $0] }
    }

    /// Copies rows `row(0)`, …, `row(count − 1)` of `data` into the workspace's first `count` rows.
    func gather(count: Int, from data: Dataset<T>, into workspace: Workspace<T>, row: (Int) -> Int) {
        let outputs = network.layout.outputCount
        data.copyFeatures(count: count, into: workspace.input, row: row)
        if data.isClassification {
            data.labels.withUnsafeBufferPointer { labels in
                for i in 0 ..< count { workspace.labels[i] = labels[row(i)] }
            }
        } else {
            data.targetValues.withUnsafeBufferPointer { targets in
                for i in 0 ..< count {
                    (workspace.targetValues + i * outputs).update(from: targets.baseAddress! + row(i) * outputs, count: outputs)
                }
            }
        }
    }

    /// Mean loss and accuracy over `data`, data-parallel: each rank evaluates a contiguous shard
    /// and one allreduce combines the sums.
    public func evaluate(_ data: Dataset<T>) -> (loss: Double, accuracy: Double?) {
        let shard = shardRange(count: data.rowCount, rank: communicator.rank, size: communicator.size)
        var totals: [Double] = [0, 0]
        var start = shard.lowerBound
        while start < shard.upperBound {
            let end = min(start + evaluationWorkspace.capacity, shard.upperBound)
            gather(count: end - start, from: data, into: evaluationWorkspace) { [start] in start + $0 }
            let result = network.evaluate(evaluationWorkspace, rows: end - start)
            totals[0] += result.lossSum
            totals[1] += Double(result.correct)
            start = end
        }
        totals.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let n = Double(max(data.rowCount, 1))
        return (totals[0] / n, data.isClassification ? totals[1] / n : nil)
    }

    /// Fails on every rank if θ is not bit-identical on all ranks.
    public func checkParametersAgree() throws {
        let checksum = fingerprint(UnsafeRawBufferPointer(network.parameters.values))
        let high = Double(checksum >> 32), low = Double(checksum & 0xFFFF_FFFF)
        // max of x and of −x over ranks gives max and −min in one collective.
        var bounds = [high, low, -high, -low]
        bounds.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
        if bounds[0] != -bounds[2] || bounds[1] != -bounds[3] {
            throw AgreedFailure(message: "parameters differ between ranks at step \(position.step) (checksum mismatch): the ranks drifted apart", reportingRank: 0)
        }
    }
}
