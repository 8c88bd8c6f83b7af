import Foundation

/// A dataset stored as NumPy `.npy` files: the format for data larger than memory.
///
/// - features `X.npy`: a 2-D float32 or float64 array (rows, features) in C order, read through
///   a memory map (`MappedFeatures`): each rank touches only the pages of the rows it uses.
/// - labels `y.npy`: 1-D (or (rows, 1)) integer class indices for classification; for
///   regression 1-D or (rows, targets) numbers of any dtype. Read into memory (one value per
///   row, against hundreds of features).
/// - optionally `y.json` beside the labels (the labels' path with `.json` for `.npy`): a JSON
///   object with `feature_names`, `class_names`, `target_names` (arrays of strings), as
///   `mlp convert` writes it. Without it features are named `x0`, `x1`, …, classes `0`…`M−1`
///   (integer labels are class indices, as in a CSV) and targets `y` (or `y0`, `y1`, …).
public enum NPYDataset {
    // One function over ~60 lines: the labels' checks (class indices or targets, names, counts) read as one list.
    public static func load<T: Scalar>(features: String, labels: String, kind: TargetKind, targetColumns: [String]?) throws -> Dataset<T> {
        guard targetColumns == nil else { throw InputError("--target does not apply to .npy data: the labels file holds the targets") }
        if case .none = kind { throw InputError("\(features): .npy data holds labels; predict reads a CSV of features") }
        let mapped = try MappedFeatures<T>(path: features)
        let names = try Sidecar(path: sidecarPath(labels: labels))
        let featureNames = names.featureNames ?? (0 ..< mapped.columns).map { "x\($0)" }
        guard featureNames.count == mapped.columns else {
            throw InputError("\(sidecarPath(labels: labels)): \(featureNames.count) feature_names for the \(mapped.columns) "
                + "columns of \(features)")
        }

        let bytes = try readInputBytes(labels, checkStream: checkingFirstBytes(6, path: labels) { first in
            Array(first) == NPYHeader.magic ? nil : "not a .npy file mlp can read: no \\x93NUMPY magic at the start"
        })
        let header = try bytes.withUnsafeBytes { try NPYHeader.parse($0, path: labels) }
        guard header.shape.first == mapped.rowCount else {
            throw InputError("\(labels): \(header.shape.first ?? 0) rows but \(features) has \(mapped.rowCount)")
        }
        guard header.shape.count == 1 || header.shape.count == 2 else {
            throw InputError("\(labels): labels must be 1-D (rows) or 2-D (rows, targets), not shape \(header.shape)")
        }
        guard bytes.count >= header.dataOffset + header.elementCount * header.elementType.size else {
            throw InputError("\(labels): truncated: shape \(header.shape) needs "
                + "\(header.dataOffset + header.elementCount * header.elementType.size) bytes, the file has \(bytes.count)")
        }
        let values = bytes.withUnsafeBytes { raw in
            (0 ..< header.elementCount).map { element(raw.baseAddress! + header.dataOffset, $0, header.elementType) }
        }

        switch kind {
        case .classes(let given):
            guard !header.elementType.isFloatingPoint else {
                throw InputError("\(labels): labels are \(header.elementType) numbers: "
                    + "classification (--loss cross-entropy) needs integer class indices; for regression targets use --loss squared-error")
            }
            guard header.shape.count == 1 || header.shape[1] == 1 else {
                throw InputError("\(labels): classification takes one label per row, not shape \(header.shape)")
            }
            var largest = -1.0
            for (row, value) in values.enumerated() {
                guard value >= 0 else { throw InputError("\(labels): row \(row): class index \(integerText(value)) is negative") }
                largest = max(largest, value)
            }
            let classNames: [String]
            if let given {
                if let stored = names.classNames, stored != given {
                    throw InputError("\(sidecarPath(labels: labels)): class_names \(listed(stored)) "
                        + "differ from the training data's \(listed(given))")
                }
                classNames = given
            } else if let stored = names.classNames {
                classNames = stored
            } else {
                guard largest <= Double(CSVReader.largestIntegerLabel) else {
                    throw InputError("\(labels): class index \(integerText(largest)) is too large: "
                        + "integer labels are class indices, at most \(CSVReader.largestIntegerLabel)")
                }
                classNames = (0 ... Int(largest)).map(String.init)
            }
            if largest >= Double(classNames.count) {
                let row = values.firstIndex(of: largest)!
                throw InputError("\(labels): row \(row): class index \(integerText(largest)) but there are \(classNames.count) classes")
            }
            return Dataset(mapped: mapped, featureNames: featureNames, labels: values.map { Int32($0) }, classNames: classNames,
                           targetNames: [labelName(names.targetNames)])
        case .values:
            let targets = header.shape.count == 1 ? 1 : header.shape[1]
            guard targets > 0 else { throw InputError("\(labels): no targets (shape \(header.shape))") }
            let targetNames = names.targetNames ?? (targets == 1 ? ["y"] : (0 ..< targets).map { "y\($0)" })
            guard targetNames.count == targets else {
                throw InputError("\(sidecarPath(labels: labels)): \(targetNames.count) target_names for \(targets) targets")
            }
            // Non-finite targets are refused as in a CSV (and as they would be in the precision used).
            if let index = values.firstIndex(where: { !T($0).isFinite }) {
                let problem = values[index].isFinite
                    ? "\(values[index]) is too large for \(T.precision.rawValue)"
                    : "\(values[index]) is not finite"
                throw InputError("\(labels): row \(index / targets), target \(index % targets) ('\(targetNames[index % targets])'): "
                    + "\(problem); mlp trains on finite numbers only")
            }
            return Dataset(mapped: mapped, featureNames: featureNames, targetValues: values.map { T($0) }, targetNames: targetNames)
        case .none:
            fatalError("refused above")
        }
    }

