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

    /// What decides the sequence of mini-batches and the data they come from: a resumed run
    /// must agree on all of it.
    public struct RunSettings: Equatable, Sendable {
        public var seed: UInt64
        public var shuffle: Bool
        public var batchSize: Int
        /// `--train` as given, and the target columns (empty: the default).
        public var train: String
        public var targetColumns: [String]
        public var standardize: Bool
        /// Rows and fingerprint of the training data as read (before standardization).
        public var trainRows: Int
        public var trainFingerprint: UInt64
        /// The learning rate when the checkpoint was written: the default for a resumed run, which may change it.
        public var learningRate: Double

        public init(seed: UInt64, shuffle: Bool, batchSize: Int, train: String, targetColumns: [String],
                    standardize: Bool, trainRows: Int, trainFingerprint: UInt64, learningRate: Double) {
            self.learningRate = learningRate
            self.seed = seed; self.shuffle = shuffle; self.batchSize = batchSize; self.train = train
            self.targetColumns = targetColumns; self.standardize = standardize
            self.trainRows = trainRows; self.trainFingerprint = trainFingerprint
        }
    }

    enum Key {
        static let epoch = "checkpoint.epoch", batchInEpoch = "checkpoint.batch_in_epoch", step = "checkpoint.step"
        static let lossSum = "checkpoint.epoch_loss_sum", samples = "checkpoint.epoch_samples", correct = "checkpoint.epoch_correct"
        static let seed = "checkpoint.seed", shuffle = "checkpoint.shuffle", batchSize = "checkpoint.batch_size"
        static let train = "checkpoint.train", target = "checkpoint.target", standardize = "checkpoint.standardize"
        static let trainRows = "checkpoint.train_rows", trainFingerprint = "checkpoint.train_fingerprint"
        static let learningRate = "checkpoint.learning_rate"
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
        ]) { _, new in new }
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
                                   trainFingerprint: try value(Key.trainFingerprint), learningRate: try value(Key.learningRate))
        guard settings.batchSize > 0 else { throw InputError("\(path): checkpoint batch size \(settings.batchSize) is not valid") }
        var bare = model
        bare.extraMetadata = metadata.filter { !$0.key.hasPrefix("checkpoint.") }
        return Checkpoint(model: bare, position: position, settings: settings)
    }
}
