/// The data of one training run, read and made ready: the training rows (less any held out for
/// validation), the validation and test rows, standardized when the run standardizes, and the
/// layer sizes that fit them.
struct TrainingData<T: Scalar> {
    var train: Dataset<T>
    /// The `--validation-split` rows, held out of `train`.
    var validation: Dataset<T>?
    var test: Dataset<T>?
    var standardization: Standardization?
    /// U_0 … U_L: the starting model's, or the data's inputs and outputs around the hidden widths.
    var layerSizes: [Int]
    /// Rows and fingerprint of the training data as read (before any split or standardization):
    /// what a checkpoint records to recognize it.
    var trainRowsAsRead: Int
    var trainFingerprint: UInt64
    /// Fingerprints of every value of the training and test data as read
    /// (`Dataset.contentFingerprint`), which the ranks compare at start; nil unless asked for.
    var contentFingerprints: (train: UInt64, test: UInt64?)?

    /// Reads the data, and checks it against the checkpoint and the starting model.
    /// - Parameters:
    ///   - rank, ranks: this rank and the number of ranks: each checks its share of the rows of
    ///     memory-mapped features for values that are not finite (a CSV's are checked as read);
    ///     with more than one rank, `contentFingerprints` are computed for the ranks to compare.
    init(_ configuration: TrainingConfiguration, start: Start, rank: Int = 0, ranks: Int = 1) throws {
        let fingerprintingContent = ranks > 1
        let startingPath = configuration.resume ?? configuration.initFrom ?? "the model"
        let isClassification = configuration.loss == .crossEntropy
        train = try configuration.train.load(role: .train, targetColumns: configuration.targetColumns,
                                             kind: isClassification ? .classes(classNames: nil) : .values, seed: configuration.seed)
        if let mapped = train.mappedFeatures {
            try mapped.checkFinite(rows: shardRange(count: mapped.rowCount, rank: rank, size: ranks), featureNames: train.featureNames)
        }
        trainRowsAsRead = train.rowCount
        trainFingerprint = train.fingerprint
        let trainContent = fingerprintingContent ? try train.contentFingerprint() : nil
        if let checkpoint = start.checkpoint,
           (checkpoint.settings.trainRows, checkpoint.settings.trainFingerprint) != (trainRowsAsRead, trainFingerprint) {
            let difference = trainRowsAsRead == checkpoint.settings.trainRows
                ? "the same \(trainRowsAsRead) rows, other values" : "\(trainRowsAsRead) rows now, \(checkpoint.settings.trainRows) then"
            throw InputError("--train \(configuration.train.text) is not the data \(startingPath) was trained on (\(difference))")
        }
        if let modelClasses = start.model?.classNames, train.isClassification, modelClasses != train.classNames {
            throw InputError("\(startingPath): the model's classes \(listed(modelClasses)) differ from the training data's \(listed(train.classNames))")
        }
        // Columns are matched by name: a starting model's input j must be the data's column j,
        // and its output k the data's target k.
        if let modelFeatures = start.model?.featureNames, modelFeatures != train.featureNames {
            let order = Set(modelFeatures) == Set(train.featureNames) ? " (the same columns in another order: write the data in the model's order)" : ""
            throw InputError("\(startingPath) takes the columns \(listed(modelFeatures)), the training data has \(listed(train.featureNames))\(order)")
        }
        if !train.isClassification, let modelTargets = start.model?.targetNames, modelTargets != train.targetNames {
            guard modelTargets.count == train.targetNames.count, Set(modelTargets) == Set(train.targetNames) else {
                throw InputError("\(startingPath) predicts the targets \(listed(modelTargets)), the training data has \(listed(train.targetNames))")
            }
            train = train.reorderingTargets(to: modelTargets)
        }
        // --validation-split rows leave the training rows before anything is computed from them.
        if let fraction = configuration.validationSplit {
            let split = try train.holdingOut(fraction: fraction, seed: configuration.seed)
            train = split.training
            validation = split.validation
        }
        if let source = configuration.test {
            let kind: TargetKind = isClassification ? .classes(classNames: train.classNames) : .values
            var data: Dataset<T> = try source.load(role: .test, targetColumns: configuration.targetColumns, kind: kind, seed: configuration.seed)
            if let mapped = data.mappedFeatures {
                try mapped.checkFinite(rows: shardRange(count: mapped.rowCount, rank: rank, size: ranks), featureNames: data.featureNames)
            }
            // Targets are matched by name (a .npy's names may list them in another order).
            if !train.isClassification, Set(data.targetNames) == Set(train.targetNames) { data = data.reorderingTargets(to: train.targetNames) }
            guard data.featureNames == train.featureNames, data.targetNames == train.targetNames else {
                throw InputError("--test \(source.text) has columns \(listed(data.featureNames + data.targetNames)) but --train has \(listed(train.featureNames + train.targetNames))")
            }
            test = data
        }
        if let trainContent { contentFingerprints = (trainContent, try test?.contentFingerprint()) }

        // Standardization: the starting model's statistics (its inputs were standardized so), else
        // the training data's when asked for.
        standardization = start.model?.standardization ?? (configuration.standardize ? Standardization(of: train) : nil)
        if let standardization {
            standardization.apply(to: &train)
            if var data = test { standardization.apply(to: &data); test = data }
            if var data = validation { standardization.apply(to: &data); validation = data }
        }

        if let model = start.model {
            guard model.layerSizes.first == train.featureCount, model.layerSizes.last == train.outputCount else {
                throw InputError("\(startingPath) has \(model.layerSizes.first ?? 0) inputs and \(model.layerSizes.last ?? 0) outputs but the data has \(train.featureCount) features and \(train.outputCount) \(train.isClassification ? "classes" : "targets")")
            }
            layerSizes = model.layerSizes
        } else {
            layerSizes = [train.featureCount] + configuration.hidden + [train.outputCount]
        }
        let batchesPerEpoch = configuration.stepsPerEpoch(trainingRows: train.rowCount)
        if configuration.epochs.multipliedReportingOverflow(by: batchesPerEpoch).overflow {
            throw InputError("--epochs \(configuration.epochs) of \(batchesPerEpoch) steps each are more steps than can be counted: use fewer epochs or --max-steps")
        }
        if let checkpoint = start.checkpoint {
            try checkpoint.checkPosition(batchesPerEpoch: batchesPerEpoch, batchSize: configuration.batchSize, path: startingPath)
        }
        let shardRows = (min(configuration.batchSize, train.rowCount) + ranks - 1) / ranks
        try MemoryEstimate(layerSizes: layerSizes, scalarBytes: MemoryLayout<T>.size, optimizer: configuration.optimizer,
                           earlyStopping: configuration.earlyStopping != nil, shardRows: shardRows).check(layerSizes: layerSizes)
    }
}
