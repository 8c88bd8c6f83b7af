import Foundation

/// The header of a NumPy `.npy` file (format versions 1.0, 2.0 and 3.0): the element type, the
/// shape, and where the raw array data starts.
///
/// Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header length
/// (little-endian `UInt16` in version 1, `UInt32` in 2 and 3), then the header, an ASCII Python
/// dict literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }`
/// padded with spaces and ended by `\n`. The data follows, C order (row-major) here.
public struct NPYHeader: Equatable, Sendable {
    /// The element types `mlp` reads: little-endian (or single-byte) floats and integers.
    public enum ElementType: String, CaseIterable, Sendable {
        case float32 = "<f4", float64 = "<f8"
        case int8 = "|i1", int16 = "<i2", int32 = "<i4", int64 = "<i8"
        case uint8 = "|u1", uint16 = "<u2", uint32 = "<u4", uint64 = "<u8"

        public var size: Int {
            switch self {
            case .int8, .uint8: return 1
            case .int16, .uint16: return 2
            case .float32, .int32, .uint32: return 4
            case .float64, .int64, .uint64: return 8
            }
        }

        public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

        /// NumPy writes `<` for little-endian, `|` for "not applicable" (one byte) and `=` may
        /// mean native (little-endian on every machine `mlp` runs on).
        init?(descr: String) {
            var text = descr
            if text.hasPrefix("=") { text = "<" + text.dropFirst() }
            if text == "<i1" || text == "<u1" { text = "|" + text.dropFirst() }
            self.init(rawValue: text)
        }
    }

    public var elementType: ElementType
    public var shape: [Int]
    /// Bytes before the array data: magic, version, length and the header itself.
    public var dataOffset: Int

    public init(elementType: ElementType, shape: [Int], dataOffset: Int = 0) {
        self.elementType = elementType
        self.shape = shape
        self.dataOffset = dataOffset
    }

    /// The number of elements: the product of the shape.
    public var elementCount: Int { shape.reduce(1, *) }

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// The longest header read: what fits in the first 64 KiB of the file with the magic,
    /// version and length before it.
    static let maximumHeaderLength = (1 << 16) - 12

    /// Parses the header at the start of `bytes` (the file's first bytes; 4 KiB is plenty for
    /// any header `mlp` reads). Fortran order and big-endian data are refused with a message.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> NPYHeader {
        func fail(_ reason: String) -> InputError { InputError("\(path): not a .npy file mlp can read: \(reason)") }
        guard bytes.count >= 10, Array(bytes[0 ..< 6]) == magic else { throw fail("no \\x93NUMPY magic at the start") }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("header cut short") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("format version \(major).\(bytes[7]) (known: 1.0, 2.0, 3.0)")
        }
        // NumPy writes a few hundred bytes; np.load refuses more than 10,000 by default.
        guard headerLength <= maximumHeaderLength else {
            throw fail("header of \(headerLength) bytes, longer than the \(maximumHeaderLength) mlp reads")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw fail("header of \(headerLength) bytes runs past the \(bytes.count) bytes read")
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[headerStart ..< headerStart + headerLength]), as: UTF8.self)
        let fields = try dictionary(text, fail: fail)
        guard let descr = fields["descr"] else { throw fail("no 'descr' in the header") }
        let descrText = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        guard let elementType = ElementType(descr: descrText) else {
            let hint = descrText.hasPrefix(">") ? " (big-endian: convert with a.astype(a.dtype.newbyteorder('<')))" : ""
            throw fail("element type '\(descrText)'\(hint); mlp reads float32, float64 and integer arrays")
        }
        guard let order = fields["fortran_order"] else { throw fail("no 'fortran_order' in the header") }
        guard order == "False" else {
            throw fail(order == "True" ? "Fortran order; save a C-order array (np.ascontiguousarray)" : "fortran_order \(order)")
        }
        guard let shapeText = fields["shape"], shapeText.hasPrefix("("), shapeText.hasSuffix(")") else {
            throw fail("no shape tuple in the header")
        }
        let shape = try shapeText.dropFirst().dropLast().split(separator: ",").map { part -> Int in
            let trimmed = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            guard let value = Int(trimmed), value >= 0 else { throw fail("shape \(shapeText)") }
            return value
        }
        // The byte count must fit in an Int with room to spare, so later products cannot overflow.
        var bytes = elementType.size
        for extent in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= 1 << 56 else { throw fail("shape \(shapeText) is too large") }
            bytes = product
        }
        return NPYHeader(elementType: elementType, shape: shape, dataOffset: headerStart + headerLength)
    }

    /// The keys and values of a flat Python dict literal of strings, booleans and tuples.
    private static func dictionary(_ text: String, fail: (String) -> InputError) throws -> [String: String] {
        var body = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        guard body.hasPrefix("{"), body.hasSuffix("}") else { throw fail("header is not a dict: \(quoted(text))") }
        body = body.dropFirst().dropLast()
        var result: [String: String] = [:]
        var index = body.startIndex
        func skipSpaces() { while index < body.endIndex, body[index] == " " || body[index] == "," { index = body.index(after: index) } }
        while true {
            skipSpaces()
            guard index < body.endIndex else { break }
            guard body[index] == "'" || body[index] == "\"" else { throw fail("header key expected at \(quoted(String(body[index...])))") }
            let quote = body[index]
            let keyStart = body.index(after: index)
            guard let keyEnd = body[keyStart...].firstIndex(of: quote) else { throw fail("unterminated key in the header") }
            let key = String(body[keyStart ..< keyEnd])
            index = body.index(after: keyEnd)
            while index < body.endIndex, body[index] == " " { index = body.index(after: index) }
            guard index < body.endIndex, body[index] == ":" else { throw fail("':' expected after '\(key)'") }
            index = body.index(after: index)
            while index < body.endIndex, body[index] == " " { index = body.index(after: index) }
            guard index < body.endIndex else { throw fail("no value for '\(key)'") }
            let valueStart = index
            switch body[index] {
            case "'", "\"":
                let quote = body[index]
                guard let end = body[body.index(after: index)...].firstIndex(of: quote) else {
                    throw fail("unterminated value of '\(key)'")
                }
                index = body.index(after: end)
            case "(":
                guard let end = body[index...].firstIndex(of: ")") else { throw fail("unterminated tuple for '\(key)'") }
                index = body.index(after: end)
            default:
                while index < body.endIndex, body[index] != "," { index = body.index(after: index) }
            }
            result[key] = body[valueStart ..< index].trimmingCharacters(in: .whitespaces)
        }
        return result
    }

    /// The header bytes for this type and shape in format 1.0, padded with spaces to
    /// `paddedLength` bytes in all (a multiple of 64, as NumPy writes it), so a writer that does
    /// not know the row count in advance can rewrite the header in place at the end.
    public func encoded(paddedLength: Int = 128) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let dict = "{'descr': '\(elementType.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let length = max(paddedLength, ((10 + dict.utf8.count + 1 + 63) / 64) * 64)
        let headerLength = length - 10
        var bytes = Self.magic + [1, 0, UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
        bytes += Array(dict.utf8)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: length - bytes.count - 1)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}
