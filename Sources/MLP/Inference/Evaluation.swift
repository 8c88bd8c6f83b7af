import Foundation

/// The metrics `mlp evaluate` reports for a model on labelled data.
public struct Evaluation: Sendable {
    public var rows: Int
    /// J: mean loss per row (cross-entropy, or squared error summed over the targets).
    public var loss: Double

    public struct Classification: Sendable {
        public var classNames: [String]
        public var accuracy: Double
        /// confusion[true class][predicted class] = rows.
        public var confusion: [[Int]]
        /// Per class; nil where the class was never predicted (precision) or never present (recall).
        public var precision: [Double?]
        public var recall: [Double?]
    }

    public struct Regression: Sendable {
        public var targetNames: [String]
        /// Per target: mean squared error, mean absolute error, coefficient of determination.
        public var meanSquaredError: [Double]
        public var meanAbsoluteError: [Double]
        public var r2: [Double]
    }

    public var classification: Classification?
    public var regression: Regression?
    /// Per categorical column, the rows whose value was not seen in training (encoded as all
    /// zeros); only columns with such rows. nil for a model without a preprocessing.
    public var unseenCategories: [(column: String, rows: Int)]?
}

/// Evaluates a model file on a dataset, data-parallel: each rank takes a contiguous shard of
/// the rows and one allreduce adds up the sums (loss, confusion counts, error sums), so the
/// result equals a single process's up to summation order. With `chunkRows` (`--reproducible`)
/// the rows are cut into chunks that do not depend on the ranks and the sums are combined
/// exactly (`ChunkTotals`): the same bits on any number of ranks. `rows`: only these rows of the
/// data, in this order (the held-out fold of `mlp sweep`); nil: all. `trainingSeed`: read the data
/// as `--train` reads it (MNIST's training split, the spirals of that seed), not as test data.
public func runEvaluation(model path: String, data source: DataSource, rows: [Int]? = nil, trainingSeed: UInt64? = nil,
                          targetColumns: [String]?, loss: Loss?, activation: Activation?, chunkRows: Int? = nil,
                          communicator: Communicator) throws -> Evaluation {
    let file = try communicator.agree { try ModelFile.read(path: path) }
    if chunkRows != nil { BLASInfo.threads = 1 }   // a BLAS call's bits depend on its threads
    switch file.precision {
    case .float32:
        return try evaluate(Float.self, file, path, source, rows, trainingSeed, targetColumns, loss, activation, chunkRows, communicator)
    case .float64:
        return try evaluate(Double.self, file, path, source, rows, trainingSeed, targetColumns, loss, activation, chunkRows, communicator)
    }
}

private func evaluate<T: Scalar>(_: T.Type, _ file: ModelFile, _ path: String, _ source: DataSource, _ rows: [Int]?,
                                 _ trainingSeed: UInt64?, _ targetColumns: [String]?,
                                 _ loss: Loss?, _ activation: Activation?, _ chunkRows: Int?,
                                 _ communicator: Communicator) throws -> Evaluation {
    let (model, data, dataFingerprint, unseen) = try communicator.agree {
        () -> (LoadedModel<T>, Dataset<T>, UInt64?, [(column: String, rows: Int)]) in
        let model = try LoadedModel<T>(file, path: path, loss: loss, activation: activation)
        // A CSV's targets are the model's target columns unless named otherwise.
        var columns = targetColumns
        if case .csv = source, columns == nil { columns = file.targetNames }
        // The weight column the model was trained with is skipped: evaluate's metrics are per row.
        var (raw, unseen) = try model.read(source, targetColumns: columns, kind: model.targetKind, trainingSeed: trainingSeed)
        raw.weights = nil
        if let rows { raw = raw.rows(rows) }
        if let mapped = raw.mappedFeatures {
            // Each rank checks the rows it evaluates for values that are not finite.
            try mapped.checkFinite(rows: shardRange(count: raw.rowCount, rank: communicator.rank, size: communicator.size),
                                   featureNames: raw.featureNames)
        }
        return (model, try model.prepare(raw, source: source.text), communicator.size > 1 ? try raw.contentFingerprint() : nil, unseen)
    }
    // Every rank evaluates the same model on the same data with the same options, or none does.
    try communicator.agreeAtStart(evaluationStartItems(model: path, data: source, dataFingerprint: dataFingerprint,
                                                       settings: ["loss \(model.network.loss.rawValue)",
                                                                  "activation \(model.network.activation.rawValue)",
                                                                  "targetColumns \(targetColumns?.joined(separator: ",") ?? "none")"]))
    let outputs = model.network.layout.outputCount
    // [loss sum | confusion M×M] or [loss sum | Σ(y−z)² | Σ|y−z| | Σy | Σy²], per output.
    var sums = [Double](repeating: 0, count: 1 + (data.isClassification ? outputs * outputs : 4 * outputs))
    func add(rows count: Int, _ workspace: Workspace<T>, lossSum: Double) {
        sums[0] += lossSum
        for i in 0 ..< count {
            let z = workspace.outputs + i * outputs
            if data.isClassification {
                sums[1 + Int(workspace.labels[i]) * outputs + argmax(z, count: outputs)] += 1
            } else {
                let y = workspace.targetValues + i * outputs
                for k in 0 ..< outputs {
                    let target = Double(y[k]), error = target - Double(z[k])
                    sums[1 + k] += error * error
                    sums[1 + outputs + k] += abs(error)
                    sums[1 + 2 * outputs + k] += target
                    sums[1 + 3 * outputs + k] += target * target
                }
            }
        }
    }
    if let chunkRows {
        let grid = ChunkGrid(rows: data.rowCount, chunkRows: chunkRows)
        var totals = ChunkTotals(width: sums.count)
        let rows = grid.rows(of: grid.chunks(rank: communicator.rank, size: communicator.size))
        model.forEachChunk(of: data, rows: rows, evaluate: true, chunkRows: chunkRows) { _, count, workspace, lossSum in
            for k in sums.indices { sums[k] = 0 }
            add(rows: count, workspace, lossSum: lossSum)
            totals.append(sums)
        }
        sums = totals.combined(totalChunks: grid.count, communicator: communicator).sums.map { $0 ?? .nan }
    } else {
        let shard = shardRange(count: data.rowCount, rank: communicator.rank, size: communicator.size)
        model.forEachChunk(of: data, rows: shard, evaluate: true) { _, count, workspace, lossSum in
            add(rows: count, workspace, lossSum: lossSum)
        }
        sums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
    }
    var evaluation = Evaluation(sums: sums, of: data, outputs: outputs)
    if file.preprocessing != nil { evaluation.unseenCategories = unseen }
    return evaluation
}

