import Foundation

/// The features of a `.npy` file, read through a memory map row by row as training gathers
/// them: never copied whole into memory, so a rank touches only the pages of the rows it uses.
///
/// Rows are converted to the training precision `T` as they are copied (a float64 file trains
/// in float32 and the other way round), and `--standardize` is applied to each copied row,
/// x ↦ (x − mean) · (1 / std) exactly as `Standardization.apply` does in memory. A view may
/// select rows (`--validation-split`): logical row i is the file's row `selection[i]`.
public final class MappedFeatures<T: Scalar> {
    public let file: MappedFile
    public let header: NPYHeader
    /// Rows of this view (the file's, or the selection's).
    public let rowCount: Int
    public let columns: Int
    /// Logical row → the file's row; nil: the same.
    let selection: [Int]?
    /// Standardization per column, applied as (x − shift) · scale; nil: none.
    let shift: [T]?, scale: [T]?

    var rowBytes: Int { columns * header.elementType.size }

    /// Maps the features file at `path`: a 2-D float32 or float64 array in C order.
    public convenience init(path: String, residentBudget: Int = MappedFile.defaultResidentBudget) throws {
        let file = try MappedFile(path: path, residentBudget: residentBudget)
        let header = try NPYHeader.parse(UnsafeRawBufferPointer(rebasing: file.bytes.prefix(1 << 16)), path: path)
        guard header.shape.count == 2 else {
            throw InputError("\(path): features must be a 2-D array (rows, features), not shape \(header.shape)")
        }
        guard header.elementType.isFloatingPoint else {
            throw InputError("\(path): features must be float32 or float64, not \(header.elementType)")
        }
        let (rows, columns) = (header.shape[0], header.shape[1])
        guard rows > 0, columns > 0 else { throw InputError("\(path): no data (shape \(header.shape))") }
        let expected = header.dataOffset + rows * columns * header.elementType.size
        guard file.bytes.count >= expected else {
            throw InputError("\(path): truncated: shape \(header.shape) needs \(expected) bytes, the file has \(file.bytes.count)")
        }
        self.init(file: file, header: header, rowCount: rows, columns: columns, selection: nil, shift: nil, scale: nil)
    }

    init(file: MappedFile, header: NPYHeader, rowCount: Int, columns: Int, selection: [Int]?, shift: [T]?, scale: [T]?) {
        self.file = file
        self.header = header
        self.rowCount = rowCount
        self.columns = columns
        self.selection = selection
        self.shift = shift
        self.scale = scale
    }

    /// The view of rows `rows` (indices into this view), in that order.
    public func selecting(_ rows: [Int]) -> MappedFeatures<T> {
        let physical = selection.map { selection in rows.map { selection[$0] } } ?? rows
        return MappedFeatures(file: file, header: header, rowCount: rows.count, columns: columns, selection: physical,
                              shift: shift, scale: scale)
    }

    /// The same rows, standardized by `standardization` as they are copied.
    public func standardized(by standardization: Standardization) -> MappedFeatures<T> {
        precondition(standardization.mean.count == columns && shift == nil)
        return MappedFeatures(file: file, header: header, rowCount: rowCount, columns: columns, selection: selection,
                              shift: standardization.mean.map { T($0) }, scale: standardization.standardDeviation.map { 1 / T($0) })
    }

