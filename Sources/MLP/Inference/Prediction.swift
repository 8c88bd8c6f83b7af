import Foundation

/// Writes a model's predictions for each row of a CSV of features: the predicted class label
/// (as in the training data) and the class probabilities, or the regression outputs.
/// Input columns are matched to the training features by name; columns named like the
/// model's targets are ignored. Runs on one process (rank 0 under mpirun); the output file is
/// written atomically, a stream (`-`, a FIFO) in place.
///
/// Throws an `InputError` before reading anything if `output` is `input` or the model (by
/// device and inode) or a path `predict --output` does not accept (`OutputPath`); a `WriteError`
/// if writing fails; `OutputStreamClosed` if a stream's reader has gone.
public func runPrediction(model path: String, input: String, output given: String,
                          loss: Loss?, activation: Activation?) throws -> PredictionSummary {
    try refuseOverlappingFiles(reads: [NamedFile("--input", input), NamedFile("--model", path)],
                               writes: [NamedFile("--output", given)])
    let output = try OutputPath(given, for: .predictOutput)
    let file = try ModelFile.read(path: path)
    switch file.precision {
    case .float32: return try predict(Float.self, file, path, input, output, loss, activation)
    case .float64: return try predict(Double.self, file, path, input, output, loss, activation)
    }
}

/// What `predict` wrote: its rows, and per categorical column with any the rows whose value was
/// not seen in training (encoded as all zeros, never an error).
public struct PredictionSummary: Sendable {
    public var rows: Int
    public var unseenCategories: [(column: String, rows: Int)]
}

private func predict<T: Scalar>(_: T.Type, _ file: ModelFile, _ path: String, _ input: String, _ output: OutputPath,
                                _ loss: Loss?, _ activation: Activation?) throws -> PredictionSummary {
    let model = try LoadedModel<T>(file, path: path, loss: loss ?? file.loss ?? .squaredError, activation: activation)
    let (raw, unseen) = try model.read(.csv(path: input), targetColumns: file.targetNames, kind: .none)
    let data = try model.prepare(raw, source: input)
    let outputs = model.network.layout.outputCount
    let classNames = model.network.loss == .crossEntropy ? file.classNames : nil

    var text = ""
    if let classNames {
        text += (["label"] + classNames.map { "probability_" + $0 }).map(csvField).joined(separator: ",") + "\n"
    } else {
        let names = file.targetNames ?? (0 ..< outputs).map { "output\($0)" }
        text += names.map(csvField).joined(separator: ",") + "\n"
    }
    var probabilities = [Double](repeating: 0, count: outputs)
    model.forEachChunk(of: data, rows: 0 ..< data.rowCount, evaluate: false) { _, count, workspace, _ in
        for i in 0 ..< count {
            let z = workspace.outputs + i * outputs
            if let classNames {
                // softmax(z), shifted by the largest logit.
                let best = argmax(z, count: outputs)
                var sum = 0.0
                for j in 0 ..< outputs { probabilities[j] = Foundation.exp(Double(z[j] - z[best])); sum += probabilities[j] }
                text += csvField(classNames[best])
                for j in 0 ..< outputs { text += ",\(probabilities[j] / sum)" }
            } else {
                text += (0 ..< outputs).map { "\(Double(z[$0]))" }.joined(separator: ",")
            }
            text += "\n"
        }
    }
    try output.write(Array(text.utf8))
    return PredictionSummary(rows: data.rowCount, unseenCategories: unseen)
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
func csvField(_ value: String) -> String {
    guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
    return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
