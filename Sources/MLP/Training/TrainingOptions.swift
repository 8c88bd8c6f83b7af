/// What the user asked `mlp train` for, as typed: nil is "not given". A value not given takes
/// the checkpoint's when resuming, the starting model's for the model's shape, else its default;
/// `resolve(resuming:startingModel:)` decides each one once and returns the
/// `TrainingConfiguration` the run works from.
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

        public init(_ text: String) throws {
            if text == "balanced" { self = .balanced; return }
            var weights: [String: Double] = [:]
            for item in text.split(separator: ",") {
                guard let colon = item.lastIndex(of: ":"), let weight = Double(item[item.index(after: colon)...]),
                      weight.isFinite, weight >= 0, colon > item.startIndex else {
                    throw InputError("--class-weight takes balanced or LABEL:WEIGHT,… with weights of 0 or more (got \(text))")
                }
                weights[String(item[..<colon])] = weight
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

    public static let defaultHidden = [128, 128]
    public static let defaultBatchSize = 64
    public static let defaultEpochs = 10
    public static let defaultChecksumEvery = 1000
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

    /// The checks that need no file: each value given, and the combinations of given values.
    /// The command line runs them once, before any work; `resolve` checks what needs the
    /// checkpoint or the starting model.
    public func validate() throws {
        func positive(_ value: Int?, _ name: String, _ what: String = "at least 1") throws {
            guard let value else { return }
            if value <= 0 { throw InputError("\(name) must be \(what) (got \(value))") }
            if value > Self.largestCount { throw InputError("\(name) must be at most \(Self.largestCount) (got \(value))") }
        }
        try positive(batchSize, "--batch-size")
        if let learningRate, !(learningRate > 0 && learningRate.isFinite) {
            throw InputError("--learning-rate must be a positive number (got \(learningRate))")
        }
        try positive(epochs, "--epochs")
        try positive(maxSteps, "--max-steps")
        if let hidden, let bad = hidden.first(where: { $0 <= 0 }) { throw InputError("--hidden widths must be positive (got \(bad))") }
        if let hidden, let bad = hidden.first(where: { $0 > Self.largestWidth }) {
            throw InputError("--hidden widths must be at most \(Self.largestWidth) (got \(bad))")
        }
        if let checksumEvery, !(0 ... Self.largestCount).contains(checksumEvery) {
            throw InputError("--checksum-every must be from 0 to \(Self.largestCount) (got \(checksumEvery))")
        }
        if let checkpointEvery {
            try positive(checkpointEvery, "--checkpoint-every")
            guard checkpoint != nil else { throw InputError("--checkpoint-every needs --checkpoint FILE") }
        }
        guard train != nil || resume != nil else { throw InputError("--train is required (unless --resume gives it)") }
        try positive(chunkRows, "--chunk-rows")
        if let dropout, let bad = dropout.first(where: { !(0 ..< 1).contains($0) }) {
            throw InputError("--dropout rates must be from 0 up to (not including) 1 (got \(bad))")
        }
        if chunkRows != nil, reproducible != true { throw InputError("--chunk-rows needs --reproducible") }
        if reproducible == true, allreduce == .overlap {
            throw InputError("--reproducible combines the gradient its own way: it cannot be combined with --allreduce overlap")
        }
        if shardedUpdate == .on, allreduce == .overlap {
            throw InputError("--sharded-update on reduce-scatters the gradient: it cannot be combined with --allreduce overlap")
        }
        if sampleWeight != nil, trainWeights != nil {
            throw InputError("--sample-weight (a CSV column) and --train-weights (a .npy file) exclude each other")
        }
        if resume != nil, initFrom != nil { throw InputError("--resume and --init-from exclude each other: a checkpoint already holds the model") }

        if let clipGradientNorm, !(clipGradientNorm > 0 && clipGradientNorm.isFinite) {
            throw InputError("--clip-grad-norm must be a positive number (got \(clipGradientNorm))")
        }
        if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
            throw InputError("--validation-split must be a fraction strictly between 0 and 1 (got \(validationSplit))")
        }
        if let earlyStopping {
            guard earlyStopping >= 1 else { throw InputError("--early-stopping must be at least 1 epoch (got \(earlyStopping))") }
            try positive(earlyStopping, "--early-stopping")
            guard validationSplit != nil else {
                throw InputError("--early-stopping needs --validation-split (it watches the validation loss)")
            }
        }
        // A resumed run takes the optimizer and schedule from its checkpoint (given values must
        // agree with it, see `resolve`); a new run's are checked here, defaults filled in.
        if resume == nil {
            try optimizerSettings(basedOn: OptimizerSettings(kind: optimizer ?? .sgd)).validate()
            try scheduleSettings(basedOn: ScheduleSettings(kind: lrSchedule ?? .constant)).validate()
        }
    }

    /// `stored` with the optimizer options given here put in its place.
    func optimizerSettings(basedOn stored: OptimizerSettings) -> OptimizerSettings {
        var settings = stored
        settings.kind = optimizer ?? settings.kind
        settings.momentum = momentum ?? settings.momentum
        settings.nesterov = nesterov ?? settings.nesterov
        settings.beta1 = beta1 ?? settings.beta1
        settings.beta2 = beta2 ?? settings.beta2
        settings.epsilon = epsilon ?? settings.epsilon
        settings.weightDecay = weightDecay ?? settings.weightDecay
        return settings
    }

    /// `stored` with the schedule options given here put in its place. (The same shape as
    /// `optimizerSettings(basedOn:)`, kept apart: one field list per settings type.)
    func scheduleSettings(basedOn stored: ScheduleSettings) -> ScheduleSettings {
        var settings = stored
        settings.kind = lrSchedule ?? settings.kind
        settings.warmupSteps = warmupSteps ?? settings.warmupSteps
        settings.stepSize = stepSize ?? settings.stepSize
        settings.gamma = gamma ?? settings.gamma
        settings.plateauPatience = plateauPatience ?? settings.plateauPatience
        settings.plateauFactor = plateauFactor ?? settings.plateauFactor
        settings.plateauThreshold = plateauThreshold ?? settings.plateauThreshold
        settings.minimumRate = minimumRate ?? settings.minimumRate
        return settings
    }
}
