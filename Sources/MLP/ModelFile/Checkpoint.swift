/// A checkpoint: a model file (same format as `--save`) plus everything needed to continue
/// exactly: the position in training, the settings that decide which mini-batches come next,
/// the identity of the training data, and the optimizer state (tensors `optimizer.*`).
///
/// It holds no per-rank state (the epoch order and the shards derive from seed, epoch and P
/// alone), so a run resumes at any number of ranks.
public struct Checkpoint {
    public var model: ModelFile
    public var position: TrainingPosition
    public var settings: RunSettings
    /// The optimizer's update count (its state tensors are in `model.extraTensors`).
    var optimizerSteps = 0
    /// Early stopping's best loss, best epoch and count (its best θ is a tensor).
    var earlyStoppingState: [String: String] = [:]

    /// What decides the sequence of mini-batches and the data they come from: a resumed run
    /// must agree on all of it.
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
        /// The base learning rate: the default for a resumed run, which may change it.
        public var learningRate: Double
        /// Optimizer, schedule, clipping, validation split and early stopping.
        public var optimization: OptimizationSettings
        /// The epochs the run was asked for: the default for a resumed run, which may change it.
        public var epochs: Int

        public init(seed: UInt64, shuffle: Bool, batchSize: Int, train: String, targetColumns: [String],
                    standardize: Bool, trainRows: Int, trainFingerprint: UInt64, learningRate: Double,
                    optimization: OptimizationSettings, epochs: Int, trainLabels: String? = nil) {
            self.epochs = epochs
            self.trainLabels = trainLabels
            self.learningRate = learningRate
            self.optimization = optimization
            self.seed = seed; self.shuffle = shuffle; self.batchSize = batchSize; self.train = train
            self.targetColumns = targetColumns; self.standardize = standardize
            self.trainRows = trainRows; self.trainFingerprint = trainFingerprint
        }
    }

    enum Key {
        static let epoch = "checkpoint.epoch", batchInEpoch = "checkpoint.batch_in_epoch", step = "checkpoint.step"
        static let lossSum = "checkpoint.epoch_loss_sum", samples = "checkpoint.epoch_samples", correct = "checkpoint.epoch_correct"
        static let seed = "checkpoint.seed", shuffle = "checkpoint.shuffle", batchSize = "checkpoint.batch_size"
        static let train = "checkpoint.train", trainLabels = "checkpoint.train_labels", target = "checkpoint.target", standardize = "checkpoint.standardize"
        static let trainRows = "checkpoint.train_rows", trainFingerprint = "checkpoint.train_fingerprint"
        static let learningRate = "checkpoint.learning_rate", optimizerSteps = "checkpoint.optimizer_steps"
        static let epochs = "checkpoint.epochs"
        static let bestLoss = "checkpoint.early_stopping.best_loss", bestEpoch = "checkpoint.early_stopping.best_epoch"
        static let sinceBest = "checkpoint.early_stopping.epochs_without_improvement"
        /// Each optimization option is kept under "checkpoint.option" + its name, e.g. "checkpoint.option--momentum".
        static let option = "checkpoint.option"
    }

    public init(model: ModelFile, position: TrainingPosition, settings: RunSettings) {
        self.model = model
        self.position = position
        self.settings = settings
    }

    /// Writes atomically (temporary file, fsync, rename): a crash at any instant leaves the
    /// previous checkpoint or this one.
    public func write(to path: String) throws {
        var file = model
        // Doubles as Swift prints them: the shortest digits that read back to the same bits.
        file.extraMetadata.merge([
            Key.epoch: "\(position.epoch)", Key.batchInEpoch: "\(position.batchInEpoch)", Key.step: "\(position.step)",
            Key.lossSum: "\(position.epochLossSum)", Key.samples: "\(position.epochSamples)", Key.correct: "\(position.epochCorrect)",
            Key.seed: "\(settings.seed)", Key.shuffle: "\(settings.shuffle)", Key.batchSize: "\(settings.batchSize)",
            Key.train: settings.train, Key.target: settings.targetColumns.joined(separator: ","),
            Key.standardize: "\(settings.standardize)",
            Key.trainRows: "\(settings.trainRows)", Key.trainFingerprint: "\(settings.trainFingerprint)",
            Key.learningRate: "\(settings.learningRate)",
            Key.optimizerSteps: "\(optimizerSteps)", Key.epochs: "\(settings.epochs)",
        ]) { _, new in new }
        for (name, value) in settings.optimization.values { file.extraMetadata[Key.option + name] = value }
        if let labels = settings.trainLabels { file.extraMetadata[Key.trainLabels] = labels }
        file.extraMetadata.merge(earlyStoppingState) { _, new in new }
        try file.write(to: path)
    }

    public static func read(path: String) throws -> Checkpoint {
        let model = try ModelFile.read(path: path)
        let metadata = model.extraMetadata
        func value<V: LosslessStringConvertible>(_ key: String, _: V.Type = V.self) throws -> V {
            guard let text = metadata[key] else {
                throw InputError("\(path): not a checkpoint (no '\(key)' in its metadata; write one with --checkpoint)")
            }
            guard let value = V(text) else { throw InputError("\(path): checkpoint metadata '\(key)' is not valid: \"\(text)\"") }
            return value
        }
        let position = TrainingPosition(epoch: try value(Key.epoch), batchInEpoch: try value(Key.batchInEpoch),
                                        step: try value(Key.step), epochLossSum: try value(Key.lossSum),
                                        epochSamples: try value(Key.samples), epochCorrect: try value(Key.correct))
        guard position.epoch >= 1, position.batchInEpoch >= 0, position.step >= 0 else {
            throw InputError("\(path): checkpoint position is not valid (epoch \(position.epoch), step \(position.step))")
        }
        let target: String = try value(Key.target)
        let settings = RunSettings(seed: try value(Key.seed), shuffle: try value(Key.shuffle), batchSize: try value(Key.batchSize),
                                   train: try value(Key.train, String.self),
                                   targetColumns: target.isEmpty ? [] : target.split(separator: ",").map(String.init),
                                   standardize: try value(Key.standardize), trainRows: try value(Key.trainRows),
                                   trainFingerprint: try value(Key.trainFingerprint), learningRate: try value(Key.learningRate),
                                   optimization: try decodeOptimization(metadata, path: path), epochs: try value(Key.epochs),
                                   trainLabels: metadata[Key.trainLabels])
        guard settings.batchSize > 0 else { throw InputError("\(path): checkpoint batch size \(settings.batchSize) is not valid") }
        var bare = model
        bare.extraMetadata = metadata.filter { !$0.key.hasPrefix("checkpoint.") }
        var checkpoint = Checkpoint(model: bare, position: position, settings: settings)
        checkpoint.optimizerSteps = try value(Key.optimizerSteps)
        checkpoint.earlyStoppingState = metadata.filter { $0.key.hasPrefix("checkpoint.early_stopping.") }
        return checkpoint
    }
}

