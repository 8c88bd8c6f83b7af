import Foundation

/// An element type of the safetensors format, spelled as in the file's header.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case F16, BF16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, BOOL

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .I8, .U8, .BOOL: return 1
        case .F16, .BF16, .I16, .U16: return 2
        case .F32, .I32, .U32: return 4
        case .F64, .I64, .U64: return 8
        }
    }
}

/// One named tensor of a safetensors file: its element type, shape and raw little-endian bytes.
public struct SafeTensor: Equatable, Sendable {
    public var name: String
    public var dtype: SafeTensorsDType
    /// Row-major; [] is a scalar (one element).
    public var shape: [Int]
    /// The elements, little-endian, row-major: `elementCount × dtype.byteCount` bytes.
    public var bytes: [UInt8]

    public init(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// An F32 tensor holding `values`, row-major.
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(name: name, dtype: .F32, shape: shape, bytes: littleEndianBytes(values.map(\.bitPattern)))
    }

    /// An F64 tensor holding `values`, row-major.
    public init(name: String, shape: [Int], values: [Double]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(name: name, dtype: .F64, shape: shape, bytes: littleEndianBytes(values.map(\.bitPattern)))
    }

    /// The product of the shape.
    public var elementCount: Int { shape.reduce(1, *) }

    /// The elements as Double (exact for every floating-point dtype); other dtypes are an error.
    public func floats() throws -> [Double] {
        switch dtype {
        case .F64: return elements(UInt64.self) { Double(bitPattern: $0) }
        case .F32: return elements(UInt32.self) { Double(Float(bitPattern: $0)) }
        // bfloat16 is the upper half of a float32.
        case .BF16: return elements(UInt16.self) { Double(Float(bitPattern: UInt32($0) << 16)) }
        case .F16: return elements(UInt16.self, halfToDouble)
        default: throw InputError("tensor '\(name)' has dtype \(dtype.rawValue), not a floating-point type")
        }
    }

    private func elements<Word: FixedWidthInteger>(_: Word.Type, _ convert: (Word) -> Double) -> [Double] {
        let size = MemoryLayout<Word>.size
        return bytes.withUnsafeBytes { raw in
            (0 ..< raw.count / size).map { convert(Word(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: Word.self))) }
        }
    }
}

