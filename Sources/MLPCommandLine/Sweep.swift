import ArgumentParser
import MLP

// Option declarations here look alike: each declares one flag, as swift-argument-parser wants them.
// Flags, help and ranges are `SweepOptionTable`'s.
private typealias S = SweepOptionTable

/// `mlp sweep`: a hyperparameter search whose every trial is an exact `mlp train`.
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search hyperparameters: a grid, random draws or successive halving of mlp train runs, scored by cross-validation.",
        usage: "mlp sweep --train PATH --results FILE.jsonl [--param NAME=VALUES …] [--folds K] [--random N] [--halving F] "
            + "[--ranks-per-trial R] [--sweep-dir DIR] [any mlp train option]",
        discussion: """
            Every mlp train option is the base, the same for every trial; each --param varies one of them. Under mpirun the \
            ranks form groups of --ranks-per-trial ranks that take the trials from a shared queue. Each fold's model is \
            exactly what mlp train makes on that fold's rows. See docs/sweep.md.
            Examples:
              mlp sweep --train d.csv --standardize --folds 5 --param 'hidden=32|64,32' --param learning-rate=0.1,0.03 --results d.jsonl
              mpirun -n 4 mlp sweep --train d.csv --optimizer adam --folds 3 --random 20 --param learning-rate=log:1e-4..1e-1 --results r.jsonl
            """)

    @OptionGroup(title: "Base (every mlp train option; the same for every trial)")
    var base: Train

    @Option(name: S.param.long, help: S.param.argumentHelp)
    var param: [String] = []

    @Option(name: S.random.long, parsing: .unconditional, help: S.random.argumentHelp)
    var random: Int?

    @Option(name: S.sweepSeed.long, parsing: .unconditional, help: S.sweepSeed.argumentHelp)
    var sweepSeed: UInt64?

    @Option(name: S.folds.long, parsing: .unconditional, help: S.folds.argumentHelp)
    var folds: Int?

    @Option(name: S.ranksPerTrial.long, parsing: .unconditional, help: S.ranksPerTrial.argumentHelp)
    var ranksPerTrial: Int?

    @Option(name: S.halving.long, parsing: .unconditional, help: S.halving.argumentHelp)
    var halving: Double?

    @Option(name: S.sweepDir.long, help: S.sweepDir.argumentHelp)
    var sweepDir: String?

    @Option(name: S.results.long, help: S.results.argumentHelp)
    var results: String?

    /// The sweep as given, checked once (everything that needs no file).
    func plan() throws -> SweepPlan {
        // A value of a --param means what it means to mlp train: its own parser reads it.
        let parse: TrainArgumentParser = { arguments in
            do { return try Train.parse(arguments).given() } catch let error as InputError { throw error } catch {
                throw InputError(Train.message(for: error))
            }
        }
        var options = SweepOptions(base: try base.given())
        options.parameters = try param.map { try SweepParameter($0, parse: parse) }
        (options.random, options.sweepSeed, options.folds) = (random, sweepSeed, folds)
        (options.ranksPerTrial, options.halving, options.sweepDirectory, options.results) = (ranksPerTrial, halving, sweepDir, results)
        return try options.resolve(parse: parse)
    }

    func run() throws {
        // A bad option is a usage error, reported before MPI starts.
        let plan: SweepPlan
        do { plan = try self.plan() } catch let error as InputError { throw ValidationError(error.message) }
        Interruption.install(printing: MLPCommand.launcherRank == 0)
        try withCommunicator(collectiveTimeout: base.watchdog.timeout, multipleThreads: true) { communicator in
            warnAboutSlowKernels(communicator)
            try runSweep(plan, communicator: communicator, output: standardOutput)
        }
    }
}
