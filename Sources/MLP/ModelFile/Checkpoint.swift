/// A checkpoint: a model file (same format as `--save`) plus everything needed to continue
/// exactly: the position in training, the settings that decide which mini-batches come next,
/// the identity of the training data, and the optimizer state (tensors `optimizer.*`).
/// `CheckpointSchema` says how each is stored.
///
/// It holds no per-rank state (the epoch order and the shards derive from seed, epoch and P
/// alone), so a run resumes at any number of ranks.
public struct Checkpoint {
    public var model: ModelFile
    public var position: TrainingPosition
    public var settings: RunSettings
    /// The optimizer's update count (its state tensors are in `model.extraTensors`).
    var optimizerSteps = 0
    /// Early stopping's record; nil without early stopping (its best θ is a tensor).
    var earlyStopping: EarlyStoppingRecord?
    /// `--lr-schedule plateau`'s state; nil for the other schedules.
    var plateau: PlateauState?

    /// What decides the sequence of mini-batches, the data they come from and the update: a
    /// resumed run must agree on all of it, except the learning rate and epochs, which are
    /// only its defaults.
    public struct RunSettings: Equatable, Sendable {
        public var seed: UInt64
        public var shuffle: Bool
        public var batchSize: Int
        /// `--train` as given, and the target columns (empty: the default).
        public var train: String
        /// `--train-labels` of `.npy` features; nil for other data.
        public var trainLabels: String?
        public var targetColumns: [String]
        public var standardize: Bool
        /// Rows and fingerprint of the training data as read (before standardization).
        public var trainRows: Int
        public var trainFingerprint: UInt64
        public var learningRate: Double
        public var epochs: Int
        public var optimizer: OptimizerSettings
        public var schedule: ScheduleSettings
        public var clipGradientNorm: Double?
        public var validationSplit: Double?
        public var earlyStopping: Int?
        /// `--reproducible`'s chunk rows; nil: trained without it.
        public var chunkRows: Int? = nil
        /// The hidden layers' dropout rates; empty: none.
        public var dropout: [Double] = []
        /// The rows' weights: `--sample-weight`, `--train-weights` as given, `--class-weight`.
        public var sampleWeight: String? = nil
        public var trainWeights: String? = nil
        public var classWeight: TrainingOptions.ClassWeight? = nil
        /// How the table's columns were read (`--categorical`, …); the defaults when not given.
        public var table = TableOptions()

        public init(seed: UInt64, shuffle: Bool, batchSize: Int, train: String, trainLabels: String?, targetColumns: [String],
                    standardize: Bool, trainRows: Int, trainFingerprint: UInt64, learningRate: Double, epochs: Int,
                    optimizer: OptimizerSettings, schedule: ScheduleSettings, clipGradientNorm: Double?,
                    validationSplit: Double?, earlyStopping: Int?) {
            self.seed = seed; self.shuffle = shuffle; self.batchSize = batchSize
            self.train = train; self.trainLabels = trainLabels; self.targetColumns = targetColumns
            self.standardize = standardize; self.trainRows = trainRows; self.trainFingerprint = trainFingerprint
            self.learningRate = learningRate; self.epochs = epochs
            self.optimizer = optimizer; self.schedule = schedule
            self.clipGradientNorm = clipGradientNorm; self.validationSplit = validationSplit; self.earlyStopping = earlyStopping
        }

        /// The settings of `configuration`, training on data of `trainRows` rows with `trainFingerprint`.
        public init(_ configuration: TrainingConfiguration, trainRows: Int, trainFingerprint: UInt64) {
            self.init(seed: configuration.seed, shuffle: configuration.shuffle, batchSize: configuration.batchSize,
                      train: configuration.train.text, trainLabels: configuration.train.labels,
                      targetColumns: configuration.targetColumns ?? [], standardize: configuration.standardize,
                      trainRows: trainRows, trainFingerprint: trainFingerprint, learningRate: configuration.learningRate,
                      epochs: configuration.epochs, optimizer: configuration.optimizer, schedule: configuration.schedule,
                      clipGradientNorm: configuration.clipGradientNorm, validationSplit: configuration.validationSplit,
                      earlyStopping: configuration.earlyStopping)
            chunkRows = configuration.exchange.chunkRows
            dropout = configuration.dropout
            (sampleWeight, trainWeights, classWeight) = (configuration.sampleWeight, configuration.trainWeights, configuration.classWeight)
            table = configuration.table
        }
    }

