import Foundation

/// Runs `mlp sweep` on this rank: splits the world into groups of `ranksPerTrial` ranks, which
/// take trials from a shared queue (`WorkQueue`) and train each fold of each as `mlp train` would
/// (`runTraining` on the fold's rows, then `runEvaluation` on its held-out rows); world rank 0
/// records every trial in `--results` as it finishes. With `--halving`, round by round. At the
/// end the results are ranked, the table printed, and with `--save` the best trial refit on all
/// of `--train` by every rank. A trial that fails is recorded and the others go on; a signal
/// stops every group after a step, each keeping its checkpoints, and the same command continues.
public func runSweep(_ plan: SweepPlan, communicator world: Communicator, output: TrainingOutput) throws {
    guard world.size % plan.ranksPerTrial == 0 else {
        throw AgreedFailure(message: "--ranks-per-trial \(plan.ranksPerTrial) does not divide the \(world.size) ranks into groups: "
                            + "give a divisor of \(world.size)", reportingRank: 0, exitCode: ExitStatus.usage)
    }
    try world.agree { if world.rank == 0 { try plan.checkOutputs() } }
    let data = try world.agree { try SweepData(plan) }
    let results = try world.agree { world.rank == 0 ? try SweepResults(plan, data: data, output: output) : nil }
    let sweep = Sweep(plan, data: data, world: world, results: results, output: output)
    try sweep.run()
}

/// The data a sweep splits: the folds, or the size of the data the validation split is taken from,
/// and the sweep's identity (which depends on the data's values).
struct SweepData {
    let folds: Folds?
    let rowCount: Int
    let identity: String

    /// Reads `--train` as the trials read it (every rank, the same): a table with categories or
    /// gaps as a table, its rows those `mlp train` counts.
    init(_ plan: SweepPlan) throws {
        let base = plan.base
        let startingModel = try base.initFrom.map { try ModelFile.read(path: $0) }
        var configuration = try base.given(over: .defaults(train: base.train!), resuming: nil)
        configuration.loss = base.loss ?? startingModel?.loss ?? TrainOptionTable.loss.declaredDefault
        let kind: TargetKind = configuration.loss == .crossEntropy ? .classes(classNames: nil) : .values
        let (labels, classNames, rows, fingerprint): ([Int32], [String], Int, UInt64)
        switch try TrainingData<Double>.loadTraining(configuration, start: Start(model: startingModel), kind: kind, rank: 0, ranks: 1) {
        case .dataset(let data): (labels, classNames, rows, fingerprint) = (data.labels, data.classNames, data.rowCount, data.fingerprint)
        case .table(let table): (labels, classNames, rows, fingerprint) = (table.labels, table.classNames, table.rowCount, table.fingerprint)
        }
        folds = try plan.folds.map { folds in
            classNames.isEmpty ? try Folds.plain(rowCount: rows, folds: folds)
                : try Folds.stratified(labels: labels, classNames: classNames, folds: folds)
        }
        rowCount = rows
        identity = plan.identity(data: fingerprint, rows: rows)
    }

    /// The rows a trial's fold `k` trains on (nil: all, of which `mlp train` holds out the
    /// validation split itself) and the rows it is scored on.
    func rows(fold k: Int, of trial: Trial) -> (training: [Int]?, heldOut: [Int]) {
        if let folds { return (folds.trainingRows(k), folds.heldOut[k]) }
        let split = Dataset<Float>.validationRows(rowCount: rowCount, fraction: trial.options.validationSplit!,
                                                  seed: trial.options.seed ?? TrainOptionTable.seed.declaredDefault)
        return (nil, split.validation)
    }
}

/// One rank's part of a sweep.
final class Sweep {
    let plan: SweepPlan
    let data: SweepData
    let world: Communicator
    /// This rank's group, and its number.
    let group: Communicator
    let groupIndex: Int
    /// World rank 0's record of the trials; nil elsewhere.
    let results: SweepResults?
    let output: TrainingOutput
    let schedule: HalvingSchedule?

