import Foundation

/// What the user asked `mlp train` for, as typed: nil is "not given". A value not given takes
/// the checkpoint's when resuming, the starting model's for the model's shape, else its default;
/// `resolve(resuming:startingModel:)` decides each one once and returns the
/// `TrainingConfiguration` the run works from. Each field is the value of one option of
/// `TrainOptionTable`, which declares its flag, range, default and where it goes.
public struct TrainingOptions: Sendable {
    /// nil only when resuming: the checkpoint's data.
    public var train: DataSource?
    public var test: DataSource?
    public var targetColumns: [String]?
    public var loss: Loss?
    /// Hidden layer widths.
    public var hidden: [Int]?
    public var activation: Activation?
    public var batchSize: Int?
    public var learningRate: Double?
    public var epochs: Int?
    public var maxSteps: Int?
    public var seed: UInt64?
    public var shuffle: Bool?
    public var precision: Precision?
    /// Standardize features with the training data's mean and standard deviation.
    public var standardize: Bool?
    public var initFrom: String?
    public var save: String?
    public var metrics: String?
    public var checksumEvery: Int?
    /// Write a checkpoint here at the end of every epoch (and every `checkpointEvery` steps).
    public var checkpoint: String?
    public var checkpointEvery: Int?
    /// Continue from this checkpoint.
    public var resume: String?
    public var onNonFinite: NonFinitePolicy?
    public var allreduce: AllreduceMode?
    /// `--sharded-update`.
    public var shardedUpdate: ShardedUpdateMode?
    /// `--reproducible`: the same model's bits on any number of ranks and threads.
    public var reproducible: Bool?
    /// `--chunk-rows`: the rows of `--reproducible`'s chunks.
    public var chunkRows: Int?
    /// `--dropout`: one rate for every hidden layer, or one per hidden layer.
    public var dropout: [Double]?
    /// `--sample-weight`: the CSV column of the rows' weights; `--train-weights`: a .npy of them.
    public var sampleWeight: String?
    public var trainWeights: String?
    /// `--class-weight`.
    public var classWeight: ClassWeight?
    /// `--categorical`, `--max-categories`, `--min-category-count`, `--missing-values`,
    /// `--drop-missing-target`: how a CSV table's columns are read (see `TableOptions`).
    public var categorical: [String]?
    public var maxCategories: Int?
    public var minCategoryCount: Int?
    public var missingValues: [String]?
    public var dropMissingTarget: Bool?

    // The optimizer (`--optimizer`, `--momentum`, `--nesterov`, `--beta1`, `--beta2`, `--eps`,
    // `--weight-decay`), the schedule (`--lr-schedule`, `--warmup-steps`, `--step-size`,
    // `--gamma`), clipping, validation and early stopping.
    public var optimizer: OptimizerSettings.Kind?
    public var momentum: Double?
    public var nesterov: Bool?
    public var beta1: Double?
    public var beta2: Double?
    public var epsilon: Double?
    public var weightDecay: Double?
    public var lrSchedule: ScheduleSettings.Kind?
    public var warmupSteps: Int?
    public var stepSize: Int?
    public var gamma: Double?
    public var plateauPatience: Int?
    public var plateauFactor: Double?
    public var plateauThreshold: Double?
    public var minimumRate: Double?
    public var clipGradientNorm: Double?
    public var validationSplit: Double?
    public var earlyStopping: Int?

    /// `--class-weight balanced` (scikit-learn's n / (classes · count(class)) on the training
    /// rows) or `LABEL:WEIGHT,…` (unlisted classes weigh 1).
    public enum ClassWeight: Equatable, Sendable, CustomStringConvertible {
        case balanced
        case given([String: Double])

        /// The same weights: a label not listed weighs 1, so `a:2` and `a:2,b:1` are equal.
        public static func == (left: ClassWeight, right: ClassWeight) -> Bool {
            switch (left, right) {
            case (.balanced, .balanced): return true
            case let (.given(a), .given(b)):
                return Set(a.keys).union(b.keys).allSatisfy { (a[$0] ?? 1) == (b[$0] ?? 1) }
            default: return false
            }
        }

        public init(_ text: String) throws {
            if text == "balanced" { self = .balanced; return }
            var weights: [String: Double] = [:]
            for item in text.split(separator: ",") {
                guard let colon = item.lastIndex(of: ":"), let weight = Double(item[item.index(after: colon)...]),
                      weight.isFinite, weight >= 0, colon > item.startIndex else {
                    throw InputError("--class-weight takes balanced or LABEL:WEIGHT,… with weights of 0 or more (got \(text))")
                }
                let label = String(item[..<colon])
                guard weights.updateValue(weight, forKey: label) == nil else {
                    throw InputError("--class-weight gives label \(label) twice (got \(text)): give each label once")
                }
            }
            guard !weights.isEmpty else { throw InputError("--class-weight takes balanced or LABEL:WEIGHT,… (got nothing)") }
            self = .given(weights)
        }

