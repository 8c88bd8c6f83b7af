import Foundation

/// How a checkpoint's state is stored in its safetensors metadata: string values under keys
/// named for what they hold, and `checkpoint.version`. A feature that adds state adds keys and
/// bumps `version`; files of every earlier version still load.
///
/// - Version 3: the keys of `Key`, written by a run given table options (`--categorical`,
///   `--missing-values`, …); a run without them writes version 2, byte for byte as before.
/// - Version 2: the same without the `checkpoint.table.*` keys.
/// - Version 1: the same without `checkpoint.reproducible.chunk_rows` and `checkpoint.dropout`
///   (trained without them).
/// - No version (files written before versions existed): the same keys, except that the
///   optimization settings were kept under their command-line flags (`checkpoint.option--momentum`).
enum CheckpointSchema {
    static let version = 3
    static let prefix = "checkpoint."

    enum Key {
        static let version = "checkpoint.version"
        static let epoch = "checkpoint.epoch", batchInEpoch = "checkpoint.batch_in_epoch", step = "checkpoint.step"
        static let lossSum = "checkpoint.epoch_loss_sum", samples = "checkpoint.epoch_samples", correct = "checkpoint.epoch_correct"
        static let seed = "checkpoint.seed", shuffle = "checkpoint.shuffle", batchSize = "checkpoint.batch_size"
        static let train = "checkpoint.train", trainLabels = "checkpoint.train_labels", target = "checkpoint.target"
        static let standardize = "checkpoint.standardize"
        static let trainRows = "checkpoint.train_rows", trainFingerprint = "checkpoint.train_fingerprint"
        static let learningRate = "checkpoint.learning_rate", epochs = "checkpoint.epochs"
        static let optimizerSteps = "checkpoint.optimizer_steps"
        static let optimizer = "checkpoint.optimizer.kind", momentum = "checkpoint.optimizer.momentum"
        static let nesterov = "checkpoint.optimizer.nesterov", beta1 = "checkpoint.optimizer.beta1"
        static let beta2 = "checkpoint.optimizer.beta2", epsilon = "checkpoint.optimizer.epsilon"
        static let weightDecay = "checkpoint.optimizer.weight_decay"
        static let schedule = "checkpoint.schedule.kind", warmupSteps = "checkpoint.schedule.warmup_steps"
        static let stepSize = "checkpoint.schedule.step_size", gamma = "checkpoint.schedule.gamma"
        static let clipGradientNorm = "checkpoint.clip_gradient_norm", validationSplit = "checkpoint.validation_split"
        static let patience = "checkpoint.early_stopping.patience"
        static let bestLoss = "checkpoint.early_stopping.best_loss", bestEpoch = "checkpoint.early_stopping.best_epoch"
        static let sinceBest = "checkpoint.early_stopping.epochs_without_improvement"
        static let chunkRows = "checkpoint.reproducible.chunk_rows"
        static let dropout = "checkpoint.dropout", weightSum = "checkpoint.epoch_weight_sum"
        static let sampleWeight = "checkpoint.sample_weight", trainWeights = "checkpoint.train_weights"
        static let classWeight = "checkpoint.class_weight"
        static let plateauPatience = "checkpoint.schedule.plateau_patience", plateauFactor = "checkpoint.schedule.plateau_factor"
        static let plateauThreshold = "checkpoint.schedule.plateau_threshold", minimumRate = "checkpoint.schedule.min_lr"
        static let plateauRate = "checkpoint.schedule.plateau.rate", plateauBest = "checkpoint.schedule.plateau.best"
        static let plateauBadEpochs = "checkpoint.schedule.plateau.bad_epochs"
        static let categorical = "checkpoint.table.categorical", maxCategories = "checkpoint.table.max_categories"
        static let minCategoryCount = "checkpoint.table.min_category_count", missingValues = "checkpoint.table.missing_values"
        static let dropMissingTarget = "checkpoint.table.drop_missing_target"
    }

