import Foundation

/// What the user asked `mlp sweep` for, as typed: the base (every `mlp train` option) and the
/// sweep's own options (`SweepOptionTable`). `resolve` checks everything that needs no file and
/// returns the `SweepPlan` the sweep works from.
public struct SweepOptions: Sendable {
    public var base: TrainingOptions
    /// The `--param`s, read.
    public var parameters: [SweepParameter] = []
    public var random: Int?
    public var sweepSeed: UInt64?
    public var folds: Int?
    public var ranksPerTrial: Int?
    public var halving: Double?
    public var sweepDirectory: String?
    public var results: String?

    public init(base: TrainingOptions) { self.base = base }

    /// Every check that needs no file, once, before any work: the sweep's own values against
    /// their ranges, the base's options that a sweep takes over, the parameters against the base,
    /// and each trial's options as `mlp train` checks them (a trial refused here is recorded, not
    /// run; when every trial is, the sweep is refused with the first one's reason).
    public func resolve(parse: TrainArgumentParser) throws -> SweepPlan {
        typealias Table = SweepOptionTable
        try Table.random.check(random)
        try Table.folds.check(folds)
        try Table.ranksPerTrial.check(ranksPerTrial)
        try Table.halving.check(halving)
        guard let results else { throw InputError("--results FILE.jsonl is required: the trials' scores, and what a rerun continues") }
        for (name, given) in [("--resume", base.resume), ("--checkpoint", base.checkpoint)] {
            if let given {
                throw InputError("\(name) \(given) does not apply to mlp sweep: each trial keeps its checkpoints in --sweep-dir, "
                    + "and running the same command again continues the sweep")
            }
        }
        if base.checkpointEvery != nil { throw InputError("--checkpoint-every does not apply to mlp sweep: each fold checkpoints in --sweep-dir at most every "
                                                          + "\(Int(Sweep.checkpointSeconds)) s and where it stops") }
        guard base.train != nil else { throw InputError("--train is required: the data every trial is trained and scored on") }
        for parameter in parameters where parameter.option.isGiven(base) {
            throw InputError("--param \(parameter.name) varies \(parameter.option.name), which the base also gives: give it in one place")
        }
        if sweepSeed != nil, random == nil { throw InputError("--sweep-seed seeds --random's draws: give --random N, or drop it") }
        let space = try SweepSpace(parameters: parameters, draws: random, seed: sweepSeed ?? Table.sweepSeed.declaredDefault)
        let varied = Set(parameters.map(\.option.name))
        if folds == nil, base.validationSplit == nil, !varied.contains(TrainOptionTable.validationSplit.name) {
            throw InputError("mlp sweep scores each trial on rows it did not train on: give --folds K, or --validation-split F")
        }
        if let halving {
            if let steps = base.maxSteps {
                throw InputError("--max-steps \(steps) does not apply with --halving \(halving): each round's budget stops its trials")
            }
            for name in [TrainOptionTable.epochs.name, TrainOptionTable.maxSteps.name] where varied.contains(name) {
                throw InputError("--param \(name.dropFirst(2)) cannot vary with --halving: epochs are the rounds' resource, "
                    + "up to the base's --epochs")
            }
        }
        let trials = try space.trials(base: base, parse: parse)
        var refusals: [Int: String] = [:]
        for trial in trials {
            do { try trial.options.validate() } catch let error as InputError { refusals[trial.index] = error.message }
        }
        if refusals.count == trials.count, let first = refusals[0] {
            throw InputError(trials.count == 1 ? first : "every trial is refused; trial 0: \(first)")
        }
        let directory = sweepDirectory ?? Self.defaultDirectory(results: results)
        let epochs = base.epochs ?? TrainOptionTable.epochs.declaredDefault
        let schedule = try halving.map { try HalvingSchedule(factor: $0, candidates: trials.count, epochs: epochs) }
        return SweepPlan(base: base, space: space, trials: trials, refusals: refusals, folds: folds,
                         ranksPerTrial: ranksPerTrial ?? Table.ranksPerTrial.declaredDefault, schedule: schedule,
                         epochs: epochs, results: results, directory: directory)
    }