extension Checkpoint {
    static let bestParametersTensor = "early_stopping.best_parameters"

    /// Keeps the optimizer's state (buffers in θ order, update count) and early stopping's.
    mutating func store<T: Scalar>(optimizer: Optimizer<T>, earlyStopping: EarlyStopping<T>?) {
        optimizerSteps = optimizer.stepCount
        for (name, buffer) in optimizer.stateBuffers {
            model.extraTensors.append(tensor(name, buffer))
        }
        if let earlyStopping {
            earlyStoppingState = [Key.bestLoss: "\(earlyStopping.bestLoss)", Key.sinceBest: "\(earlyStopping.epochsWithoutImprovement)",
                                  Key.bestEpoch: earlyStopping.bestEpoch.map { "\($0)" } ?? "none"]
            model.extraTensors.append(tensor(Self.bestParametersTensor, earlyStopping.bestParameters))
        }
    }

    /// Puts the stored state back into freshly made optimizer and early-stopping objects.
    func restore<T: Scalar>(optimizer: Optimizer<T>, earlyStopping: EarlyStopping<T>?) throws {
        optimizer.stepCount = optimizerSteps
        for (name, buffer) in optimizer.stateBuffers { try load(name, into: buffer) }
        if let earlyStopping {
            guard let loss = earlyStoppingState[Key.bestLoss].flatMap(Double.init),
                  let since = earlyStoppingState[Key.sinceBest].flatMap(Int.init), let epochText = earlyStoppingState[Key.bestEpoch] else {
                throw InputError("checkpoint: early stopping state is missing or not valid")
            }
            try load(Self.bestParametersTensor, into: earlyStopping.bestParameters)
            earlyStopping.restore(bestLoss: loss, bestEpoch: Int(epochText), epochsWithoutImprovement: since)
        }
    }

