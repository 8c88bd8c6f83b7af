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

    /// How a table's columns became the inputs (a CSV with categorical columns or missing
    /// values); nil when the inputs are the features as read.
    var preprocessing: TablePreprocessing?
    /// Training rows left out because their target is missing (`--drop-missing-target`).
    var droppedRows = 0

    /// Reads the data, and checks it against the checkpoint and the starting model.
    /// - Parameters:
    ///   - rank, ranks: this rank and the number of ranks: each checks its share of the rows of
    ///     memory-mapped features for values that are not finite (a CSV's are checked as read);
    ///     with more than one rank, `contentFingerprints` are computed for the ranks to compare.
    // One function over ~60 lines: the order of reading, splitting, weighing and standardizing is the point.
    init(_ configuration: TrainingConfiguration, start: Start, rank: Int = 0, ranks: Int = 1, ranksOnThisHost: Int = 1) throws {
        let startingPath = configuration.resume ?? configuration.initFrom ?? "the model"
        let isClassification = configuration.loss == .crossEntropy
        let kind: TargetKind = isClassification ? .classes(classNames: nil) : .values
        var train: Dataset<T>
        var validation: Dataset<T>?
        let trainContent: UInt64?
        var fitted: TablePreprocessing?
        switch try Self.loadTraining(configuration, start: start, kind: kind, rank: rank, ranks: ranks) {
        case .dataset(let data):
            train = data
            if let path = configuration.trainWeights {
                guard case .npy = configuration.train else {
                    throw InputError("--train-weights gives .npy data its weights: for a CSV name its column with --sample-weight")
                }
                train.weights = try NPYDataset.weights(path: path, rows: train.rowCount).map { T($0) }
            }
            if let rows = configuration.trainRows { train = train.rows(rows) }
            trainRowsAsRead = train.rowCount
            trainFingerprint = train.fingerprint
            trainContent = ranks > 1 ? try train.contentFingerprint() : nil
            try Self.checkResumedData(rows: trainRowsAsRead, fingerprint: trainFingerprint, start: start, configuration,
                                      startingPath: startingPath)
            try Self.match(&train, to: start, startingPath: startingPath)
            // --validation-split rows leave the training rows before anything is computed from them.
            if let fraction = configuration.validationSplit {
                let split = try train.holdingOut(fraction: fraction, seed: configuration.seed)
                train = split.training
                validation = split.validation
            }
        case .table(let table):
            if configuration.trainWeights != nil {
                throw InputError("--train-weights gives .npy data its weights: for a CSV name its column with --sample-weight")
            }
            (trainRowsAsRead, trainFingerprint, droppedRows) = (configuration.trainRows?.count ?? table.rowCount, table.fingerprint,
                                                                 table.droppedRows)
            trainContent = ranks > 1 ? table.fingerprint : nil
            try Self.checkResumedData(rows: trainRowsAsRead, fingerprint: trainFingerprint, start: start, configuration,
                                      startingPath: startingPath)
            // The preprocessing is fitted on the training rows only: nothing of the validation rows.
            let rows = try Self.trainingRows(of: table.rowCount, configuration)
            let preprocessing = try start.model?.preprocessing ?? TablePreprocessing(fitting: table, rows: rows.training,
                                                                                     options: configuration.table)
            fitted = preprocessing
            train = try preprocessing.encode(table, rows: rows.training).data
            try Self.match(&train, to: start, startingPath: startingPath)
            if let held = rows.validation {
                var data: Dataset<T> = try preprocessing.encode(table, rows: held).data
                try Self.match(&data, to: start, startingPath: startingPath)
                validation = data
            }
        }
        if let classWeight = configuration.classWeight { try Self.weigh(&train, classWeight) }
        if let weights = train.weights, !weights.contains(where: { $0 > 0 }) {
            throw InputError("--train \(configuration.train.text): every training row's weight is 0: nothing to learn from")
        }
        var test = try configuration.test.map { try Self.loadTest($0, like: train, preprocessing: fitted, configuration,
                                                                   rank: rank, ranks: ranks) }
        if let trainContent { contentFingerprints = (trainContent, try test?.contentFingerprint()) }
        train.weights = train.weights.map(Self.scaled)
        if let weights = validation?.weights { validation?.weights = Self.scaled(weights) }
        if let weights = test?.weights { test?.weights = Self.scaled(weights) }

        // Standardization: the starting model's statistics (its inputs were standardized so), else
        // the training data's when asked for.
        standardization = start.model?.standardization ?? (configuration.standardize ? Standardization(of: train) : nil)
        if let standardization {
            standardization.apply(to: &train)
            if var data = test { standardization.apply(to: &data); test = data }
            if var data = validation { standardization.apply(to: &data); validation = data }
        }
        (self.train, self.validation, self.test, preprocessing) = (train, validation, test, fitted)
        layerSizes = try Self.layerSizes(configuration, start: start, train: train, startingPath: startingPath)
        try checkFits(configuration, start: start, ranks: ranks, ranksOnThisHost: ranksOnThisHost, startingPath: startingPath)
    }

    /// Reads `source`; memory-mapped features are checked for values that are not finite, each
    /// rank its share of the rows (a CSV's are checked as read).
    static func load(_ source: DataSource, role: DataSource.Role, _ configuration: TrainingConfiguration,
                             kind: TargetKind, rank: Int, ranks: Int) throws -> Dataset<T> {
        let data: Dataset<T> = try source.load(role: role, targetColumns: configuration.targetColumns, kind: kind, seed: configuration.seed,
                                               weightColumn: role == .train ? configuration.sampleWeight : nil,
                                               weightColumnIfPresent: role == .test ? configuration.sampleWeight : nil)
        if let mapped = data.mappedFeatures {
            try mapped.checkFinite(rows: shardRange(count: mapped.rowCount, rank: rank, size: ranks), featureNames: data.featureNames)
        }
        return data
    }

    /// `--class-weight`: each training row's weight times its class's (scikit-learn's
    /// `compute_class_weight`: balanced is n / (classes · count(class)) over these rows).
    private static func weigh(_ train: inout Dataset<T>, _ classWeight: TrainingOptions.ClassWeight) throws {
        let classes = train.classNames.count
        var perClass: [Double]
        switch classWeight {
        case .balanced:
            var counts = [Int](repeating: 0, count: classes)
            for label in train.labels { counts[Int(label)] += 1 }
            perClass = counts.map { $0 > 0 ? Double(train.rowCount) / (Double(classes) * Double($0)) : 0 }
        case .given(let weights):
            if let unknown = weights.keys.sorted().first(where: { !train.classNames.contains($0) }) {
                throw InputError("--class-weight \(unknown): no such class (classes: \(listed(train.classNames)))")
            }
            perClass = train.classNames.map { weights[$0] ?? 1 }
        }
        let product = train.labels.indices.map { row in T(perClass[Int(train.labels[row])]) * (train.weights?[row] ?? 1) }
        if product.allSatisfy(\.isFinite), scaled(product) == product { train.weights = product; return }
        // Else each factor scaled first, in Double: their product passes T's range (or Double's).
        let given = train.weights.map { scaled($0.map(Double.init)) }
        perClass = scaled(perClass)
        let weights = train.labels.indices.map { row in perClass[Int(train.labels[row])] * (given?[row] ?? 1) }
        train.weights = scalars(scaled(weights))
    }

    /// Σ wᵢLᵢ / Σ wᵢ does not depend on the weights' scale, but their sums do overflow (a largest
    /// weight above 2³²) and their products underflow (below 2⁻³²): then every weight is
    /// multiplied by the power of two that makes the largest 1, exactly. Only then, so weights
    /// that train today keep every bit of their model.
    static func scaled<Value: BinaryFloatingPoint>(_ weights: [Value]) -> [Value] {
        guard let largest = weights.max(), largest > 0, largest.isFinite, largest > 0x1p32 || largest < 0x1p-32 else { return weights }
        // Two factors: 2^-e alone may pass Value's range (float32's 2^-133 for 1e-40's 2^133).
        let half = -largest.exponent / 2
        let first = Value(sign: .plus, exponent: half, significand: 1)
        let second = Value(sign: .plus, exponent: -largest.exponent - half, significand: 1)
        return weights.map { $0 * first * second }
    }

    /// Checks the training data as read (its rows and fingerprint) against the checkpoint it resumes.
    private static func checkResumedData(rows: Int, fingerprint: UInt64, start: Start, _ configuration: TrainingConfiguration,
                                         startingPath: String) throws {
        guard let checkpoint = start.checkpoint,
              (checkpoint.settings.trainRows, checkpoint.settings.trainFingerprint) != (rows, fingerprint) else { return }
        let difference = rows == checkpoint.settings.trainRows
            ? "the same \(rows) rows, other values" : "\(rows) rows now, \(checkpoint.settings.trainRows) then"
        throw InputError("--train \(configuration.train.text) is not the data \(startingPath) was trained on (\(difference))")
    }

    /// Checks the training data against the model it starts from;
    /// columns are matched by name: a starting model's input j must be the data's column j, and
    /// its output k the data's target k (targets listed in another order are reordered).
    private static func match(_ train: inout Dataset<T>, to start: Start, startingPath: String) throws {
        if let modelClasses = start.model?.classNames, train.isClassification, modelClasses != train.classNames {
            throw InputError("\(startingPath): the model's classes \(listed(modelClasses)) "
                + "differ from the training data's \(listed(train.classNames))")
        }
        if let modelFeatures = start.model?.featureNames, modelFeatures != train.featureNames {
            let order = Set(modelFeatures) == Set(train.featureNames) ? " (the same columns in another order: "
                + "write the data in the model's order)" : ""
            throw InputError("\(startingPath) takes the columns \(listed(modelFeatures)), "
                + "the training data has \(listed(train.featureNames))\(order)")
        }
        if !train.isClassification, let modelTargets = start.model?.targetNames, modelTargets != train.targetNames {
            guard modelTargets.count == train.targetNames.count, Set(modelTargets) == Set(train.targetNames) else {
                throw InputError("\(startingPath) predicts the targets \(listed(modelTargets)), "
                    + "the training data has \(listed(train.targetNames))")
            }
            train = train.reorderingTargets(to: modelTargets)
        }
    }

    /// `--test` data, with the training data's classes and columns (targets matched by name: a
    /// .npy's names may list them in another order).
    /// With a preprocessing, the test table's columns are found by name and encoded as the
    /// training rows are (a category not seen in training: all zeros).
    private static func loadTest(_ source: DataSource, like train: Dataset<T>, preprocessing: TablePreprocessing?,
                                 _ configuration: TrainingConfiguration, rank: Int, ranks: Int) throws -> Dataset<T> {
        let kind: TargetKind = train.isClassification ? .classes(classNames: train.classNames) : .values
        var data: Dataset<T>
        if let preprocessing {
            guard case .csv(let path) = source else {
                throw InputError("--test \(source.text): the training table has categorical columns or missing values; "
                    + "its test data is a CSV table of the same columns")
            }
            var table = try CSVReader.readTable(path: path, targetColumns: configuration.targetColumns ?? train.targetNames, kind: kind,
                                                plan: .fitted(preprocessing), singlePrecision: T.self == Float.self,
                                                weightColumnIfPresent: configuration.sampleWeight)
            let raw = RawTable(&table, path: path)
            data = try preprocessing.encode(raw, rows: Array(0 ..< raw.rowCount)).data
        } else {
            data = try load(source, role: .test, configuration, kind: kind, rank: rank, ranks: ranks)
        }
        if !train.isClassification, Set(data.targetNames) == Set(train.targetNames) { data = data.reorderingTargets(to: train.targetNames) }
        guard data.featureNames == train.featureNames, data.targetNames == train.targetNames else {
            throw InputError("--test \(source.text) has columns \(listed(data.featureNames + data.targetNames)) "
                + "but --train has \(listed(train.featureNames + train.targetNames))")
        }
        return data
    }

    /// U_0 … U_L: the starting model's (which must fit the data), else the data's inputs and
    /// outputs around the hidden widths.
    private static func layerSizes(_ configuration: TrainingConfiguration, start: Start, train: Dataset<T>,
                                   startingPath: String) throws -> [Int] {
        guard let model = start.model else { return [train.featureCount] + configuration.hidden + [train.outputCount] }
        guard model.layerSizes.first == train.featureCount, model.layerSizes.last == train.outputCount else {
            throw InputError("\(startingPath) has \(model.layerSizes.first ?? 0) inputs and \(model.layerSizes.last ?? 0) "
                + "outputs but the data has \(train.featureCount) features and \(train.outputCount) "
                + "\(train.isClassification ? "classes" : "targets")")
        }
        return model.layerSizes
    }

    /// The run fits: its step count can be counted, the checkpoint's position lies in this
    /// data's epochs, and the network's memory fits the host.
    private func checkFits(_ configuration: TrainingConfiguration, start: Start, ranks: Int, ranksOnThisHost: Int,
                           startingPath: String) throws {
        let batchesPerEpoch = configuration.stepsPerEpoch(trainingRows: train.rowCount)
        if configuration.epochs.multipliedReportingOverflow(by: batchesPerEpoch).overflow {
            throw InputError("--epochs \(configuration.epochs) of \(batchesPerEpoch) steps each are more steps than can be counted: "
                + "use fewer epochs or --max-steps")
        }
        if let checkpoint = start.checkpoint {
            try checkpoint.checkPosition(batchesPerEpoch: batchesPerEpoch, batchSize: configuration.batchSize, path: startingPath)
        }
        let shardRows = (min(configuration.batchSize, train.rowCount) + ranks - 1) / ranks
        try MemoryEstimate(layerSizes: layerSizes, scalarBytes: MemoryLayout<T>.size, optimizer: configuration.optimizer,
                           earlyStopping: configuration.earlyStopping != nil, shardRows: shardRows)
            .check(layerSizes: layerSizes, ranksOnThisHost: ranksOnThisHost)
    }
}
