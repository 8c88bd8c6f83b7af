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
///
/// The bytes are the whole file, or (`init(window:)`) a window onto a stream (a gzipped file)
/// that holds the current record and what follows it: a record that runs past the window's end
/// is scanned again once more has been read, and the bytes before it are dropped. A field's
/// byte range is valid until the next `nextRecord` or `restIsBlank`.
struct CSVScanner {
    private(set) var bytes: UnsafeBufferPointer<UInt8>
    let path: String
    /// The most bytes one record (a line, or several for a quoted line break) may span, and the
    /// most fields it may have: a file without line breaks (`/dev/zero`, a binary file, a stream
    /// that never ends a line) is refused at this bound instead of filling memory.
    let maximumRecordBytes: Int
    let maximumFieldCount: Int
    static let defaultMaximumRecordBytes = 64 << 20
    static let defaultMaximumFieldCount = 1 << 20
    /// Where the next record starts.
    var position: Int
    /// Where the record `nextRecord` returned last starts.
    private(set) var recordStart = 0
    /// The 1-based line that `position` is on.
    var line = 1
    /// The stream `bytes` is a window onto; nil when `bytes` is the whole file.
    private let window: CSVStreamWindow?

    private static let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
    private static let lineFeed = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")

    /// Starts after a UTF-8 byte order mark, if the file has one.
    init(bytes: UnsafeBufferPointer<UInt8>, path: String, maximumRecordBytes: Int = defaultMaximumRecordBytes,
         maximumFieldCount: Int = defaultMaximumFieldCount) {
        self.bytes = bytes
        self.path = path
        self.maximumRecordBytes = maximumRecordBytes
        self.maximumFieldCount = maximumFieldCount
        window = nil
        position = Self.hasByteOrderMark(bytes) ? 3 : 0
    }

    /// Reads `window`'s stream from its start. The first 4 KiB (`firstReadSize`; the whole
    /// stream if shorter) are read at once, for the byte order mark and `csvEncodingProblem`.
    init(window: CSVStreamWindow, path: String, maximumRecordBytes: Int = defaultMaximumRecordBytes,
         maximumFieldCount: Int = defaultMaximumFieldCount) throws {
        try window.advance(droppingBefore: 0, readingAtLeast: max(window.chunkSize, window.firstReadSize, 3))
        bytes = window.bytes
        self.path = path
        self.maximumRecordBytes = maximumRecordBytes
        self.maximumFieldCount = maximumFieldCount
        self.window = window
        position = Self.hasByteOrderMark(bytes) ? 3 : 0
    }

    private static func hasByteOrderMark(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
    }

    /// Whether `bytes` ends where the file does (the whole file, or a stream read to its end).
    private var bytesReachTheEnd: Bool { window?.atEnd ?? true }

    /// Whether nothing but spaces, tabs and line breaks is left. On a stream, a run of them is
    /// bounded like a record: a gzip file that inflates to gigabytes of line breaks is refused
    /// at `maximumRecordBytes` instead of being read to its end.
    mutating func restIsBlank() throws -> Bool {
        var index = position
        while true {
            while index < bytes.count {
                let byte = bytes[index]
                if byte != Self.space && byte != Self.tab && byte != Self.lineFeed && byte != Self.carriageReturn {
                    return false
                }
                index += 1
            }
            if bytesReachTheEnd { return true }
            if bytes.count - position > maximumRecordBytes {
                throw InputError("\(path):\(line): more than \(describeSize(maximumRecordBytes)) of blank lines: "
                    + "mlp reads CSV records of at most \(describeSize(maximumRecordBytes))")
            }
            index = try readMore()   // what was read is blank: go on after it
        }
    }

    /// Reads the next record into `fields` (replacing what was there) and returns the line it
    /// starts on.
    mutating func nextRecord(into fields: inout [CSVField]) throws -> Int {
        while true {
            let recordLine = line
            if let line = try scanRecord(into: &fields) { return line }
            line = recordLine
            // The record runs past the bytes read so far, and it can end only at a line break:
            // read on until one arrives (or the stream ends), then scan the record again. (From
            // the last byte scanned: a CR there may have been the first half of a CRLF.)
            var newBytes = 0
            repeat {
                if bytes.count - position > maximumRecordBytes { throw recordTooLong(line: recordLine) }
                newBytes = try readMore()
            } while !bytesReachTheEnd && !containsLineBreak(from: max(newBytes - 1, 0))
        }
    }