    private func tensor<T: Scalar>(_ name: String, _ buffer: FlatBuffer<T>) -> SafeTensor {
        switch T.precision {
        case .float32: return SafeTensor(name: name, shape: [buffer.layout.count], values: buffer.values.map { Float($0) })
        case .float64: return SafeTensor(name: name, shape: [buffer.layout.count], values: buffer.values.map { Double($0) })
        }
    }

    private func load<T: Scalar>(_ name: String, into buffer: FlatBuffer<T>) throws {
        guard let tensor = model.extraTensors.first(where: { $0.name == name }) else {
            throw InputError("checkpoint: no tensor \(name) for the optimizer state")
        }
        let values = try tensor.floats()
        guard values.count == buffer.layout.count else {
            throw InputError("checkpoint: tensor \(name) holds \(values.count) values, θ has \(buffer.layout.count)")
        }
        let target = buffer.values
        for i in 0 ..< values.count { target[i] = T(values[i]) }
    }
}

/// The optimization settings stored under "checkpoint.option--NAME".
private func decodeOptimization(_ metadata: [String: String], path: String) throws -> OptimizationSettings {
    func text(_ name: String) throws -> String {
        guard let value = metadata[Checkpoint.Key.option + name] else {
            throw InputError("\(path): checkpoint metadata lacks '\(Checkpoint.Key.option + name)'")
        }
        return value
    }
    func number(_ name: String) throws -> Double? {
        let value = try text(name)
        if value == "none" { return nil }
        guard let number = Double(value) else { throw InputError("\(path): checkpoint option \(name) is not a number: \"\(value)\"") }
        return number
    }
    func integer(_ name: String) throws -> Int? { try number(name).map { Int($0) } }
    var options = TrainingOptions(train: nil)
    guard let kind = OptimizerSettings.Kind(rawValue: try text("--optimizer")),
          let scheduleKind = ScheduleSettings.Kind(rawValue: try text("--lr-schedule")) else {
        throw InputError("\(path): checkpoint names an unknown optimizer or schedule")
    }
    options.optimizer.kind = kind
    options.optimizer.momentum = try number("--momentum") ?? 0
    options.optimizer.nesterov = try text("--nesterov") == "true"
    options.optimizer.beta1 = try number("--beta1") ?? 0.9
    options.optimizer.beta2 = try number("--beta2") ?? 0.999
    options.optimizer.epsilon = try number("--eps") ?? 1e-8
    options.optimizer.weightDecay = try number("--weight-decay")
    options.schedule.kind = scheduleKind
    options.schedule.warmupSteps = try integer("--warmup-steps") ?? 0
    options.schedule.stepSize = try integer("--step-size")
    options.schedule.gamma = try number("--gamma")
    options.clipGradientNorm = try number("--clip-grad-norm")
    options.validationSplit = try number("--validation-split")
    options.earlyStopping = try integer("--early-stopping")
    return OptimizationSettings(options)
}