    /// The keys of the optimization settings in files without a version.
    static let unversionedKeys = [
        Key.optimizer: "checkpoint.option--optimizer", Key.momentum: "checkpoint.option--momentum",
        Key.nesterov: "checkpoint.option--nesterov", Key.beta1: "checkpoint.option--beta1",
        Key.beta2: "checkpoint.option--beta2", Key.epsilon: "checkpoint.option--eps",
        Key.weightDecay: "checkpoint.option--weight-decay", Key.schedule: "checkpoint.option--lr-schedule",
        Key.warmupSteps: "checkpoint.option--warmup-steps", Key.stepSize: "checkpoint.option--step-size",
        Key.gamma: "checkpoint.option--gamma", Key.clipGradientNorm: "checkpoint.option--clip-grad-norm",
        Key.validationSplit: "checkpoint.option--validation-split", Key.patience: "checkpoint.option--early-stopping",
    ]

    /// A value absent by choice (no weight decay given, no clipping, …).
    static let none = "none"

    /// The checkpoint's state as metadata. Doubles are written as Swift prints them: the
    /// shortest digits that read back to the same bits.
    static func metadata(of checkpoint: Checkpoint) -> [String: String] {
        let position = checkpoint.position, settings = checkpoint.settings
        func text<Value>(_ value: Value?) -> String { value.map { "\($0)" } ?? none }
        var metadata = [
            Key.version: settings.table == TableOptions() ? "2" : "\(version)",
            Key.epoch: "\(position.epoch)", Key.batchInEpoch: "\(position.batchInEpoch)", Key.step: "\(position.step)",
            Key.lossSum: "\(position.epochLossSum)", Key.samples: "\(position.epochSamples)", Key.correct: "\(position.epochCorrect)",
            Key.weightSum: "\(position.epochWeightSum)",
            Key.sampleWeight: settings.sampleWeight ?? none, Key.trainWeights: settings.trainWeights ?? none,
            Key.classWeight: settings.classWeight.map { "\($0)" } ?? none,
            Key.seed: "\(settings.seed)", Key.shuffle: "\(settings.shuffle)", Key.batchSize: "\(settings.batchSize)",
            Key.train: settings.train, Key.target: settings.targetColumns.joined(separator: ","),
            Key.standardize: "\(settings.standardize)",
            Key.trainRows: "\(settings.trainRows)", Key.trainFingerprint: "\(settings.trainFingerprint)",
            Key.learningRate: "\(settings.learningRate)", Key.epochs: "\(settings.epochs)",
            Key.optimizerSteps: "\(checkpoint.optimizerSteps)",
            Key.optimizer: settings.optimizer.kind.rawValue, Key.momentum: "\(settings.optimizer.momentum)",
            Key.nesterov: "\(settings.optimizer.nesterov)", Key.beta1: "\(settings.optimizer.beta1)",
            Key.beta2: "\(settings.optimizer.beta2)", Key.epsilon: "\(settings.optimizer.epsilon)",
            Key.weightDecay: text(settings.optimizer.weightDecay),
            Key.schedule: settings.schedule.kind.rawValue, Key.warmupSteps: "\(settings.schedule.warmupSteps)",
            Key.stepSize: text(settings.schedule.stepSize), Key.gamma: text(settings.schedule.gamma),
            Key.clipGradientNorm: text(settings.clipGradientNorm), Key.validationSplit: text(settings.validationSplit),
            Key.patience: text(settings.earlyStopping), Key.chunkRows: text(settings.chunkRows),
            Key.dropout: settings.dropout.isEmpty ? none : settings.dropout.map { "\($0)" }.joined(separator: ","),
            Key.plateauPatience: text(settings.schedule.plateauPatience), Key.plateauFactor: text(settings.schedule.plateauFactor),
            Key.plateauThreshold: text(settings.schedule.plateauThreshold), Key.minimumRate: text(settings.schedule.minimumRate),
        ]
        if let labels = settings.trainLabels { metadata[Key.trainLabels] = labels }
        if settings.table != TableOptions() {
            let table = settings.table
            metadata[Key.categorical] = jsonStrings(table.categorical)
            metadata[Key.maxCategories] = text(table.maxCategories)
            metadata[Key.minCategoryCount] = text(table.minCategoryCount)
            metadata[Key.missingValues] = jsonStrings(table.missingValues)
            metadata[Key.dropMissingTarget] = "\(table.dropMissingTarget)"
        }
        if let plateau = checkpoint.plateau {
            metadata[Key.plateauRate] = "\(plateau.rate)"
            metadata[Key.plateauBest] = "\(plateau.best)"
            metadata[Key.plateauBadEpochs] = "\(plateau.badEpochs)"
        }
        if let record = checkpoint.earlyStopping {
            metadata[Key.bestLoss] = "\(record.bestLoss)"
            metadata[Key.bestEpoch] = text(record.bestEpoch)
            metadata[Key.sinceBest] = "\(record.epochsWithoutImprovement)"
        }
        return metadata
    }

