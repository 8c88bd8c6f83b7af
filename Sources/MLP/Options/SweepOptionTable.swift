/// The options of `mlp sweep` besides `mlp train`'s (its base), each declared once with its flag,
/// help, default and range, in the shape of `TrainOption` so that the range checks and the case
/// generator treat them as they treat `mlp train`'s. None is stored in a checkpoint; none may vary.
public enum SweepOptionTable {
    private static let own = SweepRule.fixed("an option of mlp sweep, not of mlp train")

    public static let param = TrainOption<String>(
        "--param",
        """
            NAME=V1,V2,…: a train option (without its dashes) and its values in the grid; values of list-valued options \
            separated by |, as hidden=64|128,64; flags take true,false. With --random also log:LOW..HIGH, lin:LOW..HIGH \
            or int:LOW..HIGH. Repeatable: the grid is the product.
            """,
        valueName: "name=values", given: nil, resume: .perRun, sweep: own)
    public static let random = TrainOption<Int>(
        "--random", "Draw this many trials from the --param ranges and lists instead of the grid.", valueName: "n",
        range: .counts(1 ... SweepSpace.largestTrialCount), given: nil, resume: .perRun, sweep: own)
    public static let sweepSeed = TrainOption<UInt64>(
        "--sweep-seed", "Seeds --random's draws (--seed stays every trial's training seed). (default: 0)", default: 0,
        given: nil, resume: .perRun, sweep: own)
    public static let folds = TrainOption<Int>(
        "--folds",
        """
            K-fold cross-validation: scikit-learn's StratifiedKFold (classification) or KFold (regression) without \
            shuffling; each fold trains on the others' rows. Without it, each trial is scored on its --validation-split rows.
            """,
        valueName: "k", range: .counts(2 ... TrainingOptions.largestCount), given: nil, resume: .perRun, sweep: own)
    public static let ranksPerTrial = TrainOption<Int>(
        "--ranks-per-trial",
        "Ranks that train each trial together; the ranks form P / R groups that take trials from a shared queue. (default: 1)",
        valueName: "r", default: 1, range: .positiveCount, given: nil, resume: .perRun, sweep: own)
    public static let halving = TrainOption<Double>(
        "--halving",
        """
            Successive halving with epochs as the resource (HalvingGridSearchCV's rule): each round trains the trials left \
            for its budget of epochs, and the best 1/FACTOR continue from their checkpoints.
            """,
        valueName: "factor", range: .moreThanOne, given: nil, resume: .perRun, sweep: own)
    public static let sweepDir = TrainOption<String>(
        "--sweep-dir", "Each trial's checkpoints, models and metrics. (default: beside --results, its name with .trials)",
        valueName: "dir", given: nil, resume: .perRun, sweep: own)
    public static let results = TrainOption<String>(
        "--results",
        "One JSON line per trial as it finishes; rewritten with each trial's rank at the end. Running the same command again continues it.",
        valueName: "file.jsonl", given: nil, resume: .perRun, sweep: own)

    /// Every option of `mlp sweep` besides the base's, in `--help`'s order.
    public static let all: [AnyTrainOption] = [
        .init(param), .init(random), .init(sweepSeed), .init(folds), .init(ranksPerTrial), .init(halving), .init(sweepDir),
        .init(results),
    ]
}
