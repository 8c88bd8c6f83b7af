import Foundation

/// Runs `mlp train` on this rank: read the checkpoint or starting model and decide the
/// configuration (all ranks agree on failure before training starts), load the data, train,
/// write checkpoints and the model. `options` have passed `validate()`. `output` receives rank
/// 0's lines. For `mlp sweep`: `rows`, train on these rows of `--train` alone, in file order (a
/// fold), as `mlp train` on a file of them would; `pauseAfterStep`, stop there and write the
/// checkpoint, the schedule still that of the whole run (a round of successive halving);
/// `checkpointSeconds`, write the epochs' checkpoints at most this often (`checkpointDue`).
/// Returns the per-epoch reports (the same on every rank).
@discardableResult
public func runTraining(_ options: TrainingOptions, rows: [Int]? = nil, pauseAfterStep: Int? = nil,
                        checkpointSeconds: Double? = nil, communicator: Communicator, output: TrainingOutput) throws -> [EpochReport] {
    // Rank 0 writes the outputs: it checks their paths before any work (the others' may differ).
    try communicator.agree {
        if communicator.rank == 0 { try checkTrainingOutputs(save: options.save, checkpoint: options.checkpoint, metrics: options.metrics) }
    }
    // --resume auto: the checkpoint if it exists (checked as an output above: not a directory or stream).
    let freshAutomaticStart = options.resume == TrainingOptions.automaticResume
    let options = options.resolvingAutomaticResume()
    // Every rank reads the files itself; they agree on whether that worked.
    let (checkpoint, startingModel) = try communicator.agree {
        (try options.resume.map { try Checkpoint.read(path: $0) }, try options.initFrom.map { try ModelFile.read(path: $0) })
    }
    var configuration = try communicator.agree { try options.resolve(resuming: checkpoint, startingModel: startingModel) }
    configuration.trainRows = rows
    configuration.pauseAfterStep = pauseAfterStep
    configuration.checkpointSeconds = checkpointSeconds
    // No output may be a file the run reads, or another output (every rank checks the same paths).
    try communicator.agree { try configuration.refuseOverlappingFiles() }
    let starting = Start(checkpoint: checkpoint, model: checkpoint?.model ?? startingModel,
                         freshAutomaticStart: freshAutomaticStart && checkpoint == nil)
    switch configuration.precision {
    case .float32: return try TrainingRun<Float>(configuration, starting, communicator: communicator, output: output).run()
    case .float64: return try TrainingRun<Double>(configuration, starting, communicator: communicator, output: output).run()
    }
}

/// Where rank 0's output goes: whole lines, and (on a terminal) a progress line redrawn in place.
public struct TrainingOutput {
    public var line: (String) -> Void
    public var progress: ((String) -> Void)?
    public init(line: @escaping (String) -> Void, progress: ((String) -> Void)? = nil) {
        self.line = line
        self.progress = progress
    }
}

/// What a run starts from: the checkpoint it resumes, and the model whose θ it starts with
/// (the checkpoint's or `--init-from`'s); nil: initialize from the seed.
struct Start {
    var checkpoint: Checkpoint?
    var model: ModelFile?
    /// `--resume auto` found no checkpoint: the run starts from the beginning.
    var freshAutomaticStart = false
}

/// One `mlp train` on one rank, in one precision.
final class TrainingRun<T: Scalar> {
    let configuration: TrainingConfiguration
    let start: Start
    let communicator: Communicator
    let output: TrainingOutput
    var isRoot: Bool { communicator.rank == 0 }

    init(_ configuration: TrainingConfiguration, _ start: Start, communicator: Communicator, output: TrainingOutput) {
        self.configuration = configuration
        self.start = start
        self.communicator = communicator
        self.output = output
    }