/// IEEE 754 binary16 bits as a Double (done by hand: `Float16` is not on every platform).
private func halfToDouble(_ bits: UInt16) -> Double {
    let sign: Double = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int(bits >> 10 & 0x1F), fraction = Double(bits & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * 0x1p-24
    case 0x1F: return fraction == 0 ? sign * .infinity : .nan
    default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}

private func littleEndianBytes<Word: FixedWidthInteger>(_ words: [Word]) -> [UInt8] {
    var bytes = [UInt8]()
    bytes.reserveCapacity(words.count * MemoryLayout<Word>.size)
    for word in words {
        withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
    }
    return bytes
}

/// The safetensors file format (huggingface/safetensors): an 8-byte little-endian header
/// length N, N bytes of JSON header, then the tensors' bytes.
///
/// The header maps each tensor's name to `{"dtype", "shape", "data_offsets": [begin, end]}`,
/// offsets relative to the start of the data; an optional `"__metadata__"` maps strings to
/// strings.
public enum SafeTensors {
    static let metadataKey = "__metadata__"

    /// The file's bytes. Deterministic: `__metadata__` first with its keys sorted, then the
    /// tensors in the given order, their data laid out in that order; compact JSON padded with
    /// spaces to a multiple of 8 bytes, as the reference implementation does.
    public static func encode(tensors: [SafeTensor], metadata: [String: String]) -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\(jsonString(metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        var names = Set<String>()
        for tensor in tensors {
            precondition(tensor.name != metadataKey && names.insert(tensor.name).inserted,
                         "tensor name '\(tensor.name)' is reserved or repeated")
            precondition(tensor.shape.allSatisfy { $0 >= 0 } && tensor.elementCount * tensor.dtype.byteCount == tensor.bytes.count,
                         "tensor '\(tensor.name)': shape \(tensor.shape) of \(tensor.dtype) does not match \(tensor.bytes.count) bytes")
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}")
            offset += tensor.bytes.count
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var file = [UInt8]()
        file.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        file += header
        for tensor in tensors { file += tensor.bytes }
        return file
    }

    /// Writes the file atomically: a crash leaves the old file or the new one.
    public static func write(tensors: [SafeTensor], metadata: [String: String], to path: String) throws {
        try writeFileAtomically(encode(tensors: tensors, metadata: metadata), to: path)
    }

    public static func read(path: String) throws -> (tensors: [SafeTensor], metadata: [String: String]) {
        try decode(readBytes(path), path: path)
    }

    /// The largest header the reference implementation reads (100 MB): a bigger one is refused
    /// before anything is allocated for it.
    static let maximumHeaderLength = 100_000_000

    /// The file's bytes; a stream (not a regular file) is refused at its first bytes unless they
    /// start a safetensors file: a header length within bounds, then '{'.
    static func readBytes(_ path: String) throws -> [UInt8] {
        try readInputBytes(path, checkStream: checkingFirstBytes(9, path: path) { first in
            let headerLength = UInt64(littleEndian: UnsafeRawBufferPointer(first).loadUnaligned(as: UInt64.self))
            guard headerLength >= 2, headerLength <= maximumHeaderLength, first[8] == UInt8(ascii: "{") else {
                return "not a valid safetensors file: it does not start with a header length and a JSON header"
            }
            return nil
        })
    }

    /// The tensors (in the order of their data) and metadata of a safetensors file's bytes.
    ///
    /// Checks what the reference reader checks: the header length fits the file, the header is a
    /// JSON object of well-formed entries, each tensor's bytes match its shape, and the tensors
    /// tile the data section exactly (no gaps, no overlaps, nothing after).
    ///
    /// - Parameter path: Names the file in errors.
    // One function over ~60 lines: the checks run in the order of the bytes they guard, so each stays beside its field.
    public static func decode(_ bytes: [UInt8], path: String) throws -> (tensors: [SafeTensor], metadata: [String: String]) {
        func invalid(_ message: String) -> InputError { InputError("\(path): not a valid safetensors file: \(message)") }
        guard bytes.count >= 8 else {
            throw invalid("\(bytes.count) bytes, shorter than the 8-byte header length")
        }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw invalid("header length \(headerLength) is larger than the \(bytes.count - 8) bytes that follow it")
        }
        guard headerLength <= UInt64(maximumHeaderLength) else {
            throw invalid("header length \(headerLength) is more than the \(maximumHeaderLength) bytes the format allows")
        }
        let dataStart = 8 + Int(headerLength)
        let header = bytes[8 ..< dataStart]
        guard String(bytes: header, encoding: .utf8) != nil else { throw invalid("header is not UTF-8") }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(header))
        } catch {
            throw invalid("header is not valid JSON (\(oneLine(error)))")
        }
        guard let entries = json as? [String: Any] else { throw invalid("header is not a JSON object") }

        var metadata: [String: String] = [:]
        var tensors: [(tensor: SafeTensor, begin: Int, end: Int)] = []
        let dataLength = bytes.count - dataStart
        for (name, entry) in entries {
            if name == metadataKey {
                guard let pairs = entry as? [String: Any] else { throw invalid("__metadata__ is not a JSON object") }
                for (key, value) in pairs {
                    guard let text = value as? String else { throw invalid("__metadata__ value of '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let fields = entry as? [String: Any] else { throw invalid("entry of tensor '\(name)' is not a JSON object") }
            guard let dtypeName = fields["dtype"] as? String else { throw invalid("tensor '\(name)' has no \"dtype\" string") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw invalid("tensor '\(name)' has unknown dtype '\(dtypeName)'")
            }
            guard let shape = naturalNumbers(fields["shape"]) else {
                throw invalid("tensor '\(name)' has no \"shape\" list of non-negative integers")
            }
            guard let offsets = naturalNumbers(fields["data_offsets"]), offsets.count == 2 else {
                throw invalid("tensor '\(name)' has no \"data_offsets\" pair of non-negative integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end && end <= dataLength else {
                throw invalid("tensor '\(name)' has data_offsets [\(begin), \(end)] outside the data section of \(dataLength) bytes")
            }
            var byteCount = dtype.byteCount
            for dimension in shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
                byteCount = overflow ? Int.max : product
            }
            guard byteCount == end - begin else {
                throw invalid("tensor '\(name)' of shape \(shape) and dtype \(dtype.rawValue) needs \(byteCount) bytes, "
                    + "its data_offsets [\(begin), \(end)] hold \(end - begin)")
            }
            let tensorBytes = Array(bytes[dataStart + begin ..< dataStart + end])
            tensors.append((SafeTensor(name: name, dtype: dtype, shape: shape, bytes: tensorBytes), begin, end))
        }
        tensors.sort { ($0.begin, $0.end, $0.tensor.name) < ($1.begin, $1.end, $1.tensor.name) }
        var expectedBegin = 0
        for (index, entry) in tensors.enumerated() {
            if entry.begin < expectedBegin {
                throw invalid("tensor '\(entry.tensor.name)' overlaps tensor '\(tensors[index - 1].tensor.name)' in the data section")
            }
            if entry.begin > expectedBegin {
                throw invalid("\(entry.begin - expectedBegin) bytes before tensor '\(entry.tensor.name)' belong to no tensor")
            }
            expectedBegin = entry.end
        }
        guard expectedBegin == dataLength else {
            throw invalid("\(dataLength - expectedBegin) bytes at the end of the data section belong to no tensor")
        }
        return (tensors.map(\.tensor), metadata)
    }

    /// A JSON array of integers ≥ 0, as Ints; nil for anything else (fractions, booleans, text).
    private static func naturalNumbers(_ value: Any?) -> [Int]? {
        guard let items = value as? [Any] else { return nil }
        var numbers: [Int] = []
        for item in items {
            // JSON true/false arrive as NSNumber too, of C type char: not a dimension.
            guard let number = item as? NSNumber, String(cString: number.objCType) != "c",
                  let integer = item as? Int, integer >= 0 else { return nil }
            numbers.append(integer)
        }
        return numbers
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
    static func jsonString(_ text: String) -> String {
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }

    private static func oneLine(_ error: Error) -> String {
        let nsError = error as NSError
        let text = (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
