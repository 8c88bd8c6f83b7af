import ArgumentParser
import MLP

// Option declarations look alike: each declares one flag, as swift-argument-parser wants them.

/// `mlp convert`: a CSV to the `.npy` pair, the format for data larger than memory.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a CSV (header row) to PREFIX.X.npy (features), "
            + "PREFIX.y.npy (labels or targets) and PREFIX.y.json (names), streaming.",
        discussion: """
            Class labels become int64 class indices (integer labels keep their value, other labels are sorted and numbered, \
            as mlp train does with a CSV); their names go to PREFIX.y.json. Convert test data with --classes-from TRAIN.y.json \
            so its indices mean the same classes. Then: mlp train --train PREFIX.X.npy --train-labels PREFIX.y.npy
            """)

    @Option(help: ArgumentHelp("The CSV file to convert (gzip-compressed too).", valueName: "file.csv"))
    var input: String

    @Option(help: ArgumentHelp("Output prefix: writes PREFIX.X.npy, PREFIX.y.npy and PREFIX.y.json.", valueName: "prefix"))
    var output: String

    @Option(help: ArgumentHelp("Target column(s), comma-separated (default: the last column).", valueName: "columns"))
    var target: String?

    @Option(help: "cross-entropy: the target is a class label; squared-error: numeric regression targets.")
    var loss: Loss = .crossEntropy

    @Option(help: "Element type of the features (and regression targets): float32 or float64.")
    var dtype: Precision = .float32

    @Option(help: ArgumentHelp("Number the classes as in this y.json (the training data's), not by this file's labels.", valueName: "file"))
    var classesFrom: String?

    func run() throws {
        try withoutCommunicator {
            // Before reading anything: no output may be the input, the --classes-from file or another output.
            try CSVConverter.refuseUnsafeOutputs(input: input, prefix: output,
                                                 alsoReads: classesFrom.map { [NamedFile("--classes-from", $0)] } ?? [])
            let columns = target.map { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }
            var targets = CSVConverter.Targets.values
            if loss == .crossEntropy {
                let names = try classesFrom.map { path -> [String] in
                    guard let names = try NPYDataset.Sidecar(reading: path).classNames else {
                        throw InputError("--classes-from \(path): no class_names in it")
                    }
                    return names
                }
                targets = .classes(classNames: names)
            } else if classesFrom != nil {
                throw InputError("--classes-from applies to class labels (--loss cross-entropy)")
            }
            let summary = try CSVConverter.convert(input: input, prefix: output, targetColumns: columns, targets: targets,
                                                   elementType: dtype == .float32 ? .float32 : .float64)
            let labels = summary.classNames.map { "int64 class indices, \($0.count) classes" }
                ?? "\(summary.targetNames.count) \(dtype.rawValue) target\(summary.targetNames.count == 1 ? "" : "s")"
            standardOutput.line("wrote \(summary.featuresPath) (\(summary.rows) × \(summary.featureNames.count) \(dtype.rawValue)), "
                + "\(summary.labelsPath) (\(labels)), \(summary.namesPath)")
        }
    }
}