    func run() throws -> [EpochReport] {
        // Everything that can fail on bad input, agreed on by all ranks.
        let data = try communicator.agree {
            try TrainingData<T>(configuration, start: start, rank: communicator.rank, ranks: communicator.size,
                                ranksOnThisHost: communicator.node.ranksOnNode)
        }
        // Every rank has the same options, starting model and data, or nothing is written.
        try communicator.agreeAtStart(startItems(data))
        let network = Network<T>(layerSizes: data.layerSizes, activation: configuration.activation, loss: configuration.loss)
        let metrics: MetricsWriter? = try communicator.agree {
            guard isRoot else { return nil }
            // Again after reading the data, which may take long: a directory may have gone meanwhile.
            try checkTrainingOutputs(save: configuration.save, checkpoint: configuration.checkpoint, metrics: nil)
            return try configuration.metrics.map { try MetricsWriter(path: $0, resumingAt: start.checkpoint?.position.step) }
        }
        if let model = start.model { model.load(into: network) } else { network.initialize(seed: configuration.seed) }
        // Rank 0's θ for everyone: identical parameters even if hosts' math libraries differ.
        communicator.broadcast(network.parameters.values)

        let trainer = try makeTrainer(network, data)
        if isRoot {
            output.line(describe(network, data) + (exchangeNote(trainer).map { "\n" + $0 } ?? "") + "\n"
                        + describeOptimization(validation: data.validation))
        }
        let reports = try train(trainer, data, metrics: metrics)

        if let earlyStopping = trainer.earlyStopping {
            // --save writes the best epoch's θ.
            earlyStopping.restoreBest(into: network.parameters)
            if isRoot { output.line(describe(earlyStopping, lastEpoch: reports.last?.epoch ?? 0)) }
        }
        if let save = configuration.save {
            try refuseNonFiniteParameters(trainer, after: trainer.position.step)
            communicator.recordPhase(.output, step: trainer.position.step)
            try communicator.agreeSharingExitStatus {
                guard isRoot else { return }
                do { try modelFile(trainer, data).write(to: save) } catch let error as WriteError {
                    throw WriteError("--save: \(error.message): the trained model is not saved" + advice(error), code: error.code)
                }
                output.line("saved \(save)")
            }
        }
        if isRoot, let path = configuration.checkpoint { output.line("checkpoint \(path): continue with --resume \(path) --epochs N") }
        return reports
    }

    /// The trainer, its optimizer and early stopping, with the checkpoint's state when resuming.
    func makeTrainer(_ network: Network<T>, _ data: TrainingData<T>) throws -> Trainer<T> {
        let exchange = configuration.exchange
        // A BLAS call's bits depend on its thread count: the exact sums need one, on every rank.
        if exchange.chunkRows != nil { BLASInfo.threads = 1 }
        let trainer = Trainer(network: network, optimizer: configuration.optimizer,
                              schedule: configuration.learningRateSchedule(trainingRows: data.train.rowCount),
                              train: data.train, validation: data.validation, test: data.test,
                              settings: Trainer<T>.Settings(configuration), exchange: exchange, communicator: communicator)
        trainer.earlyStopping = configuration.earlyStopping.map { EarlyStopping(patience: $0, layout: network.layout) }
        if let checkpoint = start.checkpoint {
            trainer.position = checkpoint.position
            if let plateau = checkpoint.plateau { trainer.schedule.plateau = plateau }
            try communicator.agree {
                do {
                    try checkpoint.restore(optimizer: trainer.optimizer, earlyStopping: trainer.earlyStopping)
                } catch let error as InputError {
                    throw InputError("\(configuration.resume ?? "the checkpoint"): \(error.message)")
                }
            }
        }
        // Until a checkpoint is written, a stalled job continues from the one it resumed.
        communicator.collectiveRecord?.trainingStarted(
            from: configuration.resume.map { CheckpointFile(path: $0, step: trainer.position.step) })
        return trainer
    }

