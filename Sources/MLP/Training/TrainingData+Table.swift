/// Reading `--train`: a CSV is read as a table (its columns' roles found from their values); a
/// table with categorical columns or missing values is preprocessed (`TablePreprocessing`),
/// one without is the dataset itself, as before tables had categories and gaps.
extension TrainingData {
    enum Loaded {
        /// The features as read: every one a number (MNIST, `.npy`, a complete numeric CSV).
        case dataset(Dataset<T>)
        /// A table to preprocess.
        case table(RawTable)
    }

    static func loadTraining(_ configuration: TrainingConfiguration, start: Start, kind: TargetKind, rank: Int,
                             ranks: Int) throws -> Loaded {
        guard case .csv(let path) = configuration.train else {
            if let name = configuration.table.categorical.first {
                throw InputError("--categorical \(name) names a CSV column: \(configuration.train.text) is not a CSV")
            }
            return .dataset(try load(configuration.train, role: .train, configuration, kind: kind, rank: rank, ranks: ranks))
        }
        // A run from a model that holds a preprocessing (--init-from) reads the columns it reads;
        // a new or resumed run finds them from the values, as the run it continues did.
        let startingPreprocessing = start.model?.preprocessing
        let plan = configuration.resume == nil ? startingPreprocessing.map(ColumnPlan.fitted) ?? .infer(configuration.table)
                                               : .infer(configuration.table)
        var table = try CSVReader.readTable(path: path, targetColumns: configuration.targetColumns, kind: kind, plan: plan,
                                            singlePrecision: T.self == Float.self, weightColumn: configuration.sampleWeight)
        if table.isComplete && startingPreprocessing == nil { return .dataset(table.dataset()) }
        return .table(RawTable(&table, path: path))
    }

    /// The rows that train and those `--validation-split` holds out (in file order), as
    /// `Dataset.holdingOut` splits a dataset; of one fold of `mlp sweep`, its rows stand for the file.
    static func trainingRows(of rowCount: Int, _ configuration: TrainingConfiguration) throws -> (training: [Int], validation: [Int]?) {
        let rows = configuration.trainRows ?? Array(0 ..< rowCount)
        guard let fraction = configuration.validationSplit else { return (rows, nil) }
        let split = try Dataset<T>.validationSplit(rowCount: rows.count, fraction: fraction, seed: configuration.seed)
        return (split.training.map { rows[$0] }, split.validation.map { rows[$0] })
    }
}