    /// The checkpoint stored in `metadata` around `model`, of any version this build knows.
    static func checkpoint(model: ModelFile, metadata: [String: String], path: String) throws -> Checkpoint {
        let reader = try Reader(metadata: metadata, path: path)
        var position = TrainingPosition(epoch: try reader.value(Key.epoch), batchInEpoch: try reader.value(Key.batchInEpoch),
                                        step: try reader.value(Key.step), epochLossSum: try reader.value(Key.lossSum),
                                        epochSamples: try reader.value(Key.samples), epochCorrect: try reader.value(Key.correct))
        position.epochWeightSum = reader.version >= 2 ? try reader.value(Key.weightSum) : position.epochSamples
        guard let kind = OptimizerSettings.Kind(rawValue: try reader.value(Key.optimizer)),
              let scheduleKind = ScheduleSettings.Kind(rawValue: try reader.value(Key.schedule)) else {
            throw InputError("\(path): checkpoint names an unknown optimizer or schedule")
        }
        let optimizer = OptimizerSettings(kind: kind, momentum: try reader.value(Key.momentum),
                                          nesterov: try reader.value(Key.nesterov), beta1: try reader.value(Key.beta1),
                                          beta2: try reader.value(Key.beta2), epsilon: try reader.value(Key.epsilon),
                                          weightDecay: try reader.optional(Key.weightDecay))
        var schedule = ScheduleSettings(kind: scheduleKind, warmupSteps: try reader.value(Key.warmupSteps),
                                        stepSize: try reader.optional(Key.stepSize), gamma: try reader.optional(Key.gamma))
        if reader.version >= 2 {
            schedule.plateauPatience = try reader.optional(Key.plateauPatience)
            schedule.plateauFactor = try reader.optional(Key.plateauFactor)
            schedule.plateauThreshold = try reader.optional(Key.plateauThreshold)
            schedule.minimumRate = try reader.optional(Key.minimumRate)
        }
        let target: String = try reader.value(Key.target)
        var settings = Checkpoint.RunSettings(
            seed: try reader.value(Key.seed), shuffle: try reader.value(Key.shuffle), batchSize: try reader.value(Key.batchSize),
            train: try reader.value(Key.train), trainLabels: metadata[Key.trainLabels],
            targetColumns: target.isEmpty ? [] : target.split(separator: ",").map(String.init),
            standardize: try reader.value(Key.standardize), trainRows: try reader.value(Key.trainRows),
            trainFingerprint: try reader.value(Key.trainFingerprint), learningRate: try reader.value(Key.learningRate),
            epochs: try reader.value(Key.epochs), optimizer: optimizer, schedule: schedule,
            clipGradientNorm: try reader.optional(Key.clipGradientNorm), validationSplit: try reader.optional(Key.validationSplit),
            earlyStopping: try reader.optional(Key.patience))
        settings.chunkRows = reader.version >= 2 ? try reader.optional(Key.chunkRows) : nil
        if reader.version >= 2 {
            settings.sampleWeight = try reader.optional(Key.sampleWeight)
            settings.trainWeights = try reader.optional(Key.trainWeights)
            settings.classWeight = try reader.optional(Key.classWeight, String.self).map { try TrainingOptions.ClassWeight($0) }
        }
        if reader.version >= 3, metadata[Key.missingValues] != nil {
            settings.table.categorical = try reader.strings(Key.categorical)
            settings.table.maxCategories = try reader.optional(Key.maxCategories)
            settings.table.minCategoryCount = try reader.optional(Key.minCategoryCount)
            settings.table.missingValues = try reader.strings(Key.missingValues)
            settings.table.dropMissingTarget = try reader.value(Key.dropMissingTarget)
        }
        if reader.version >= 2, let text = try reader.optional(Key.dropout, String.self) {
            let rates = text.split(separator: ",").map { Double($0) }
            guard rates.allSatisfy({ $0 != nil }), rates.count == model.layerSizes.count - 2 else {
                throw InputError("\(path): checkpoint metadata '\(Key.dropout)' is not valid: \(text) (a rate per hidden layer)")
            }
            settings.dropout = rates.map { $0! }
        }
        var checkpoint = Checkpoint(model: model, position: position, settings: settings)
        if scheduleKind == .plateau {
            checkpoint.plateau = PlateauState(rate: try reader.value(Key.plateauRate), best: try reader.value(Key.plateauBest),
                                              badEpochs: try reader.value(Key.plateauBadEpochs))
        }
        checkpoint.optimizerSteps = try reader.value(Key.optimizerSteps)
        if metadata[Key.bestLoss] != nil || metadata[Key.sinceBest] != nil {
            checkpoint.earlyStopping = .init(bestLoss: try reader.value(Key.bestLoss), bestEpoch: try reader.optional(Key.bestEpoch),
                                             epochsWithoutImprovement: try reader.value(Key.sinceBest))
        }
        try validate(checkpoint, path: path)
        return checkpoint
    }