    /// Trains to the end, printing and recording each epoch; on SIGINT or SIGTERM writes a
    /// checkpoint and fails with the command that continues.
    func train(_ trainer: Trainer<T>, _ data: TrainingData<T>, metrics: MetricsWriter?) throws -> [EpochReport] {
        var reports: [EpochReport] = []
        let progress = isRoot ? output.progress.map { ProgressLine(epochs: configuration.epochs, draw: $0) } : nil
        var pacing = CheckpointPacing(interval: configuration.checkpointSeconds)
        do {
            try trainer.run(onStep: { position, batches in progress?.update(position, batchesPerEpoch: batches) },
                            onCheckpoint: configuration.checkpoint.map { path in
                                { position in
                                    guard self.checkpointDue(at: position, trainer, pacing) else { return }
                                    try self.writeCheckpoint(trainer, data, to: path, at: position)
                                    pacing.written()
                                } }) { report in
                reports.append(report)
                communicator.recordPhase(.output, step: report.step)
                try communicator.agreeSharingExitStatus {
                    guard isRoot else { return }
                    progress?.clear()
                    output.line(format(report))
                    do { try metrics?.append(report) } catch let error as WriteError {
                        let message = "--metrics: \(error.message) (epoch \(report.epoch)); its earlier lines are intact"
                        throw WriteError(message + advice(error), code: error.code)
                    }
                }
            }
        } catch let interruption as TrainingInterrupted {
            // Every rank stopped after the same step: keep the work, then say how to go on.
            progress?.clear()
            let name = Interruption.name(interruption.signal)
            let path: String
            do {
                path = try writeCheckpoint(trainer, data, to: configuration.checkpoint, at: interruption.position)
            } catch var failure as AgreedFailure {
                failure.message = "interrupted by \(name) after step \(interruption.position.step), and the " + failure.message
                throw failure
            }
            throw AgreedFailure(message: "interrupted by \(name) after step \(interruption.position.step) "
                + "(epoch \(interruption.position.epoch)); checkpoint written to \(path); continue with: mlp train --resume \(path)",
                                reportingRank: 0, exitCode: ExitStatus.interrupted(by: interruption.signal))
        }
        return reports
    }

    /// Whether the epoch-end checkpoint at `position` is written (`CheckpointPacing`), agreed by
    /// every rank: rank 0's clock decides and it shares the answer.
    func checkpointDue(at position: TrainingPosition, _ trainer: Trainer<T>, _ pacing: CheckpointPacing) -> Bool {
        guard pacing.interval != nil else { return true }
        let stopping = position.epoch > configuration.epochs || trainer.settings.maxSteps.map({ position.step >= $0 }) == true
        var due = [isRoot && pacing.isDue(stopping: stopping) ? 1.0 : 0]
        due.withUnsafeMutableBufferPointer { communicator.broadcast($0) }
        return due[0] > 0
    }

    func modelFile(_ trainer: Trainer<T>, _ data: TrainingData<T>) -> ModelFile {
        var file = ModelFile(network: trainer.network, data: data.train, standardization: data.standardization,
                             preprocessing: data.preprocessing)
        file.sampleWeightColumn = configuration.sampleWeight
        return file
    }

    /// Rank 0 writes the checkpoint at `position` to `path`, or, with none (an interrupted run
    /// without `--checkpoint`), to a new file named like `interruptionCheckpointPath`; all ranks
    /// agree on whether that worked (a failed write: `ExitStatus.writeFailed` on every rank).
    /// Returns the path written (on rank 0).
    @discardableResult
    func writeCheckpoint(_ trainer: Trainer<T>, _ data: TrainingData<T>, to path: String?, at position: TrainingPosition) throws -> String {
        try refuseNonFiniteParameters(trainer, after: position.step)
        // For the collective watchdog's message: which checkpoint a stalled job continues from.
        let record = communicator.collectiveRecord
        communicator.recordPhase(.checkpoint, step: position.step)
        record?.checkpointStarted(CheckpointFile(path: path ?? interruptionCheckpointPath, step: position.step))
        let optimizerState = trainer.gatheredOptimizerState()
        let written = try communicator.agreeSharingExitStatus { () -> String in
            guard isRoot else { return path ?? interruptionCheckpointPath }
            let settings = Checkpoint.RunSettings(configuration, trainRows: data.trainRowsAsRead, trainFingerprint: data.trainFingerprint)
            var checkpoint = Checkpoint(model: modelFile(trainer, data), position: position, settings: settings)
            checkpoint.store(optimizerState: optimizerState, optimizerSteps: trainer.optimizer.stepCount,
                             earlyStopping: trainer.earlyStopping)
            checkpoint.plateau = trainer.schedule.plateau
            do {
                let written: String
                if let path {
                    try checkpoint.write(to: path)
                    written = path
                } else {
                    // A name the user did not give: never replace a file that has it.
                    written = try checkpoint.write(toNewFileNamedLike: interruptionCheckpointPath)
                }
                lastCheckpoint = (written, position.step)
                record?.checkpointWritten(CheckpointFile(path: written, step: position.step))
                return written
            } catch let error as WriteError {
                throw WriteError("checkpoint at step \(position.step): \(error.message)" + advice(error), code: error.code)
            }
        }
        // Rank 0 recorded it as soon as it was written.
        if !isRoot { record?.checkpointWritten(CheckpointFile(path: written, step: position.step)) }
        return written
    }