extension Evaluation {
    /// The metrics from the sums over every row: the loss sum, then the confusion counts or the
    /// per-output error sums, as `evaluate` adds them up.
    init<T: Scalar>(sums: [Double], of data: Dataset<T>, outputs: Int) {
        let n = Double(max(data.rowCount, 1))
        self.init(rows: data.rowCount, loss: sums[0] / n)
        if data.isClassification {
            var confusion = [[Int]](repeating: [Int](repeating: 0, count: outputs), count: outputs)
            for t in 0 ..< outputs { for p in 0 ..< outputs { confusion[t][p] = Int(sums[1 + t * outputs + p]) } }
            var correct = 0, predicted = [Int](repeating: 0, count: outputs), present = predicted
            for t in 0 ..< outputs {
                correct += confusion[t][t]
                for p in 0 ..< outputs { predicted[p] += confusion[t][p]; present[t] += confusion[t][p] }
            }
            var precision: [Double?] = [], recall: [Double?] = []
            for k in 0 ..< outputs {
                precision.append(predicted[k] > 0 ? Double(confusion[k][k]) / Double(predicted[k]) : nil)
                recall.append(present[k] > 0 ? Double(confusion[k][k]) / Double(present[k]) : nil)
            }
            classification = .init(classNames: data.classNames, accuracy: Double(correct) / n, confusion: confusion,
                                   precision: precision, recall: recall)
        } else {
            let sse = Array(sums[1 ..< 1 + outputs]), sae = Array(sums[1 + outputs ..< 1 + 2 * outputs])
            let sum = Array(sums[1 + 2 * outputs ..< 1 + 3 * outputs]), sumOfSquares = Array(sums[1 + 3 * outputs ..< 1 + 4 * outputs])
            regression = .init(
                targetNames: data.targetNames, meanSquaredError: sse.map { $0 / n }, meanAbsoluteError: sae.map { $0 / n },
                r2: (0 ..< outputs).map { k in
                    let total = sumOfSquares[k] - sum[k] * sum[k] / n
                    return total > 0 ? 1 - sse[k] / total : .nan
                })
        }
    }
}

extension Evaluation {
    /// Machine-readable: one JSON object. JSON has no NaN or infinity: a number that is not
    /// finite (the loss of a model whose outputs overflow) is written as null.
    public var json: String {
        func number(_ value: Double?) -> Any { value.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
        var object: [String: Any] = ["rows": rows, "loss": number(loss)]
        if let c = classification {
            object["accuracy"] = number(c.accuracy)
            object["classes"] = c.classNames
            object["confusion_matrix"] = c.confusion
            object["precision"] = c.precision.map(number)
            object["recall"] = c.recall.map(number)
        }
        // Every rank read the whole table, so the counts are the whole data's.
        if let unseenCategories {
            object["unseen_categories"] = Dictionary(unseenCategories.map { ($0.column, $0.rows) }, uniquingKeysWith: +)
        }
        if let r = regression {
            object["targets"] = r.targetNames
            object["mse"] = r.meanSquaredError.map(number)
            object["mae"] = r.meanAbsoluteError.map(number)
            object["r2"] = r.r2.map(number)
        }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// For people: the loss, then accuracy with per-class precision/recall and the confusion
    /// matrix, or per-target MSE, MAE and R².
    public var text: String {
        var lines = ["rows \(rows)  loss \(fixed(loss, 6))"]
        if let c = classification {
            lines.append("accuracy \(fixed(100 * c.accuracy, 2))%")
            let width = max(11, (c.classNames.map(\.count).max() ?? 0) + 2)
            func pad(_ text: String) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
            func percent(_ value: Double?) -> String { value.map { fixed(100 * $0, 2) + "%" } ?? "-" }
            lines.append(pad("class") + pad("precision") + pad("recall") + pad("rows"))
            for (k, name) in c.classNames.enumerated() {
                lines.append(pad(name) + pad(percent(c.precision[k])) + pad(percent(c.recall[k])) + pad("\(c.confusion[k].reduce(0, +))"))
            }
            lines.append("confusion matrix (rows: true class, columns: predicted)")
            lines.append(pad("") + c.classNames.map(pad).joined())
            for (k, name) in c.classNames.enumerated() { lines.append(pad(name) + c.confusion[k].map { pad("\($0)") }.joined()) }
        }
        if let unseenCategories, !unseenCategories.isEmpty {
            lines.append("values not seen in training (encoded as zeros): "
                + unseenCategories.map { "\($0.column) \($0.rows)" }.joined(separator: ", "))
        }
        if let r = regression {
            for (k, name) in r.targetNames.enumerated() {
                lines.append("\(name): MSE \(fixed(r.meanSquaredError[k], 6))  "
                    + "MAE \(fixed(r.meanAbsoluteError[k], 6))  R² \(fixed(r.r2[k], 4))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