    /// Where the optional names of a `.npy` pair are kept: the labels' path with `.json` for `.npy`.
    public static func sidecarPath(labels: String) -> String {
        (labels.hasSuffix(".npy") ? String(labels.dropLast(4)) : labels) + ".json"
    }

    static func labelName(_ names: [String]?) -> String { names?.first ?? "label" }

    /// `--train-weights`: a 1-D .npy of `rows` weights, each finite and 0 or more.
    public static func weights(path: String, rows: Int) throws -> [Double] {
        let bytes = try readInputBytes(path, checkStream: checkingFirstBytes(6, path: path) { first in
            Array(first) == NPYHeader.magic ? nil : "not a .npy file mlp can read: no \\x93NUMPY magic at the start"
        })
        let header = try bytes.withUnsafeBytes { try NPYHeader.parse($0, path: path) }
        guard header.shape == [rows] || header.shape == [rows, 1] else {
            throw InputError("\(path): weights must be one per training row, shape (\(rows),), not \(header.shape)")
        }
        guard bytes.count >= header.dataOffset + header.elementCount * header.elementType.size else {
            throw InputError("\(path): truncated: shape \(header.shape) needs "
                + "\(header.dataOffset + header.elementCount * header.elementType.size) bytes, the file has \(bytes.count)")
        }
        let values = bytes.withUnsafeBytes { raw in
            (0 ..< header.elementCount).map { element(raw.baseAddress! + header.dataOffset, $0, header.elementType) }
        }
        if let row = values.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw InputError("\(path): row \(row): weight \(values[row]) is not a finite number of 0 or more")
        }
        return values
    }

    /// A whole number stored as a Double, for a message (an int64 or uint64 label may not fit an Int).
    static func integerText(_ value: Double) -> String { String(format: "%.0f", value) }

    /// Element `index` of a little-endian array of `type` at `base`, as a Double (integers up
    /// to 2⁵³ are exact, far beyond any class index).
    static func element(_ base: UnsafeRawPointer, _ index: Int, _ type: NPYHeader.ElementType) -> Double {
        switch type {
        case .float32: return Double(base.loadUnaligned(fromByteOffset: 4 * index, as: Float.self))
        case .float64: return base.loadUnaligned(fromByteOffset: 8 * index, as: Double.self)
        case .int8: return Double(base.loadUnaligned(fromByteOffset: index, as: Int8.self))
        case .int16: return Double(base.loadUnaligned(fromByteOffset: 2 * index, as: Int16.self))
        case .int32: return Double(base.loadUnaligned(fromByteOffset: 4 * index, as: Int32.self))
        case .int64: return Double(base.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self))
        case .uint8: return Double(base.loadUnaligned(fromByteOffset: index, as: UInt8.self))
        case .uint16: return Double(base.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
        case .uint32: return Double(base.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self))
        case .uint64: return Double(base.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self))
        }
    }

    /// The names kept beside a `.npy` pair (`mlp convert` writes them); every key optional.
    public struct Sidecar: Equatable {
        public var featureNames: [String]?
        public var classNames: [String]?
        public var targetNames: [String]?

        public init(featureNames: [String]? = nil, classNames: [String]? = nil, targetNames: [String]? = nil) {
            self.featureNames = featureNames
            self.classNames = classNames
            self.targetNames = targetNames
        }

        /// Reads `path` if it exists; no file means no names.
        init(path: String) throws {
            guard FileManager.default.fileExists(atPath: path) else { self.init(); return }
            try self.init(reading: path)
        }

        /// Reads `path`, which must exist.
        public init(reading path: String) throws {
            let bytes = try readInputBytes(path, checkStream: checkingFirstBytes(1, path: path) { first in
                first[0] == UInt8(ascii: "{") ? nil : "not a JSON object"
            })
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                throw InputError("\(path): not a JSON object")
            }
            func strings(_ key: String) throws -> [String]? {
                guard let value = object[key] else { return nil }
                guard let array = value as? [String] else { throw InputError("\(path): '\(key)' must be an array of strings") }
                return array
            }
            featureNames = try strings("feature_names")
            classNames = try strings("class_names")
            targetNames = try strings("target_names")
            if let classNames, classNames.isEmpty { throw InputError("\(path): 'class_names' is empty") }
        }

        public var json: String {
            var object: [String: Any] = [:]
            if let featureNames { object["feature_names"] = featureNames }
            if let classNames { object["class_names"] = classNames }
            if let targetNames { object["target_names"] = targetNames }
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }
}