    /// Stops every rank, before a checkpoint or the model is written, when θ is not finite: an
    /// update overflowed (μ·v or γ·g past the precision's range) though g was finite, which the
    /// check before the update cannot see. θ is the same on every rank: each decides alike.
    func refuseNonFiniteParameters(_ trainer: Trainer<T>, after step: Int) throws {
        let theta = trainer.network.parameters.values
        guard !T.scaledValuesAreFinite(theta.baseAddress!, count: theta.count, by: 1, inPlace: false) else { return }
        let kept = lastCheckpoint.map { "\($0.path) (step \($0.step)) is intact" } ?? "no checkpoint was written"
        throw AgreedFailure(message: "the parameters are not finite after step \(step): an update overflowed (too large a --momentum or "
                            + "--learning-rate?); training stopped and nothing more is written; \(kept)",
                            reportingRank: 0, exitCode: ExitStatus.diverged)
    }

    /// The newest checkpoint of this run, or the `--resume` checkpoint when `--checkpoint`
    /// continues it in place: where a failed write leaves the user.
    lazy var lastCheckpoint: (path: String, step: Int)? = {
        guard let resume = configuration.resume, let path = configuration.checkpoint, let checkpoint = start.checkpoint,
              FileIdentity(resume) == FileIdentity(path) else { return nil }
        return (path, checkpoint.position.step)
    }()

    /// What to do about a failed write (its cause's remedy) and what it leaves to continue from.
    func advice(_ error: WriteError) -> String {
        guard let (path, step) = lastCheckpoint else { return "; no checkpoint was written: \(error.remedy), then run again" }
        return "; \(path) (step \(step)) is intact: \(error.remedy), then continue with: mlp train --resume \(path)"
    }

    /// Where an interrupted run without `--checkpoint` keeps its work: beside `--save`, else here;
    /// when a file has that name, `mlp-interrupted-1.safetensors` and so on.
    var interruptionCheckpointPath: String {
        return joinPath(configuration.save.map { splitPath($0).directory } ?? "", "mlp-interrupted.safetensors")
    }
}

extension Trainer.Settings {
    /// The trainer's part of a run's configuration.
    init(_ configuration: TrainingConfiguration) {
        let maxSteps = [configuration.maxSteps, configuration.pauseAfterStep].compactMap { $0 }.min()
        self.init(batchSize: configuration.batchSize, epochs: configuration.epochs, maxSteps: maxSteps,
                  seed: configuration.seed, shuffle: configuration.shuffle, checksumEvery: configuration.checksumEvery,
                  checkpointEvery: configuration.checkpointEvery, clipGradientNorm: configuration.clipGradientNorm)
        skipNonFiniteSteps = configuration.onNonFinite == .skipStep
        dropout = configuration.dropout
    }
}

/// When a run writes its epoch-end checkpoints: every epoch, or with `interval` (a sweep's folds,
/// where writing every epoch would double a small fold's time) where the run stops and otherwise
/// once `interval` seconds have passed since the last one. A signal writes one regardless.
struct CheckpointPacing {
    let interval: Double?
    private(set) var lastWritten: Date

    init(interval: Double?, start: Date = Date()) {
        self.interval = interval
        lastWritten = start
    }

    func isDue(stopping: Bool, now: Date = Date()) -> Bool {
        guard let interval, !stopping else { return true }
        return now.timeIntervalSince(lastWritten) >= interval
    }

    mutating func written(now: Date = Date()) { lastWritten = now }
}
