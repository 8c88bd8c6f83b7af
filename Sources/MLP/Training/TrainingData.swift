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
    /// - Parameter fingerprintingContent: compute `contentFingerprints` (for more than one rank).
    init(_ configuration: TrainingConfiguration, start: Start, fingerprintingContent: Bool = false) throws {
        let startingPath = configuration.resume ?? configuration.initFrom ?? "the model"
        let isClassification = configuration.loss == .crossEntropy
        train = try configuration.train.load(role: .train, targetColumns: configuration.targetColumns,
                                             kind: isClassification ? .classes(classNames: nil) : .values, seed: configuration.seed)
        trainRowsAsRead = train.rowCount
        trainFingerprint = train.fingerprint
        let trainContent = fingerprintingContent ? try train.contentFingerprint() : nil
        if let checkpoint = start.checkpoint,
           (checkpoint.settings.trainRows, checkpoint.settings.trainFingerprint) != (trainRowsAsRead, trainFingerprint) {
            throw InputError("\(configuration.train.text) is not the data \(startingPath) was trained on (\(train.rowCount) rows now, \(checkpoint.settings.trainRows) then, or the values changed)")
        }
        if let modelClasses = start.model?.classNames, train.isClassification, modelClasses != train.classNames {
            throw InputError("\(startingPath): the model's classes \(modelClasses) differ from the training data's \(train.classNames)")
        }
        // --validation-split rows leave the training rows before anything is computed from them.
        if let fraction = configuration.validationSplit {
            let split = try train.holdingOut(fraction: fraction, seed: configuration.seed)
            train = split.training
            validation = split.validation
        }
        if let source = configuration.test {
            let kind: TargetKind = isClassification ? .classes(classNames: train.classNames) : .values
            let data: Dataset<T> = try source.load(role: .test, targetColumns: configuration.targetColumns, kind: kind, seed: configuration.seed)
            guard data.featureNames == train.featureNames, data.targetNames == train.targetNames else {
                throw InputError("--test data has columns \(data.featureNames + data.targetNames) but --train has \(train.featureNames + train.targetNames)")
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
    }
}