    /// Every value read, checked for range and finiteness before anything uses it: a value
    /// edited into a checkpoint (a negative learning rate, a position past the epoch's end, a
    /// NaN in the optimizer state) is refused in one line naming its key. What needs the data
    /// (the position against the epoch's batches) is `Checkpoint.checkPosition`.
    // One function over ~60 lines: one check per stored value, in the order of `Key`.
    static func validate(_ checkpoint: Checkpoint, path: String) throws {
        func refuse(_ key: String, _ value: Any, _ rule: String) -> InputError {
            InputError("\(path): checkpoint metadata '\(key)' is not valid: \(value) (\(rule))")
        }
        let position = checkpoint.position, settings = checkpoint.settings
        let largest = TrainingOptions.largestCount
        guard (1 ... largest).contains(position.epoch) else { throw refuse(Key.epoch, position.epoch, "an epoch from 1 to \(largest)") }
        guard position.batchInEpoch >= 0 else { throw refuse(Key.batchInEpoch, position.batchInEpoch, "0 or more") }
        guard position.step >= position.batchInEpoch else {
            throw refuse(Key.step, position.step, "at least the batch in the epoch, \(position.batchInEpoch)")
        }
        guard position.epochLossSum.isFinite, position.epochLossSum >= 0 else {
            throw refuse(Key.lossSum, position.epochLossSum, "a finite sum of losses, 0 or more")
        }
        guard position.epochSamples.isFinite, position.epochSamples >= 0, position.epochSamples.rounded() == position.epochSamples else {
            throw refuse(Key.samples, position.epochSamples, "a count of samples")
        }
        guard position.epochCorrect.isFinite, position.epochCorrect >= 0, position.epochCorrect <= position.epochSamples else {
            throw refuse(Key.correct, position.epochCorrect, "a count from 0 to the epoch's samples, \(position.epochSamples)")
        }
        guard position.epochWeightSum.isFinite, position.epochWeightSum >= 0 else {
            throw refuse(Key.weightSum, position.epochWeightSum, "a finite sum of weights, 0 or more")
        }
        // The settings an option gives, each against its declared range.
        for option in TrainOptionTable.all {
            if let (value, requirement) = option.storedViolation(settings), let key = option.checkpointKey {
                throw refuse(key, value, requirement)
            }
        }
        guard !settings.train.isEmpty else { throw refuse(Key.train, "\"\"", "a data path") }
        guard !settings.targetColumns.contains(where: \.isEmpty) else {
            throw refuse(Key.target, settings.targetColumns.joined(separator: ","), "column names")
        }
        guard settings.trainRows >= 1 else { throw refuse(Key.trainRows, settings.trainRows, "1 or more") }
        guard (0 ... position.step).contains(checkpoint.optimizerSteps) else {
            throw refuse(Key.optimizerSteps, checkpoint.optimizerSteps, "from 0 to the steps taken, \(position.step)")
        }
        do {
            try settings.optimizer.validate()
            try settings.schedule.validate()
        } catch let error as InputError {
            throw InputError("\(path): checkpoint holds a setting that is not valid: \(error.message)")
        }
        if let record = checkpoint.earlyStopping {
            if let best = record.bestEpoch {
                guard (1 ..< position.epoch).contains(best) else {
                    throw refuse(Key.bestEpoch, best, "an epoch before the current one, \(position.epoch)")
                }
                guard record.bestLoss.isFinite, record.bestLoss >= 0 else {
                    throw refuse(Key.bestLoss, record.bestLoss, "a finite loss, 0 or more")
                }
            } else if record.bestLoss != .infinity {
                throw refuse(Key.bestLoss, record.bestLoss, "inf before any epoch")
            }
            guard record.epochsWithoutImprovement >= 0, record.epochsWithoutImprovement < position.epoch else {
                throw refuse(Key.sinceBest, record.epochsWithoutImprovement, "from 0 to the epochs done")
            }
        }
        // The optimizer's and early stopping's state: finite, and Adam's second moment is a mean of squares.
        for tensor in checkpoint.model.extraTensors {
            let values = try tensor.floats()
            if let index = values.firstIndex(where: { !$0.isFinite || (tensor.name == "optimizer.exp_avg_sq" && $0 < 0) }) {
                throw InputError("\(path): checkpoint tensor \(tensor.name) holds \(values[index]) at element \(index): "
                    + "not valid optimizer state")
            }
        }
    }