    init(_ plan: SweepPlan, data: SweepData, world: Communicator, results: SweepResults?, output: TrainingOutput) {
        (self.plan, self.data, self.world, self.results, self.output) = (plan, data, world, results, output)
        groupIndex = world.rank / plan.ranksPerTrial
        group = world.split(color: groupIndex, key: world.rank)
        schedule = plan.schedule
    }

    func run() throws {
        if let results { output.line(results.describe(groups: world.size / plan.ranksPerTrial, ranksPerGroup: plan.ranksPerTrial)) }
        // From here a signal stops the trials after a step, each keeping its checkpoint.
        Interruption.deferUntilStep()
        var signal: Int32 = 0
        for round in 0 ..< (schedule?.rounds ?? 1) {
            let pending = results?.pending(round: round, schedule: schedule) ?? []
            let queue = try world.workQueue(items: pending) { [results] record in results?.receive(record) }
            do { try takeTrials(from: queue, round: round) } catch let failure as AgreedFailure where failure.exitCode > 128 {}
            queue.close()
            var received = [Double(Interruption.received)]
            received.withUnsafeMutableBufferPointer { world.allreduceMax($0) }
            signal = Int32(received[0])
            if signal != 0 { break }
        }
        try world.agree { try results?.finish(complete: signal == 0) }
        // [trials that succeeded, the best trial]: rank 0 knows them.
        var summary = [Double(results?.succeeded ?? 0), Double(results?.best?.trial ?? -1)]
        summary.withUnsafeMutableBufferPointer { world.broadcast($0) }
        if signal != 0 {
            throw AgreedFailure(message: "interrupted by \(Interruption.name(signal)): \(results?.progress ?? ""); "
                                + "each unfinished trial kept its checkpoints in \(plan.directory): run the same command again to continue",
                                reportingRank: 0, exitCode: ExitStatus.interrupted(by: signal))
        }
        guard summary[0] > 0 else {
            throw AgreedFailure(message: "no trial succeeded: \(results?.failureSummary ?? "")", reportingRank: 0,
                                exitCode: ExitStatus.noTrialSucceeded)
        }
        if plan.base.save != nil { try refit(plan.trials[Int(summary[1])]) }
    }

    /// This group takes trials until none is left (or a signal came): its leader asks the queue,
    /// reporting the record of the trial it finished, and tells the group.
    private func takeTrials(from queue: WorkQueue, round: Int) throws {
        var finished: [UInt8]?
        while true {
            var item = [-1.0]
            if group.rank == 0 {
                item[0] = queue.next(reporting: finished).map(Double.init) ?? -1
                // A signal: take no more; the trial just taken stays for the next run.
                if Interruption.received != 0 { item[0] = -1 }
            }
            finished = nil
            item.withUnsafeMutableBufferPointer { group.broadcast($0) }
            guard item[0] >= 0 else { return }
            let record = try runTrial(plan.trials[Int(item[0])], round: round)
            if group.rank == 0 { finished = Array(record.line.utf8) }
        }
    }

    /// Trains and scores every fold of `trial`; a failure is its record, only a signal is thrown.
    private func runTrial(_ trial: Trial, round: Int) throws -> TrialRecord {
        let start = Date()
        var scores: [Double?] = [], epochs = 0
        func record(_ status: TrialRecord.Status, _ error: String? = nil) -> TrialRecord {
            TrialRecord(trial: trial.index, round: schedule == nil ? nil : round, parameters: trial.parameters, status: status,
                        error: error, foldScores: scores, epochs: epochs, seconds: Date().timeIntervalSince(start), group: groupIndex,
                        sweep: data.identity)
        }
        do {
            try group.agree { if group.rank == 0 { try makeDirectory(plan.trialDirectory(trial.index)) } }
            for fold in 0 ..< (data.folds?.count ?? 1) {
                let result = try runFold(fold, of: trial, round: round)
                scores.append(result.score)
                epochs = max(epochs, result.epochs)
            }
            return record(.ok)
        } catch let failure as AgreedFailure where failure.exitCode > 128 {
            throw failure
        } catch let failure as AgreedFailure {
            let status: TrialRecord.Status = failure.exitCode == ExitStatus.diverged ? .diverged
                : [ExitStatus.badInput, ExitStatus.usage].contains(failure.exitCode) ? .refused : .failed
            // The rank that hit it holds the message.
            if failure.reportingRank != 0, group.rank == failure.reportingRank {
                StandardStreams.writeError("mlp: note: trial \(trial.index): \(failure.message)\n")
            }
            return record(status, failure.reportingRank == 0 ? failure.message
                            : "rank \(failure.reportingRank) of group \(groupIndex) failed (its standard error says why)")
        } catch let error as InputError {
            return record(.refused, error.message)
        } catch {
            return record(.failed, "\(error)")
        }
    }