    /// Drops the bytes before `position` from the window and reads more after what is left: at
    /// least as much again (a long record is scanned again a few times, not once per chunk),
    /// but not much past what one record may take. Returns where the new bytes start.
    private mutating func readMore() throws -> Int {
        guard let window else { preconditionFailure("readMore: the whole file is in memory") }
        let kept = bytes.count - position
        try window.advance(droppingBefore: position,
                           readingAtLeast: max(window.chunkSize, min(kept, maximumRecordBytes + 1 - kept)))
        bytes = window.bytes
        position = 0
        return kept
    }

    /// Whether `bytes` holds an LF or a CR from `start` on.
    private func containsLineBreak(from start: Int) -> Bool {
        guard start < bytes.count, let base = bytes.baseAddress else { return false }
        return memchr(base + start, Int32(Self.lineFeed), bytes.count - start) != nil
            || memchr(base + start, Int32(Self.carriageReturn), bytes.count - start) != nil
    }

    private func recordTooLong(line: Int) -> InputError {
        InputError("\(path):\(line): a record longer than \(describeSize(maximumRecordBytes)) (no line break): "
            + "mlp reads CSV records of at most \(describeSize(maximumRecordBytes))")
    }

    /// One record from `position`, as `nextRecord`; nil when it runs past the end of `bytes`
    /// and the stream goes on (`position` is then unchanged, `line` and `fields` are not).
    // One function over ~60 lines: the quoting state machine reads best as one loop.
    private mutating func scanRecord(into fields: inout [CSVField]) throws -> Int? {
        fields.removeAll(keepingCapacity: true)
        let bytes = self.bytes
        let recordLine = line
        let count = bytes.count
        let complete = bytesReachTheEnd
        let recordStart = position
        var index = position
        while true {
            // Checked once per field, not per byte: a field ends at the latest at the end of the file.
            if index - recordStart > maximumRecordBytes { throw recordTooLong(line: recordLine) }
            if fields.count >= maximumFieldCount {
                throw InputError("\(path):\(recordLine): more than \(maximumFieldCount) fields in one record: "
                    + "mlp reads at most \(maximumFieldCount) columns")
            }
            while index < count && (bytes[index] == Self.space || bytes[index] == Self.tab) { index += 1 }
            if index < count && bytes[index] == Self.quote {
                let quoteLine = line
                index += 1
                let start = index
                var hasDoubledQuotes = false
                while true {
                    guard index < count else {
                        guard complete else { return nil }
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
                    throw InputError("\(path):\(line): unexpected \(describe(bytes[index])) "
                        + "after a closing quote (a quote inside a quoted field is written \"\")")
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
                if index - recordStart > maximumRecordBytes { continue }   // refused at the top of the loop
                // On a stream the record may go on (and a quote at the window's end may be doubled).
                guard complete else { return nil }
                position = count
                self.recordStart = recordStart
                return recordLine
            }
            if bytes[index] == Self.comma {
                index += 1
                continue
            }
            // A line break ends the record: CRLF, LF or a lone CR.
            if bytes[index] == Self.carriageReturn {
                if index + 1 < count && bytes[index + 1] == Self.lineFeed {
                    index += 1
                } else if index + 1 == count && !complete {
                    return nil   // the LF of a CRLF may come next
                }
            }
            if index - recordStart > maximumRecordBytes { continue }   // refused at the top of the loop
            position = index + 1
            self.recordStart = recordStart
            line += 1
            return recordLine
        }
    }

    /// The text of `field`, with doubled quotes undone.
    func string(_ field: CSVField) -> String {
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[field.start ..< field.end]), as: UTF8.self)
        return field.hasDoubledQuotes ? text.replacingOccurrences(of: "\"\"", with: "\"") : text
    }

    /// The text of `field`, which must be valid UTF-8: names and class labels are compared as
    /// text, and decoding invalid bytes as U+FFFD would make different labels one class.
    ///
    /// - Parameter what: what the field is, for the error ("class label", "column name").
    func validString(_ field: CSVField, line: Int, what: String) throws -> String {
        let raw = UnsafeBufferPointer(rebasing: bytes[field.start ..< field.end])
        guard let text = String(validating: raw, as: UTF8.self) else {
            let shown = raw.prefix(16).map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }
            throw InputError("\(path):\(line): \(what) is not valid UTF-8 (bytes "
                + "\(shown.joined(separator: " "))\(raw.count > 16 ? " …" : "")): save the file as UTF-8")
        }
        return field.hasDoubledQuotes ? text.replacingOccurrences(of: "\"\"", with: "\"") : text
    }

    /// Whether `field` is empty and unquoted (a blank line is one such field).
    func isEmpty(_ field: CSVField) -> Bool { field.start == field.end && !field.isQuoted }

    private func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }
}

