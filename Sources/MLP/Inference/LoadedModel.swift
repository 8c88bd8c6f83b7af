/// A model file made ready to run on data: the network in the file's precision, and the way
/// its inputs must be prepared (column order, standardization).
final class LoadedModel<T: Scalar> {
    let file: ModelFile
    let network: Network<T>
    let path: String

    /// - Parameters:
    ///   - loss, activation: for files without our metadata; must agree with it where present.
    init(_ file: ModelFile, path: String, loss: Loss?, activation: Activation?) throws {
        func pick<Value: RawRepresentable & Equatable>(_ option: Value?, _ stored: Value?, _ name: String) throws -> Value?
            where Value.RawValue == String {
            if let option, let stored, option != stored {
                throw InputError("\(name) \(option.rawValue) disagrees with \(path), which was trained with \(stored.rawValue)")
            }
            return option ?? stored
        }
        guard let loss = try pick(loss, file.loss, "--loss") else {
            throw InputError("\(path) does not say its loss (no mlp metadata): give --loss")
        }
        let activation = try pick(activation, file.activation, "--activation") ?? .relu
        if loss == .crossEntropy, file.classNames == nil {
            throw InputError("\(path) does not name its classes (no mlp metadata): it cannot be evaluated on labelled data")
        }
        self.file = file
        self.path = path
        network = Network(layerSizes: file.layerSizes, activation: activation, loss: loss)
        file.load(into: network)
    }

    /// How the targets of data for this model are read.
    var targetKind: TargetKind {
        network.loss == .crossEntropy ? .classes(classNames: file.classNames) : .values
    }

    /// The rows of `source` read for this model, before `prepare`: a CSV through the model's
    /// preprocessing (its columns found by name, any others ignored), or only the model's
    /// feature columns of a CSV, or other data as it is. `unseen`: per categorical column with
    /// any, the rows whose value was not seen in training (encoded as all zeros).
    func read(_ source: DataSource, targetColumns: [String]?, kind: TargetKind, trainingSeed: UInt64? = nil) throws
        -> (data: Dataset<T>, unseen: [(column: String, rows: Int)]) {
        let weight = file.sampleWeightColumn
        guard case .csv(let csv) = source else {
            if file.preprocessing != nil {
                throw InputError("\(source.text): \(path) was trained on a CSV table with categorical columns or missing values: "
                    + "give it a CSV with the same columns")
            }
            return (try source.load(role: trainingSeed == nil ? .test : .train, targetColumns: targetColumns, kind: kind,
                                    seed: trainingSeed ?? 0, weightColumnIfPresent: weight), [])
        }
        guard let preprocessing = file.preprocessing else {
            return (try CSVReader.read(path: csv, targetColumns: targetColumns, kind: kind, weightColumnIfPresent: weight,
                                       featureNames: file.featureNames), [])
        }
        var table = try CSVReader.readTable(path: csv, targetColumns: targetColumns, kind: kind, plan: .fitted(preprocessing),
                                            singlePrecision: T.self == Float.self, weightColumnIfPresent: weight)
        let raw = RawTable(&table, path: csv)
        let (data, unseen) = try preprocessing.encode(raw, rows: Array(0 ..< raw.rowCount)) as (Dataset<T>, [Int])
        let counted = zip(preprocessing.categoricalColumns.map(\.name), unseen).filter { $0.1 > 0 }
        return (data, counted.map { (column: $0.0, rows: $0.1) })
    }

    /// `data` with its feature columns in the model's order, matched by name, standardized as in
    /// training. Columns named like the model's targets are ignored; a missing column is an error,
    /// and so is an extra one in `.npy` features (a CSV's are not read).
    func prepare(_ data: Dataset<T>, source: String) throws -> Dataset<T> {
        var data = data
        if let expected = file.featureNames, data.featureNames != expected {
            let targets = Set(file.targetNames ?? [])
            let given = data.featureNames.filter { !targets.contains($0) }
            let missing = expected.filter { !given.contains($0) }, extra = given.filter { !expected.contains($0) }
            guard missing.isEmpty, extra.isEmpty else {
                var problems: [String] = []
                if !missing.isEmpty { problems.append("missing column\(missing.count == 1 ? "" : "s") \(listed(missing))") }
                if !extra.isEmpty { problems.append("unknown column\(extra.count == 1 ? "" : "s") \(listed(extra))") }
                throw InputError("\(source): \(problems.joined(separator: "; ")) (the model was trained on \(expected.count) columns: "
                    + "\(listed(expected)))")
            }
            guard data.mappedFeatures == nil else {
                throw InputError("\(source): its columns are in another order than the model's (\(listed(expected))): "
                    + "write the .npy in the model's order")
            }
            let sourceColumn = expected.map { data.featureNames.firstIndex(of: $0)! }
            let columns = data.featureCount
            var features = [T](repeating: 0, count: data.rowCount * expected.count)
            for row in 0 ..< data.rowCount {
                for (j, column) in sourceColumn.enumerated() { features[row * expected.count + j] = data.features[row * columns + column] }
            }
            data.features = features
            data.featureCount = expected.count
            data.featureNames = expected
        }
        guard data.featureCount == network.layout.inputCount else {
            throw InputError("\(source) has \(data.featureCount) features but \(path) takes \(network.layout.inputCount) inputs")
        }
        if data.isClassification, data.outputCount != network.layout.outputCount {
            throw InputError("\(source) has \(data.outputCount) classes but \(path) has \(network.layout.outputCount) outputs")
        }
        if !data.isClassification, !data.targetNames.isEmpty, data.targetNames.count != network.layout.outputCount {
            throw InputError("\(source) has \(data.targetNames.count) targets but \(path) has \(network.layout.outputCount) outputs")
        }
        // Targets are matched by name, as features are: output k is the model's target k.
        if !data.isClassification, !data.targetNames.isEmpty, let expected = file.targetNames, data.targetNames != expected {
            guard Set(data.targetNames) == Set(expected) else {
                throw InputError("\(source): targets \(listed(data.targetNames)) are not the model's, \(listed(expected))")
            }
            data = data.reorderingTargets(to: expected)
        }
        file.standardization?.apply(to: &data)
        return data
    }

    /// Runs the forward pass over `rows` rows of `data` in chunks, calling `body` with each
    /// chunk's first row, its size and the workspace holding its inputs, targets and outputs.
    func forEachChunk(of data: Dataset<T>, rows: Range<Int>, evaluate: Bool, chunkRows: Int = 1024,
                      _ body: (_ firstRow: Int, _ count: Int, _ workspace: Workspace<T>, _ lossSum: Double) -> Void) {
        // A chunk larger than the rows is those rows: memory bounded by what is evaluated.
        let workspace = Workspace<T>(layout: network.layout, capacity: max(1, min(chunkRows, rows.count)))
        var start = rows.lowerBound
        while start < rows.upperBound {
            let count = min(workspace.capacity, rows.upperBound - start)
            workspace.gather(count, of: data, withTargets: evaluate) { [start] in start + $0 }
            var lossSum = 0.0
            if evaluate {
                lossSum = network.forwardAndLoss(workspace, rows: count).sum
            } else {
                network.forward(workspace, rows: count)
            }
            body(start, count, workspace, lossSum)
            start += count
        }
    }
}