    /// How often a fold writes its checkpoint: at most this much of a fold's training is lost when
    /// a rank dies; a signal, a halving round's end and the fold's end write one regardless.
    static let checkpointSeconds = 30.0

    /// Fold `fold` of `trial`: `mlp train` on its training rows (continued from its checkpoint
    /// when there is one; with `--halving` to the round's budget), then its model scored on its
    /// held-out rows. A fold done before (this round, or for good) gives its score again.
    private func runFold(_ fold: Int, of trial: Trial, round: Int) throws -> FoldResult {
        let files = FoldFiles(directory: plan.trialDirectory(trial.index), fold: fold)
        if let done = try group.agreedValue({ try FoldResult.read(files.result, sweep: data.identity) }),
           done.round >= round || done.complete {
            return done
        }
        var options = trial.options
        options.test = nil
        (options.save, options.metrics, options.checkpoint) = (files.model, files.metrics, files.checkpoint)
        options.resume = TrainingOptions.automaticResume
        let rows = data.rows(fold: fold, of: trial)
        let budget = schedule?.epochs[round]
        let pause = budget.map { $0 * stepsPerEpoch(trial, trainingRows: rows.training?.count ?? data.rowCount) }
        let reports = try runTraining(options, rows: rows.training, pauseAfterStep: pause,
                                      checkpointSeconds: Self.checkpointSeconds, communicator: group,
                                      output: TrainingOutput(line: { _ in }))
        // The held-out rows are rows of the training data (MNIST's training split, the trial's spirals).
        let evaluation = try runEvaluation(model: files.model, data: plan.base.train!, rows: rows.heldOut,
                                           trainingSeed: trial.options.seed ?? TrainOptionTable.seed.declaredDefault,
                                           targetColumns: plan.base.targetColumns, loss: nil, activation: nil,
                                           chunkRows: trial.options.reproducible == true ? 64 : nil, communicator: group)
        let epochs = trial.options.epochs ?? TrainOptionTable.epochs.declaredDefault
        // Stopped before the budget: early stopping ended it for good.
        let stoppedEarly = pause.map { pause in reports.last.map { $0.step < pause } ?? false } ?? true
        let result = FoldResult(round: round, score: evaluation.score, epochs: reports.last?.epoch ?? budget ?? epochs,
                                complete: stoppedEarly || budget == epochs)
        try group.agree { if group.rank == 0 { try result.write(to: files.result, sweep: data.identity) } }
        return result
    }

    /// S of a fold: its training rows less the validation split, in batches of the trial's size.
    private func stepsPerEpoch(_ trial: Trial, trainingRows rows: Int) -> Int {
        let training = trial.options.validationSplit.map { fraction in
            Dataset<Float>.validationRows(rowCount: rows, fraction: fraction,
                                          seed: trial.options.seed ?? TrainOptionTable.seed.declaredDefault).training.count
        } ?? rows
        return EpochOrder.batchCount(rowCount: training, batchSize: trial.options.batchSize ?? TrainOptionTable.batchSize.declaredDefault)
    }

    /// `mlp train` with the best trial's options on all of `--train`, on every rank. A run
    /// stopped during it does it again: the trials are read back, the refit starts anew.
    private func refit(_ trial: Trial) throws {
        let options = trial.options
        let values = trial.parameters.map { "--\($0.name) \($0.value)" }.joined(separator: " ")
        if world.rank == 0 { output.line("refit of trial \(trial.index)\(values.isEmpty ? "" : " (\(values))") on all of --train") }
        do {
            try runTraining(options, communicator: world, output: output)
        } catch var failure as AgreedFailure where failure.exitCode > 128 {
            failure.message = "interrupted during the refit of trial \(trial.index): every trial is in \(plan.results); "
                + "run the same command again to refit"
            throw failure
        }
    }
}