        public var description: String {
            switch self {
            case .balanced: return "balanced"
            case .given(let weights): return weights.keys.sorted().map { "\($0):\(weights[$0]!)" }.joined(separator: ",")
            }
        }
    }

    /// What a non-finite loss or gradient does.
    public enum NonFinitePolicy: String, CaseIterable, Sendable {
        /// Stop training at that step, before applying it (the default).
        case stop
        /// Skip the step (no update) and go on.
        case skipStep = "skip-step"
    }

    /// `--reproducible`'s chunk when `--chunk-rows` is not given: a quarter of the batch (at
    /// least 8 rows), so up to 4 ranks share every batch; fewer, larger chunks run faster
    /// (sgemm at 64 rows is slower than at 128), more let more ranks work.
    public static func defaultChunkRows(batchSize: Int) -> Int { max(8, (batchSize + 3) / 4) }
    /// The largest count an option may give (batch size, epochs, steps, patience…): 2³¹ − 1, far
    /// beyond any run, and small enough that their products (epochs × steps per epoch, a batch
    /// times its rows' widths) are checked once rather than overflowing in the loop.
    public static let largestCount = Int(Int32.max)
    /// The widest hidden layer `--hidden` may ask for (2²⁴ units); whether the network fits in
    /// memory is checked once the data gives its inputs and outputs (`MemoryEstimate`).
    public static let largestWidth = 1 << 24

    public init(train: DataSource?) { self.train = train }

    /// `--resume auto`: the `--checkpoint` file when it exists, else a fresh start; one command
    /// for a job's first run and every requeued one.
    public static let automaticResume = "auto"

    /// These options with `--resume auto` decided: `--resume FILE` (the `--checkpoint`) when
    /// that file exists, no `--resume` when it does not. Other options are returned as they are.
    public func resolvingAutomaticResume() -> TrainingOptions {
        guard resume == Self.automaticResume, let checkpoint else { return self }
        var options = self
        options.resume = FileManager.default.fileExists(atPath: checkpoint) ? checkpoint : nil
        return options
    }

    /// The checks that need no file: each value given against its declared range
    /// (`TrainOptionTable`), and the combinations of given values. The command line runs them
    /// once, before any work; `resolve` checks what needs the checkpoint or the starting model.
    public func validate() throws {
        for option in TrainOptionTable.all { try option.checkGiven(self) }
        if checkpointEvery != nil, checkpoint == nil { throw InputError("--checkpoint-every needs --checkpoint FILE") }
        guard train != nil || resume != nil else { throw InputError("--train is required (unless --resume gives it)") }
        if resume == Self.automaticResume {
            guard let checkpoint else {
                throw InputError("--resume auto needs --checkpoint FILE: it resumes from FILE when FILE exists (a checkpoint named auto: --resume ./auto)")
            }
            guard train != nil else { throw InputError("--resume auto needs --train: without \(checkpoint) the run starts from it") }
        }
        try Self.checkExchange(reproducible: reproducible == true, chunkRows: chunkRows, allreduce: allreduce, shardedUpdate: shardedUpdate)
        if sampleWeight != nil, trainWeights != nil {
            throw InputError("--sample-weight (a CSV column) and --train-weights (a .npy file) exclude each other")
        }
        if resume != nil, initFrom != nil {
            throw InputError("--resume and --init-from exclude each other: a checkpoint already holds the model")
        }
        if earlyStopping != nil, validationSplit == nil {
            throw InputError("--early-stopping needs --validation-split (it watches the validation loss)")
        }
        // A resumed run takes the optimizer and schedule from its checkpoint (given values must
        // agree with it, see `resolve`); a new run's are checked here, defaults filled in.
        if resume == nil || resume == Self.automaticResume, let train {
            let configuration = try given(over: .defaults(train: train), resuming: nil)
            try configuration.optimizer.validate()
            try configuration.schedule.validate()
        }
    }

    /// The rules of how the gradient is exchanged, which `train`, `evaluate` and `bench` share:
    /// `--chunk-rows` needs `--reproducible`; `--allreduce overlap` combines per layer, which
    /// neither `--reproducible`'s exact sums nor `--sharded-update on`'s reduce-scatter can.
    public static func checkExchange(reproducible: Bool, chunkRows: Int?, allreduce: AllreduceMode? = nil,
                                     shardedUpdate: ShardedUpdateMode? = nil) throws {
        try TrainOptionTable.chunkRows.check(chunkRows)
        if chunkRows != nil, !reproducible { throw InputError("--chunk-rows needs --reproducible") }
        try GradientExchange.check(allreduce: allreduce ?? .auto, sharded: shardedUpdate ?? .auto, reproducible: reproducible)
    }
}
