import Foundation

/// The data-parallel training loop.
///
/// Each step: gather this rank's shard of the global mini-batch → forward → loss → backward
/// (sums over the shard) → the reduction of [gradient sums | loss sum | counts | Σ wᵢ] the way
/// the run's `GradientExchange` says → divide by Σ wᵢ (the sample count without weights) →
/// clip (optional) → optimizer update at the schedule's learning rate, identical on every rank
/// (sharded: each rank its slice of θ, then the slices gathered).
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
        /// The hidden layers' dropout rates (`Dropout`); empty: none.
        public var dropout: [Double] = []
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
    /// The learning rate of each step; `plateau` also moves with the epochs' losses.
    public var schedule: LearningRateSchedule
    /// Stops training when the validation loss stops improving (needs `validation`).
    public var earlyStopping: EarlyStopping<T>?
    let train: Dataset<T>
    let validation: Dataset<T>?
    let test: Dataset<T>?
    /// The step's reduction of the ranks' sums, the way `exchange` says.
    let reduction: GradientReduction<T>
    /// How the ranks' gradient sums are combined.
    public var exchange: GradientExchange { reduction.exchange }
    /// Each rank updates only its slice of θ (a sharded exchange on more than one rank).
    public var isUpdateSharded: Bool { reduction.shards != nil }
    let workspace: Workspace<T>
    let evaluationWorkspace: Workspace<T>
    var order: EpochOrder
    /// Where this rank's step time went (summed; reset it at will).
    public var timings = StepTimings()
    /// Steps of the current epoch skipped for non-finite values.
    var skippedSteps = 0
    /// Where training stands; set it before `run` to resume.
    public var position = TrainingPosition()

    /// A trainer whose steps combine the ranks' sums the way `exchange` says. `--reproducible`'s
    /// exact sums give rank-independent bits only with one BLAS thread per rank: the run sets it.
    public init(network: Network<T>, optimizer: OptimizerSettings, schedule: LearningRateSchedule, train: Dataset<T>,
                validation: Dataset<T>? = nil, test: Dataset<T>?, settings: Settings, exchange: GradientExchange = .allreduce,
                communicator: Communicator) {
        precondition(settings.batchSize > 0 && settings.epochs > 0)
        precondition(train.featureCount == network.layout.inputCount && train.outputCount == network.layout.outputCount)
        self.network = network
        // A batch is never larger than the dataset.
        let capacity = exchange.largestShard(batchRows: min(settings.batchSize, train.rowCount), ranks: communicator.size)
        reduction = GradientReduction(exchange, fallback: exchange.fallback(optimizer: optimizer), layout: network.layout,
                                      communicator: communicator, clipping: settings.clipGradientNorm != nil, shardCapacity: capacity)
        reduction.adopt(network.parameters)
        self.optimizer = Optimizer(settings: optimizer, layout: network.layout, slice: reduction.slice)
        self.optimizer.streamsParameters = reduction.node != nil
        self.schedule = schedule
        self.train = train
        self.validation = validation
        self.test = test
        self.settings = settings
        self.communicator = communicator
        workspace = Workspace(layout: network.layout, capacity: capacity)
        if settings.dropout.contains(where: { $0 > 0 }) {
            workspace.dropout = Dropout(rates: settings.dropout, seed: settings.seed, layout: network.layout, capacity: capacity)
        }
        // A chunk holds at most the rows evaluated: memory bounded by the data, whatever --chunk-rows.
        let evaluatedRows = max(validation?.rowCount ?? 0, test?.rowCount ?? 0)
        evaluationWorkspace = Workspace(layout: network.layout, capacity: max(1024, min(exchange.chunkRows ?? 0, evaluatedRows)))
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
        Interruption.deferUntilStep()
        let start = Date()
        let batches = batchesPerEpoch
        func stepsExhausted() -> Bool { settings.maxSteps.map { position.step >= $0 } ?? false }

        // A run resumed after an epoch's last batch (interrupted before its evaluation) ends that epoch first.
        while position.epoch <= settings.epochs, !stepsExhausted() || position.batchInEpoch == batches {
            order.prepare(epoch: position.epoch)
            let epochStart = Date()
            var samplesThisSession = 0.0
            skippedSteps = 0
            while position.batchInEpoch < batches, !stepsExhausted() {
                let positions = EpochOrder.batchRange(position.batchInEpoch, rowCount: train.rowCount, batchSize: settings.batchSize)
                communicator.recordPhase(.training, step: position.step + 1)
                let totals = self.step(positions: positions)
                if totals.nonFinite && !settings.skipNonFiniteSteps {
                    throw AgreedFailure(message: "non-finite loss or gradient at step \(position.step + 1) (epoch \(position.epoch)): "
                        + "training stopped before applying it; the last checkpoint is intact. Try a smaller --learning-rate, "
                        + "--clip-grad-norm, or --on-nonfinite skip-step", reportingRank: 0,
                                         exitCode: ExitStatus.diverged)
                }
                position.batchInEpoch += 1
                position.step += 1
                samplesThisSession += totals.samples
                if totals.nonFinite {
                    skippedSteps += 1
                } else {
                    position.epochLossSum += totals.lossSum
                    position.epochSamples += totals.samples
                    position.epochWeightSum += totals.weightSum
                    position.epochCorrect += totals.correct
                }
                if totals.interrupted { throw TrainingInterrupted(position: position, signal: totals.signal) }
                if settings.checksumEvery > 0, position.step % settings.checksumEvery == 0 { try checkParametersAgree() }
                onStep(position, batches)
                if let onCheckpoint, settings.checkpointEvery > 0, position.step % settings.checkpointEvery == 0,
                   position.batchInEpoch < batches, !stepsExhausted() {
                    try onCheckpoint(position)
                }
            }
            let trainSeconds = Date().timeIntervalSince(epochStart)
            let samples = max(position.epochSamples, 1)
            var report = EpochReport(epoch: position.epoch, step: position.step,
                                     trainLoss: position.epochLossSum / (position.epochWeightSum > 0 ? position.epochWeightSum : samples),
                                     trainAccuracy: train.isClassification ? position.epochCorrect / samples : nil,
                                     seconds: 0, samplesPerSecond: samplesThisSession / max(trainSeconds, 1e-9),
                                     learningRate: schedule.rate(atStep: max(position.step - 1, 0)), skippedSteps: skippedSteps)
            report.parametersFingerprint = fingerprint(UnsafeRawBufferPointer(network.parameters.values))
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
                schedule.epochEnded(loss: report.validationLoss ?? report.trainLoss, steps: position.step)
                stop = earlyStopping?.observe(epoch: position.epoch, validationLoss: report.validationLoss!,
                                              parameters: network.parameters) ?? false
                position = TrainingPosition(epoch: position.epoch + 1, step: position.step)
            }
            try onEpoch(report)
            try onCheckpoint?(position)
            if stop { break }
        }
        try checkParametersAgree()
    }

}
