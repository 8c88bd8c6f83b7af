import Foundation

/// Reads a CSV file with a header row of column names into a `Dataset`.
///
/// The target columns become targets; all other columns are features, in file order. Spaces
/// around unquoted fields are ignored; a UTF-8 byte order mark, CRLF line endings, quoted
/// fields (RFC 4180) and blank lines at the end are accepted. Every error is one line
/// `"<path>:<line>: <message>"` naming the offending value.
public enum CSVReader {
    /// Class labels that are integers are class indices, so they are capped to keep a wrong
    /// target column (an ID, a price) from asking for a million output units.
    static let largestIntegerLabel = 65_535

    /// - Parameters:
    ///   - targetColumns: The names of the target columns; nil means the last column.
    ///   - kind: `.classes` (exactly one target column) or `.values` (regression).
    ///   - weightColumn: the column of the rows' weights (`--sample-weight`), neither feature nor
    ///     target; `weightColumnIfPresent`: the same when the file has it (test data).
    ///   - featureNames: read only these feature columns (a model's), found by name; nil: all.
    public static func read<T: Scalar>(path: String, targetColumns: [String]?, kind: TargetKind,
                                       weightColumn: String? = nil, weightColumnIfPresent: String? = nil,
                                       featureNames: [String]? = nil) throws -> Dataset<T> {
        var table = try readTable(path: path, targetColumns: targetColumns, kind: kind, plan: .numbers(names: featureNames),
                                  singlePrecision: T.self == Float.self, weightColumn: weightColumn,
                                  weightColumnIfPresent: weightColumnIfPresent)
        return table.dataset()
    }

    /// The table in the CSV at `path`, its feature columns read as `plan` says.
    static func readTable(path: String, targetColumns: [String]?, kind: TargetKind, plan: ColumnPlan, singlePrecision: Bool,
                          weightColumn: String? = nil, weightColumnIfPresent: String? = nil) throws -> CSVTable {
        let input = try CSVInput(path: path)
        if case .gzip(let file) = input {
            var reader = try CSVTableReader(window: CSVStreamWindow(gzip: file), path: path, singlePrecision: singlePrecision)
            return try reader.read(targetColumns: targetColumns, kind: kind, weightColumn: weightColumn,
                                   weightColumnIfPresent: weightColumnIfPresent, plan: plan)
        }
        let bytes: [UInt8]
        if case .textStream(let file) = input {
            var streamCheck = CSVStreamCheck(path: path)
            bytes = try readStreamBytes(file) { try streamCheck.check($0, newBytesStart: $1) }
        } else {
            bytes = try readFileBytes(path)
        }
        return try bytes.withUnsafeBufferPointer { bytes in
            var reader = CSVTableReader(bytes: bytes, path: path, singlePrecision: singlePrecision)
            return try reader.read(targetColumns: targetColumns, kind: kind, weightColumn: weightColumn,
                                   weightColumnIfPresent: weightColumnIfPresent, plan: plan)
        }
    }
}

/// What a CSV file holds, in Double whatever the training precision.
struct CSVTable: Equatable {
    var rowCount = 0
    var features = CSVValues()
    var featureNames: [String] = []
    var labels: [Int32] = []
    var classNames: [String] = []
    var targetValues = CSVValues()
    var targetNames: [String] = []
    var weights: [Double]?
    /// Each feature column's role, categories and missing values (`ColumnPlan.infer` and
    /// `.fitted`); empty when every feature was read as a finite number.
    var featureColumns: [ReadColumn] = []
    /// Rows left out for a missing target (`--drop-missing-target`).
    var droppedRows = 0

    /// Whether every feature is a number and none is missing: the table is then the dataset
    /// itself, as before tables had categories and gaps.
    var isComplete: Bool { featureColumns.allSatisfy { $0.kind == .numeric && $0.missing == 0 } }

    /// The dataset of a complete table; leaves the values empty.
    mutating func dataset<T: Scalar>() -> Dataset<T> {
        precondition(isComplete)
        var data = Dataset(rowCount: rowCount, featureCount: featureNames.count, features: features.removeAll(as: T.self),
                           featureNames: featureNames, labels: labels, classNames: classNames,
                           targetValues: targetValues.removeAll(as: T.self), targetNames: targetNames)
        data.weights = weights.map { scalars($0) as [T] }
        return data
    }
}

/// The numbers read from a CSV, in chunks of 2²⁰ (8 MiB each) rather than one array that grows:
/// a stream's length is not known to reserve for it, and an array that doubles copies itself,
/// holding old and new at once (up to twice the data; here up to one chunk). `removeAll(as:)`
/// makes them the dataset's one array, freeing each chunk once it is copied, so memory peaks
/// at about the numbers' own size.
struct CSVValues: Equatable {
    static let chunkSize = 1 << 20
    private var fullChunks: [[Double]] = []
    private var lastChunk: [Double] = []
    private(set) var count = 0

    @inline(__always)
    mutating func append(_ value: Double) {
        if lastChunk.count == Self.chunkSize {
            fullChunks.append(lastChunk)
            lastChunk = []
        }
        lastChunk.append(value)
        count += 1
    }

    /// All the numbers, in order, in the training precision; leaves this empty.
    mutating func removeAll<T: Scalar>(as _: T.Type) -> [T] {
        fullChunks.append(lastChunk)
        lastChunk = []
        var chunks = fullChunks
        fullChunks = []
        let total = count
        count = 0
        return [T](unsafeUninitializedCapacity: total) { buffer, initializedCount in
            var offset = 0
            for index in chunks.indices {
                let chunk = chunks[index]
                chunks[index] = []   // freed when `chunk` goes
                chunk.withUnsafeBufferPointer { source in
                    guard !source.isEmpty else { return }
                    let target = UnsafeMutableRawPointer(buffer.baseAddress! + offset)
                    if T.self == Double.self {
                        target.copyMemory(from: source.baseAddress!, byteCount: source.count * MemoryLayout<Double>.size)
                    } else if T.self == Float.self {
                        let floats = target.assumingMemoryBound(to: Float.self)
                        for i in 0 ..< source.count { floats[i] = Float(source[i]) }
                    } else {
                        for i in 0 ..< source.count { (buffer.baseAddress! + offset + i).initialize(to: T(source[i])) }
                    }
                }
                offset += chunk.count
            }
            initializedCount = total
        }
    }
}

/// `text` in double quotes for an error message, on one line and at most ~60 characters.
func quoted(_ text: String) -> String {
    var shown = text.count > 60 ? String(text.prefix(57)) + "…" : text
    shown = shown.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
    return "\"\(shown)\""
}

/// `values` in the training precision, converting once per array (not per generic element)
/// so the loop is specialised even when the caller is generic code in another module.
func scalars<T: Scalar>(_ values: [Double]) -> [T] {
    if T.self == Double.self { return unsafeBitCast(values, to: [T].self) }
    if T.self == Float.self { return unsafeBitCast(values.map { Float($0) }, to: [T].self) }
    return values.map { T($0) }
}