    /// Beside the results file: its name without `.jsonl` (or `.json`), then `.trials`.
    static func defaultDirectory(results: String) -> String {
        let (directory, name) = splitPath(results)
        let stem = [".jsonl", ".json"].first { name.hasSuffix($0) && name.count > $0.count }.map { String(name.dropLast($0.count)) } ?? name
        return joinPath(directory, stem + ".trials")
    }
}

/// Everything one `mlp sweep` does, decided: the trials, how they are scored, how the ranks
/// share them, where the files go. Made once by `SweepOptions.resolve`.
public struct SweepPlan: Sendable {
    public let base: TrainingOptions
    public let space: SweepSpace
    public let trials: [Trial]
    /// The trials whose options `mlp train` refuses, with its message: recorded, never run.
    public let refusals: [Int: String]
    /// K of K-fold cross-validation; nil: each trial is scored on its validation split.
    public let folds: Int?
    public let ranksPerTrial: Int
    /// The successive-halving rounds; nil without `--halving`.
    public let schedule: HalvingSchedule?
    /// The base's epochs: the last round's budget with `--halving`.
    public let epochs: Int
    public let results: String
    public let directory: String

    public var halving: Double? { schedule?.factor }

    /// What makes two runs the same sweep, as 16 hexadecimal digits: the data's values, the
    /// scoring, the rounds, the base's options (but its outputs and test data) and every trial's
    /// values. A results file or trial directory of another sweep is not continued.
    public func identity(data: UInt64, rows: Int) -> String {
        var base = self.base
        (base.train, base.test, base.save, base.metrics, base.checksumEvery) = (nil, nil, nil, nil, nil)
        let trialsText = trials.map { $0.parameters.map { "\($0.name)=\($0.value)" }.joined(separator: " ") }.joined(separator: "\n")
        let text = "mlp sweep 1\ndata \(data) \(rows)\nfolds \(folds.map(String.init) ?? "none")\n"
            + "halving \(halving.map { "\($0)" } ?? "none")\nbase \(base)\n\(trialsText)"
        let digits = String(text.utf8.withContiguousStorageIfAvailable { fingerprint(UnsafeRawBufferPointer($0)) }
            ?? Array(text.utf8).withUnsafeBytes { fingerprint($0) }, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Refuses outputs that cannot be written (`OutputPath`) and outputs that are inputs or one another.
    func checkOutputs() throws {
        _ = try OutputPath(results, for: .sweepResults)
        _ = try OutputPath(directory, for: .sweepDirectory, shown: directoryShown)
        if let save = base.save { _ = try OutputPath(save, for: .sweepSave) }
        if let metrics = base.metrics { _ = try OutputPath(metrics, for: .metrics) }
        var reads = base.train!.files(option: "--train", labelsOption: "--train-labels")
            + (base.test?.files(option: "--test", labelsOption: "--test-labels") ?? [])
        if let initFrom = base.initFrom { reads.append(NamedFile("--init-from", initFrom)) }
        // The directory too: a file at its path would be one output over another.
        let writes = [("--results", results), ("--save", base.save), ("--metrics", base.metrics),
                      ("--sweep-dir", OutputPath.withoutTrailingSlashes(directory))]
            .compactMap { option, path in path.map { NamedFile(option, $0) } }
        try refuseOverlappingFiles(reads: reads, writes: writes)
    }

    /// How messages name the trials' directory: as given, or as the default the user did not give.
    var directoryShown: String {
        directory == SweepOptions.defaultDirectory(results: results)
            ? "the trials' directory \(directory) (beside --results; --sweep-dir names another)" : "--sweep-dir \(directory)"
    }

    /// Where trial `index`'s files go.
    func trialDirectory(_ index: Int) -> String {
        let digits = String(index)
        return joinPath(directory, "trial-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits)
    }
}