    /// Early stopping's best loss and epoch, and the epochs since.
    struct EarlyStoppingRecord: Equatable {
        var bestLoss: Double
        var bestEpoch: Int?
        var epochsWithoutImprovement: Int
    }

    public init(model: ModelFile, position: TrainingPosition, settings: RunSettings) {
        self.model = model
        self.position = position
        self.settings = settings
    }

    /// Writes atomically (temporary file, fsync, rename): a crash at any instant leaves the
    /// previous checkpoint or this one.
    public func write(to path: String) throws {
        try file.write(to: path)
    }

    /// Writes a new file named like `path`, never replacing one (`path`, else `path-1`, …;
    /// see `writeNewFileAtomically`); returns its name.
    public func write(toNewFileNamedLike path: String) throws -> String {
        try writeNewFileAtomically(SafeTensors.encode(tensors: file.tensors(), metadata: file.metadata()), namedLike: path)
    }

    /// The model file with this checkpoint's metadata.
    private var file: ModelFile {
        var file = model
        file.extraMetadata.merge(CheckpointSchema.metadata(of: self)) { _, new in new }
        return file
    }

    public static func read(path: String) throws -> Checkpoint {
        try Checkpoint(file: ModelFile.read(path: path), path: path)
    }

    /// The checkpoint stored in a model file read from `path`: its `checkpoint.` metadata becomes
    /// the position and settings (`CheckpointSchema`), the rest stays the model's.
    init(file: ModelFile, path: String) throws {
        var model = file
        model.extraMetadata = file.extraMetadata.filter { !$0.key.hasPrefix(CheckpointSchema.prefix) }
        self = try CheckpointSchema.checkpoint(model: model, metadata: file.extraMetadata, path: path)
    }
}

extension Checkpoint {
    static let bestParametersTensor = "early_stopping.best_parameters"

    /// Keeps the optimizer's state (whole buffers in θ order, gathered from the ranks by
    /// `Trainer.gatheredOptimizerState()`, and the update count) and early stopping's.
    mutating func store<T: Scalar>(optimizerState: [(name: String, values: [T])], optimizerSteps: Int, earlyStopping: EarlyStopping<T>?) {
        self.optimizerSteps = optimizerSteps
        for (name, values) in optimizerState {
            model.extraTensors.append(tensor(name, values))
        }
        if let earlyStopping {
            self.earlyStopping = EarlyStoppingRecord(bestLoss: earlyStopping.bestLoss, bestEpoch: earlyStopping.bestEpoch,
                                                     epochsWithoutImprovement: earlyStopping.epochsWithoutImprovement)
            model.extraTensors.append(tensor(Self.bestParametersTensor, Array(earlyStopping.bestParameters.values)))
        }
    }

    /// Puts the stored state back into freshly made optimizer and early-stopping objects; an
    /// error's message leaves naming the file to the caller.
    func restore<T: Scalar>(optimizer: Optimizer<T>, earlyStopping: EarlyStopping<T>?) throws {
        optimizer.stepCount = optimizerSteps
        for (name, values) in optimizer.stateBuffers { try load(name, slice: optimizer.slice, into: values) }
        if let earlyStopping {
            guard let record = self.earlyStopping else { throw InputError("early stopping state is missing or not valid") }
            try load(Self.bestParametersTensor, slice: 0 ..< model.parameters.count, into: earlyStopping.bestParameters.values)
            earlyStopping.restore(bestLoss: record.bestLoss, bestEpoch: record.bestEpoch,
                                  epochsWithoutImprovement: record.epochsWithoutImprovement)
        }
    }

    private func tensor<T: Scalar>(_ name: String, _ values: [T]) -> SafeTensor {
        switch T.precision {
        case .float32: return SafeTensor(name: name, shape: [values.count], values: values.map { Float($0) })
        case .float64: return SafeTensor(name: name, shape: [values.count], values: values.map { Double($0) })
        }
    }

    /// θ[slice]'s part of a stored tensor of all of θ.
    private func load<T: Scalar>(_ name: String, slice: Range<Int>, into target: UnsafeMutableBufferPointer<T>) throws {
        guard let tensor = model.extraTensors.first(where: { $0.name == name }) else {
            throw InputError("no tensor \(name) for the optimizer state")
        }
        let values = try tensor.floats()
        guard values.count == model.parameters.count else {
            throw InputError("tensor \(name) holds \(values.count) values, θ has \(model.parameters.count)")
        }
        for i in slice { target[i - slice.lowerBound] = T(values[i]) }
    }
}
