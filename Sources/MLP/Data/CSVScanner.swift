import Foundation

/// One field of a CSV record: a byte range of the file.
struct CSVField {
    var start: Int
    var end: Int
    /// Written in double quotes: kept as is (not trimmed), and `""` inside stands for `"`.
    var isQuoted: Bool
    var hasDoubledQuotes: Bool
}

/// Splits the bytes of a CSV file into records of fields, following RFC 4180, plus: spaces and
/// tabs around a field are not part of it, and a line may end in LF, CRLF or CR.
///
/// A quoted field may hold commas, line breaks and doubled quotes; `line` counts the
/// physical lines, so errors can name the line a record starts on.
struct CSVScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let path: String
    /// Where the next record starts.
    var position: Int
    /// The 1-based line that `position` is on.
    var line = 1

    private static let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
    private static let lineFeed = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")

    /// Starts after a UTF-8 byte order mark, if the file has one.
    init(bytes: UnsafeBufferPointer<UInt8>, path: String) {
        self.bytes = bytes
        self.path = path
        let hasByteOrderMark = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        position = hasByteOrderMark ? 3 : 0
    }

    /// Whether nothing but spaces, tabs and line breaks is left.
    var restIsBlank: Bool {
        var index = position
        while index < bytes.count {
            let byte = bytes[index]
            if byte != Self.space && byte != Self.tab && byte != Self.lineFeed && byte != Self.carriageReturn {
                return false
            }
            index += 1
        }
        return true
    }

    /// The number of line feeds from `position` on: about the number of records left.
    func lineBreakCount() -> Int {
        var count = 0
        for index in position ..< bytes.count where bytes[index] == Self.lineFeed { count += 1 }
        return count + 1
    }

    /// Reads the next record into `fields` (replacing what was there) and returns the line it
    /// starts on.
    // One function over ~60 lines: the quoting state machine reads best as one loop.
    mutating func nextRecord(into fields: inout [CSVField]) throws -> Int {
        fields.removeAll(keepingCapacity: true)
        let recordLine = line
        let count = bytes.count
        var index = position
        while true {
            while index < count && (bytes[index] == Self.space || bytes[index] == Self.tab) { index += 1 }
            if index < count && bytes[index] == Self.quote {
                let quoteLine = line
                index += 1
                let start = index
                var hasDoubledQuotes = false
                while true {
                    guard index < count else {
                        throw InputError("\(path):\(quoteLine): quoted field is never closed: missing \"")
                    }
                    let byte = bytes[index]
                    if byte == Self.quote {
                        if index + 1 < count && bytes[index + 1] == Self.quote {
                            hasDoubledQuotes = true
                            index += 2
                            continue
                        }
                        break
                    }
                    if byte == Self.lineFeed || (byte == Self.carriageReturn
                                                 && !(index + 1 < count && bytes[index + 1] == Self.lineFeed)) {
                        line += 1
                    }
                    index += 1
                }
                fields.append(CSVField(start: start, end: index, isQuoted: true, hasDoubledQuotes: hasDoubledQuotes))
                index += 1
                while index < count && (bytes[index] == Self.space || bytes[index] == Self.tab) { index += 1 }
                if index < count && bytes[index] != Self.comma && bytes[index] != Self.lineFeed
                    && bytes[index] != Self.carriageReturn {
                    throw InputError("\(path):\(line): unexpected \(describe(bytes[index])) after a closing quote (a quote inside a quoted field is written \"\")")
                }
            } else {
                let start = index
                while index < count {
                    let byte = bytes[index]
                    if byte == Self.comma || byte == Self.lineFeed || byte == Self.carriageReturn { break }
                    index += 1
                }
                var end = index
                while end > start && (bytes[end - 1] == Self.space || bytes[end - 1] == Self.tab) { end -= 1 }
                fields.append(CSVField(start: start, end: end, isQuoted: false, hasDoubledQuotes: false))
            }
            guard index < count else {
                position = count
                return recordLine
            }
            if bytes[index] == Self.comma {
                index += 1
                continue
            }
            // A line break ends the record: CRLF, LF or a lone CR.
            if bytes[index] == Self.carriageReturn && index + 1 < count && bytes[index + 1] == Self.lineFeed {
                index += 1
            }
            position = index + 1
            line += 1
            return recordLine
        }
    }

    /// The text of `field`, with doubled quotes undone.
    func string(_ field: CSVField) -> String {
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[field.start ..< field.end]), as: UTF8.self)
        return field.hasDoubledQuotes ? text.replacingOccurrences(of: "\"\"", with: "\"") : text
    }

    /// Whether `field` is empty and unquoted (a blank line is one such field).
    func isEmpty(_ field: CSVField) -> Bool { field.start == field.end && !field.isQuoted }

    private func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }
}
