/// Where a dataset comes from, as given to `--train` / `--test`.
public enum DataSource: Equatable, Sendable {
    /// A CSV file with a header row.
    case csv(path: String)
    /// `mnist:DIR`: the four standard IDX files (`.gz` or raw); training reads the training
    /// pair, testing the t10k pair.
    case mnist(directory: String)
    /// `synthetic:spirals`: three interleaved spirals in 2-D, generated in-process (the built-in demo).
    case spirals

    public init(_ text: String) throws {
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
        }
    }

    public enum Role: Sendable { case train, test }

    /// Reads the dataset. `kind` says how to read targets; for test data it carries the
    /// training data's class names so labels map to the same indices.
    public func load<T: Scalar>(role: Role, targetColumns: [String]?, kind: TargetKind, seed: UInt64) throws -> Dataset<T> {
        switch self {
        case .csv(let path):
            return try CSVReader.read(path: path, targetColumns: targetColumns, kind: kind)
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
        }
    }
}