/// `bytes` as a size for messages: "64 MiB", "512 KiB", "100 bytes".
func describeSize(_ bytes: Int) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 { return "\(bytes >> 30) GiB" }
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
    if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
    if bytes >= 1 << 30 { return String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
    return "\(bytes) bytes"
}

/// What is wrong with text that should be a UTF-8 CSV file, judged from its first bytes: a
/// UTF-16 or UTF-32 byte order mark, UTF-16 without one (a NUL byte beside most ASCII
/// characters), or NUL bytes (a binary file). nil when none of these.
func csvEncodingProblem(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
    let prefix = Array(bytes.prefix(4096))
    func starts(_ mark: [UInt8]) -> Bool { prefix.starts(with: mark) }
    if starts([0xFF, 0xFE, 0, 0]) || starts([0, 0, 0xFE, 0xFF]) {
        return "looks like UTF-32 (it starts with a UTF-32 byte order mark): save it as UTF-8"
    }
    if starts([0xFF, 0xFE]) { return "looks like UTF-16 (it starts with the byte order mark FF FE): save it as UTF-8" }
    if starts([0xFE, 0xFF]) { return "looks like UTF-16 (it starts with the byte order mark FE FF): save it as UTF-8" }
    guard let firstNul = prefix.firstIndex(of: 0) else { return nil }
    // UTF-16 text that is mostly ASCII has a NUL in every other byte: the odd ones (little-endian)
    // or the even ones (big-endian).
    var nulsAtEven = 0, nulsAtOdd = 0
    for (index, byte) in prefix.enumerated() where byte == 0 {
        if index % 2 == 0 { nulsAtEven += 1 } else { nulsAtOdd += 1 }
    }
    let pairs = prefix.count / 2
    if pairs >= 2, nulsAtOdd >= pairs / 2, nulsAtEven <= pairs / 16 {
        return "looks like UTF-16 (little-endian, no byte order mark): save it as UTF-8"
    }
    if pairs >= 2, nulsAtEven >= pairs / 2, nulsAtOdd <= pairs / 16 {
        return "looks like UTF-16 (big-endian, no byte order mark): save it as UTF-8"
    }
    return "holds a NUL byte at offset \(firstNul): a binary file, not CSV text"
}

/// A `readInputBytes` stream check for CSV: refuses binary or UTF-16 data at the first read that
/// shows it, and a run of more than `maximumRecordBytes` bytes without a line break, as
/// `CSVScanner` would once everything was read.
struct CSVStreamCheck {
    let path: String
    var maximumRecordBytes = CSVScanner.defaultMaximumRecordBytes
    /// Bytes since the last line break (LF or CR).
    private var runWithoutLineBreak = 0

    init(path: String) { self.path = path }

    mutating func check(_ bytes: UnsafeBufferPointer<UInt8>, newBytesStart: Int) throws {
        let new = UnsafeBufferPointer(rebasing: bytes[newBytesStart...])
        if newBytesStart < 4096, let problem = csvEncodingProblem(bytes) { throw InputError("\(path): \(problem)") }
        guard let start = new.baseAddress else { return }
        // memchr: this runs on every 64 KiB a pipe delivers.
        if let nul = memchr(start, 0, new.count) {
            throw InputError("\(path): holds a NUL byte at offset \(newBytesStart + (UnsafeRawPointer(nul) - UnsafeRawPointer(start))): "
                + "a binary file, not CSV text")
        }
        if memchr(start, Int32(UInt8(ascii: "\n")), new.count) == nil && memchr(start, Int32(UInt8(ascii: "\r")), new.count) == nil {
            runWithoutLineBreak += new.count
        } else {
            // There is a line break: the last one is near the end in a text file.
            var lastBreak = new.count - 1
            while new[lastBreak] != UInt8(ascii: "\n") && new[lastBreak] != UInt8(ascii: "\r") { lastBreak -= 1 }
            runWithoutLineBreak = new.count - 1 - lastBreak
        }
        if runWithoutLineBreak > maximumRecordBytes {
            throw InputError("\(path): more than \(describeSize(maximumRecordBytes)) without a line break: "
                + "mlp reads CSV records of at most \(describeSize(maximumRecordBytes))")
        }
    }
}