    /// Copies rows `row(0)`, …, `row(count − 1)` of this view to `destination`, row-major, in
    /// precision `T`, standardized if asked.
    public func copyRows(count: Int, into destination: UnsafeMutablePointer<T>, row: (Int) -> Int) {
        let base = file.bytes.baseAddress! + header.dataOffset
        let rowBytes = self.rowBytes, columns = self.columns
        for i in 0 ..< count {
            let logical = row(i)
            precondition(logical >= 0 && logical < rowCount, "row \(logical) outside 0..<\(rowCount)")
            let source = base + (selection?[logical] ?? logical) * rowBytes
            let out = destination + i * columns
            switch header.elementType {
            case .float32 where T.self == Float.self, .float64 where T.self == Double.self:
                UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: rowBytes)
            case .float32:
                for j in 0 ..< columns { out[j] = T(source.loadUnaligned(fromByteOffset: 4 * j, as: Float.self)) }
            default:
                for j in 0 ..< columns { out[j] = T(source.loadUnaligned(fromByteOffset: 8 * j, as: Double.self)) }
            }
            if let shift, let scale {
                for j in 0 ..< columns { out[j] = (out[j] - shift[j]) * scale[j] }
            }
            file.noteTouched(rowBytes)
        }
    }

    /// Refuses the first value of rows `rows` (of this view) that is not a finite number in the
    /// training precision: NaN, ±Inf, or a float64 beyond float32's range when training in
    /// float32, as the CSV reader refuses them. One pass over those rows of the file; each rank
    /// checks its own share of the rows, so the file is read once in all.
    ///
    /// - Parameter featureNames: the columns' names, for the message.
    public func checkFinite(rows: Range<Int>, featureNames: [String]) throws {
        let base = file.bytes.baseAddress! + header.dataOffset
        let rowBytes = self.rowBytes, columns = self.columns
        let singlePrecision = T.self == Float.self
        for logical in rows {
            let row = selection?[logical] ?? logical
            let source = base + row * rowBytes
            var bad: (column: Int, value: Double)?
            if header.elementType == .float32 {
                for j in 0 ..< columns {
                    let value = source.loadUnaligned(fromByteOffset: 4 * j, as: Float.self)
                    if !value.isFinite { bad = (j, Double(value)); break }
                }
            } else {
                for j in 0 ..< columns {
                    let value = source.loadUnaligned(fromByteOffset: 8 * j, as: Double.self)
                    if !value.isFinite || (singlePrecision && !Float(value).isFinite) { bad = (j, value); break }
                }
            }
            file.noteTouched(rowBytes)
            if let bad {
                let name = bad.column < featureNames.count ? " (feature '\(featureNames[bad.column])')" : ""
                let problem = bad.value.isFinite ? "\(bad.value) is too large for float32" : "\(bad.value) is not finite"
                throw InputError("\(file.path): row \(row), column \(bad.column)\(name): \(problem); mlp trains on finite numbers only")
            }
        }
    }

    /// The mean and standard deviation of each column over this view's rows, streamed through
    /// a buffer of 1,024 rows: the same sums in the same order as `Standardization(of:)` on the
    /// rows in memory, so the statistics are bit-identical to a CSV or in-memory run's.
    func statistics() -> Standardization {
        precondition(shift == nil)
        let chunk = 1024
        let buffer = UnsafeMutablePointer<T>.allocate(capacity: chunk * columns)
        defer { buffer.deallocate() }
        let statistics = Standardization(columns: columns, rowCount: rowCount) { body in
            var start = 0
            while start < rowCount {
                let count = min(chunk, rowCount - start)
                copyRows(count: count, into: buffer) { [start] in start + $0 }
                body(UnsafePointer(buffer), count)
                start += count
            }
        }
        file.releaseResidentPages()
        return statistics
    }

    /// A fingerprint of the shape, the element type and 1,024 rows spread evenly over the view
    /// (first and last included): hashing every byte would read the whole file on every rank
    /// at every start, which is what mapping it avoids.
    var fingerprint: UInt64 {
        var hash = Array(header.elementType.rawValue.utf8.prefix(3)).withUnsafeBytes { MLP.fingerprint($0) }
        withUnsafeBytes(of: (rowCount, columns)) { hash = MLP.fingerprint($0, seed: hash) }
        let samples = min(rowCount, 1024)
        for k in 0 ..< samples {
            let logical = samples == 1 ? 0 : Int((Double(k) * Double(rowCount - 1) / Double(samples - 1)).rounded())
            let start = header.dataOffset + (selection?[logical] ?? logical) * rowBytes
            hash = MLP.fingerprint(UnsafeRawBufferPointer(rebasing: file.bytes[start ..< start + rowBytes]), seed: hash)
            file.noteTouched(rowBytes)
        }
        return hash
    }
}

extension Dataset {
    /// A dataset whose features stay in a memory-mapped `.npy` file; labels or targets in memory.
    public init(mapped: MappedFeatures<T>, featureNames: [String], labels: [Int32] = [], classNames: [String] = [],
                targetValues: [T] = [], targetNames: [String]) {
        rowCount = mapped.rowCount
        featureCount = mapped.columns
        features = []
        mappedFeatures = mapped
        self.featureNames = featureNames
        self.labels = labels
        self.classNames = classNames
        self.targetValues = targetValues
        self.targetNames = targetNames
        precondition(featureNames.count == featureCount)
        precondition(classNames.isEmpty ? targetValues.count == rowCount * targetNames.count : labels.count == rowCount)
    }

    /// Copies the features of rows `row(0)`, …, `row(count − 1)` to `destination`, row-major:
    /// from `features`, or from the memory map.
    @inline(__always)
    func copyFeatures(count: Int, into destination: UnsafeMutablePointer<T>, row: (Int) -> Int) {
        if let mapped = mappedFeatures {
            mapped.copyRows(count: count, into: destination, row: row)
            return
        }
        let inputs = featureCount, dense = denseFeatureCount
        features.withUnsafeBufferPointer { features in
            for i in 0 ..< count {
                (destination + i * inputs).update(from: features.baseAddress! + row(i) * dense, count: dense)
            }
        }
        oneHot?.write(count, into: destination + dense, stride: inputs, row: row)
    }
}
