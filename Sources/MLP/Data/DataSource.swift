/// Where a dataset comes from, as given to `--train` / `--test`.
public enum DataSource: Equatable, Sendable {
    /// A CSV file with a header row, or a gzip-compressed one (told by its first bytes).
    case csv(path: String)
    /// `mnist:DIR`: the four standard IDX files (`.gz` or raw); training reads the training
    /// pair, testing the t10k pair.
    case mnist(directory: String)
    /// `synthetic:spirals`: three interleaved spirals in 2-D, generated in-process (the built-in demo).
    case spirals
    /// `X.npy` with its labels `y.npy` (given by `--train-labels`, `--test-labels` or
    /// `--labels`): features read through a memory map (see `NPYDataset`).
    case npy(features: String, labels: String)

    /// - Parameters:
    ///   - labels: the labels file that goes with `.npy` features; only for them.
    ///   - labelsOption: the option that gives it, for messages.
    public init(_ text: String, labels: String? = nil, labelsOption: String = "--train-labels") throws {
        if text.hasSuffix(".npy") {
            guard let labels else { throw InputError("\(text): .npy features need their labels: add \(labelsOption) LABELS.npy") }
            guard labels.hasSuffix(".npy") else { throw InputError("\(labelsOption) \(labels): expected a .npy file") }
            self = .npy(features: text, labels: labels)
            return
        }
        if let labels { throw InputError("\(labelsOption) \(labels) applies to .npy features only (\(text) holds its own labels)") }
        if text.hasPrefix("mnist:") {
            let directory = String(text.dropFirst("mnist:".count))
            guard !directory.isEmpty else { throw InputError("mnist: needs a directory, as in mnist:data/mnist") }
            self = .mnist(directory: directory)
        } else if text == "synthetic:spirals" {
            self = .spirals
        } else if text.hasPrefix("synthetic:") {
            throw InputError("unknown synthetic dataset '\(text)' (available: synthetic:spirals)")
        } else {
            guard !text.isEmpty else { throw InputError("empty data path") }
            self = .csv(path: text)
        }
    }

    /// The text that names this source, as on the command line.
    public var text: String {
        switch self {
        case .csv(let path): return path
        case .mnist(let directory): return "mnist:" + directory
        case .spirals: return "synthetic:spirals"
        case .npy(let features, _): return features
        }
    }

    /// The labels file of `.npy` features; nil for the other sources.
    public var labels: String? {
        if case .npy(_, let labels) = self { return labels }
        return nil
    }

    public enum Role: Sendable { case train, test }

    var isCSV: Bool { if case .csv = self { return true } else { return false } }

    /// Reads the dataset. `kind` says how to read targets; for test data it carries the
    /// training data's class names so labels map to the same indices.
    /// `weightColumn`: a CSV's column of row weights, which must exist (`--sample-weight`);
    /// `weightColumnIfPresent`: read it only where the file has it (test data).
    public func load<T: Scalar>(role: Role, targetColumns: [String]?, kind: TargetKind, seed: UInt64,
                                weightColumn: String? = nil, weightColumnIfPresent: String? = nil) throws -> Dataset<T> {
        if weightColumn != nil, !isCSV {
            throw InputError("--sample-weight names a CSV column: "
                + "\(text) is not a CSV (give .npy data its weights with --train-weights W.npy)")
        }
        switch self {
        case .csv(let path):
            return try CSVReader.read(path: path, targetColumns: targetColumns, kind: kind, weightColumn: weightColumn,
                                      weightColumnIfPresent: weightColumnIfPresent)
        case .mnist(let directory):
            guard kind != .values else { throw InputError("MNIST labels are classes: use --loss cross-entropy") }
            guard kind != .none else { throw InputError("mnist: data holds labels; predict reads a CSV of features") }
            guard targetColumns == nil else { throw InputError("--target does not apply to mnist: data") }
            return try MNIST.load(directory: directory, split: role == .train ? .train : .test)
        case .spirals:
            guard kind != .values else { throw InputError("synthetic:spirals is a classification task: use --loss cross-entropy") }
            guard kind != .none else { throw InputError("synthetic:spirals holds labels; predict reads a CSV of features") }
            guard targetColumns == nil else { throw InputError("--target does not apply to synthetic: data") }
            return Synthetic.spirals(rows: role == .train ? 6000 : 2000, seed: role == .train ? seed : seed &+ 1)
        case .npy(let features, let labels):
            return try NPYDataset.load(features: features, labels: labels, kind: kind, targetColumns: targetColumns)
        }
    }
}