    /// Reads typed values from the metadata of one checkpoint, whatever its version.
    /// (Checking what they mean is `validate`'s.)
    private struct Reader {
        let metadata: [String: String]
        let path: String
        let version: Int

        init(metadata: [String: String], path: String) throws {
            self.metadata = metadata
            self.path = path
            guard let text = metadata[Key.version] else { version = 0; return }
            guard let version = Int(text), version >= 1 else {
                throw InputError("\(path): checkpoint metadata '\(Key.version)' is not valid: \"\(text)\"")
            }
            guard version <= CheckpointSchema.version else {
                throw InputError("\(path): checkpoint version \(version) was written by a newer mlp (this one reads up to version "
                    + "\(CheckpointSchema.version))")
            }
            self.version = version
            // A setting its version cannot express would be silently dropped: refused instead.
            if version < 2, let key = Self.keysOfVersion2.sorted().first(where: { metadata[$0] != nil }) {
                throw InputError("\(path): checkpoint version \(version) cannot hold '\(key)' (version 2 keeps it): "
                    + "the file was edited or mixed")
            }
            if version < 3, let key = Self.keysOfVersion3.sorted().first(where: { metadata[$0] != nil }) {
                throw InputError("\(path): checkpoint version \(version) cannot hold '\(key)' (version 3 keeps it): "
                    + "the file was edited or mixed")
            }
        }