/// The files of one fold of one trial in the sweep's directory.
struct FoldFiles {
    let model, checkpoint, metrics, result: String

    init(directory: String, fold: Int) {
        let stem = joinPath(directory, "fold-\(fold)")
        (model, checkpoint, metrics, result) = (stem + ".safetensors", stem + ".checkpoint", stem + ".jsonl", stem + ".json")
    }
}

/// A fold's score once it has trained (to a round's budget): kept beside its model, so that a
/// sweep run again, or the next round, does not train it again.
struct FoldResult: Equatable {
    var round: Int
    var score: Double?
    var epochs: Int
    /// Trained to the end (its epochs, or early stopping ended it): no later round trains it more.
    var complete: Bool

    func write(to path: String, sweep: String) throws {
        let scoreText = score.flatMap { $0.isFinite ? "\($0)" : nil } ?? "null"
        let text = "{\"sweep\":\(SafeTensors.jsonString(sweep)),\"round\":\(round),\"score\":\(scoreText),"
            + "\"epochs\":\(epochs),\"complete\":\(complete)}\n"
        try writeFileAtomically(Array(text.utf8), to: path)
    }

    /// The result at `path` of this sweep; nil when there is none.
    static func read(_ path: String, sweep: String) throws -> FoldResult? {
        guard access(path, F_OK) == 0 else { return nil }
        let bytes = Data(try readFileBytes(path))
        guard let object = try JSONSerialization.jsonObject(with: bytes) as? [String: Any],
              object["sweep"] as? String == sweep, let round = (object["round"] as? NSNumber)?.intValue,
              let epochs = (object["epochs"] as? NSNumber)?.intValue, let complete = object["complete"] as? Bool else { return nil }
        return FoldResult(round: round, score: ExactScores.read(String(decoding: bytes, as: UTF8.self))?.score,
                          epochs: epochs, complete: complete)
    }

    /// As numbers for a broadcast, and back.
    var numbers: [Double] { [Double(round), score ?? .nan, Double(epochs), complete ? 1 : 0] }
    init(round: Int, score: Double?, epochs: Int, complete: Bool) {
        (self.round, self.score, self.epochs, self.complete) = (round, score, epochs, complete)
    }
    init(numbers: [Double]) {
        self.init(round: Int(numbers[0]), score: numbers[1].isNaN ? nil : numbers[1], epochs: Int(numbers[2]), complete: numbers[3] != 0)
    }
}

extension Communicator {
    /// Rank 0's fold result for every rank: read once, so that ranks on hosts whose file systems
    /// differ still decide alike.
    func agreedValue(_ read: () throws -> FoldResult?) throws -> FoldResult? {
        let value = try agree { rank == 0 ? try read() : nil }
        var numbers = [value == nil ? 0 : 1] + (value?.numbers ?? [0, 0, 0, 0])
        numbers.withUnsafeMutableBufferPointer { broadcast($0) }
        return numbers[0] == 0 ? nil : FoldResult(numbers: Array(numbers.dropFirst()))
    }
}

/// Makes `path` a directory unless it is one (its parent must exist).
func makeDirectory(_ path: String) throws {
    var info = stat()
    if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return }
    guard mkdir(path, 0o777) == 0 || errno == EEXIST else { throw WriteError(path: path, code: errno, step: "making the directory") }
}

extension Evaluation {
    /// scikit-learn's `score`: accuracy for a classifier; for a regressor R², the mean over the
    /// targets (`multioutput='uniform_average'`), a constant target's R² being 1 when predicted
    /// exactly and 0 otherwise (`force_finite`).
    var score: Double? {
        if let classification { return classification.accuracy }
        guard let regression, !regression.r2.isEmpty else { return nil }
        let values = zip(regression.r2, regression.meanSquaredError).map { r2, error in r2.isNaN ? (error == 0 ? 1 : 0) : r2 }
        let mean = values.reduce(0, +) / Double(values.count)
        return mean.isFinite ? mean : nil
    }
}