        /// The keys version 3 added (how the table's columns were read).
        static let keysOfVersion3: Set<String> = [Key.categorical, Key.maxCategories, Key.minCategoryCount, Key.missingValues,
                                                  Key.dropMissingTarget]

        /// A JSON array of strings.
        func strings(_ key: String) throws -> [String] {
            let text = try text(key)
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)), let strings = object as? [String] else {
                throw InputError("\(path): checkpoint metadata '\(key)' is not valid: \"\(text)\" (a JSON array of strings)")
            }
            return strings
        }

        /// The keys version 2 added (weights, dropout, `--reproducible`, the plateau schedule).
        static let keysOfVersion2: Set<String> = [
            Key.weightSum, Key.plateauPatience, Key.plateauFactor, Key.plateauThreshold, Key.minimumRate, Key.chunkRows,
            Key.sampleWeight, Key.trainWeights, Key.classWeight, Key.dropout,
        ]

        private func text(_ key: String) throws -> String {
            let stored = version == 0 ? unversionedKeys[key] ?? key : key
            guard let text = metadata[stored] else {
                throw InputError("\(path): not a checkpoint (no '\(stored)' in its metadata; write one with --checkpoint)")
            }
            return text
        }

        func value<Value: LosslessStringConvertible>(_ key: String, _: Value.Type = Value.self) throws -> Value {
            let text = try text(key)
            guard let value = Value(text) else {
                throw InputError("\(path): checkpoint metadata '\(key)' is not valid: \"\(text)\"")
            }
            return value
        }

        /// A value that may be `none`.
        func optional<Value: LosslessStringConvertible>(_ key: String, _: Value.Type = Value.self) throws -> Value? {
            try text(key) == none ? nil : try value(key, Value.self)
        }
    }
}

extension Checkpoint {
    /// Checks the stored position against the data it resumes on: the batch within the epoch
    /// must be one of the epoch's `batchesPerEpoch` batches (a position past them would never
    /// reach the epoch's end), and the step count must be the steps of the epochs done plus
    /// those of this one, as training counts them.
    func checkPosition(batchesPerEpoch: Int, batchSize: Int, path: String) throws {
        let refuse = { (what: String) in
            InputError("\(path): checkpoint position (epoch \(position.epoch), batch \(position.batchInEpoch), "
                + "step \(position.step)) does not fit the data: \(what)")
        }
        // An interrupted run may stop after an epoch's last batch, before its evaluation: batch = batches.
        guard position.batchInEpoch <= batchesPerEpoch else {
            throw refuse("an epoch of this data has \(batchesPerEpoch) batches of \(batchSize)")
        }
        let (epochsDone, overflow) = (position.epoch - 1).multipliedReportingOverflow(by: batchesPerEpoch)
        let expectedStep = epochsDone.addingReportingOverflow(position.batchInEpoch)
        guard !overflow, !expectedStep.overflow, expectedStep.partialValue == position.step else {
            throw refuse("with \(batchesPerEpoch) batches per epoch the step would be (epoch − 1) × \(batchesPerEpoch) + batch")
        }
        let (largestSamples, samplesOverflow) = position.batchInEpoch.multipliedReportingOverflow(by: batchSize)
        guard samplesOverflow || position.epochSamples <= Double(largestSamples) else {
            throw refuse("\(position.epochSamples) samples in \(position.batchInEpoch) batches of \(batchSize)")
        }
    }
}

/// `items` as a JSON array of strings.
func jsonStrings(_ items: [String]) -> String {
    let data = try! JSONSerialization.data(withJSONObject: items, options: [.withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}
