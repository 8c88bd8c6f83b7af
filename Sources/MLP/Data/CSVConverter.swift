import Foundation

/// `mlp convert`: a CSV file to the `.npy` pair (`PREFIX.X.npy`, `PREFIX.y.npy`) and the names
/// beside them (`PREFIX.y.json`), streaming: the CSV is read through a memory map front to
/// back and released as it goes, the arrays are written through small buffers, so memory
/// stays a few MiB whatever the file's size (plus the distinct class labels).
///
/// The CSV rules are `mlp train`'s (header row, RFC 4180, `--target`, integer labels are class
/// indices, other labels sorted and numbered) and so are its error messages (path:line).
public enum CSVConverter {
    public enum Targets: Sendable {
        /// Class labels, written as int64 class indices. `classNames`: use these classes (those
        /// of the training data's `y.json`) instead of the file's own.
        case classes(classNames: [String]?)
        /// Numbers, written in the features' element type.
        case values
    }

    public struct Summary: Sendable {
        public var rows: Int
        public var featureNames: [String]
        public var targetNames: [String]
        public var classNames: [String]?
        public var featuresPath: String, labelsPath: String, namesPath: String
    }

    /// Where the three files of `prefix` go.
    public static func paths(prefix: String) -> (features: String, labels: String, names: String) {
        let labels = prefix + ".y.npy"
        return (prefix + ".X.npy", labels, NPYDataset.sidecarPath(labels: labels))
    }

    /// Streams `input` into the `.npy` files of `prefix`, one row at a time.
    // One function over ~60 lines: header, row loop and the files' completion share the streaming state.
    public static func convert(input: String, prefix: String, targetColumns: [String]?, targets: Targets,
                               elementType: NPYHeader.ElementType) throws -> Summary {
        precondition(elementType == .float32 || elementType == .float64)
        let output = paths(prefix: prefix)
        let file = try MappedFile(path: input, residentBudget: 64 << 20, sequential: true)
        let kind: TargetKind
        switch targets {
        case .classes(let names): kind = .classes(classNames: names)
        case .values: kind = .values
        }
        var features = try NPYStreamWriter(path: output.features)
        var labels = try NPYStreamWriter(path: output.labels)
        defer { features.discard(); labels.discard() }

        let bytes = UnsafeBufferPointer(start: file.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: file.bytes.count)
        var reader = CSVTableReader(bytes: bytes, path: input, singlePrecision: elementType == .float32)
        var fields: [CSVField] = []
        let headerLine = try reader.readHeader(into: &fields)
        let columnNames = reader.columnNames
        let targetNames = try reader.chooseTargets(targetColumns, columnNames: columnNames, kind: kind)
        let targetOfColumn = columnNames.map { targetNames.firstIndex(of: $0) }
        let featureNames = columnNames.filter { !targetNames.contains($0) }
        guard !featureNames.isEmpty else { throw InputError("\(input):\(headerLine): no feature columns: every column is a target") }
        guard !reader.scanner.restIsBlank else { throw InputError("\(input): no data rows after the header") }

        var collector = LabelCollector(path: input, kind: kind)
        var rowTargets = [Double](repeating: 0, count: targetNames.count)
        var rows = 0, released = reader.scanner.position
        while !reader.scanner.restIsBlank {
            let line = try reader.scanner.nextRecord(into: &fields)
            guard fields.count == columnNames.count else {
                let blank = fields.count == 1 && reader.scanner.isEmpty(fields[0]) ? " (blank line)" : ""
                throw InputError("\(input):\(line): expected \(columnNames.count) fields, got \(fields.count)\(blank)")
            }
            for column in 0 ..< fields.count {
                if let target = targetOfColumn[column] {
                    if case .classes = targets {
                        try collector.add(reader.scanner.validString(fields[column], line: line, what: "class label"), line: line)
                        // The label's number so far (first appearance, or the given class).
                        try labels.append(Int64(collector.rowLabels.removeLast()))
                    } else {
                        rowTargets[target] = try reader.number(fields[column], line: line, role: "target", column: column)
                    }
                } else {
                    try features.append(try reader.number(fields[column], line: line, role: "feature", column: column), as: elementType)
                }
            }
            if case .values = targets { for value in rowTargets { try labels.append(value, as: elementType) } }
            rows += 1
            if reader.scanner.position - released >= 1 << 20 {
                file.noteTouched(reader.scanner.position - released)
                released = reader.scanner.position
            }
        }

        var classNames: [String]?
        let labelsHeader: NPYHeader
        switch targets {
        case .classes(let given):
            if let given {
                classNames = given
            } else {
                // Numbers of first appearance → class indices (integers keep their value; other labels sorted).
                let numbering = try collector.classNumbering()
                classNames = numbering.classNames
                try labels.remap { numbering.classOfNumber[Int($0)] }
            }
            labelsHeader = NPYHeader(elementType: .int64, shape: [rows])
        case .values:
            labelsHeader = NPYHeader(elementType: elementType, shape: targetNames.count == 1 ? [rows] : [rows, targetNames.count])
        }
        try features.finish(header: NPYHeader(elementType: elementType, shape: [rows, featureNames.count]))
        try labels.finish(header: labelsHeader)
        let names = NPYDataset.Sidecar(featureNames: featureNames, classNames: classNames, targetNames: targetNames)
        try writeFileAtomically(Array(names.json.utf8), to: output.names)
        return Summary(rows: rows, featureNames: featureNames, targetNames: targetNames, classNames: classNames,
                       featuresPath: output.features, labelsPath: output.labels, namesPath: output.names)
    }
}

/// Writes a `.npy` file whose length is known only at the end: a placeholder header, the data
/// through a 1 MiB buffer, then the real header in place; written to a temporary file that
/// `finish` fsyncs and renames over `path` (`discard` removes it if never finished).
struct NPYStreamWriter {
    let path: String
    let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    static let headerLength = 128

    init(path: String) throws {
        self.path = path
        temporaryPath = "\(path).tmp-\(getpid())"
        descriptor = open(temporaryPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw InputError("\(path): cannot create \(temporaryPath): \(errnoDescription())") }
        // The header's place, filled by `finish`.
        buffer = [UInt8](repeating: UInt8(ascii: " "), count: Self.headerLength)
        buffer.reserveCapacity(1 << 20)
    }

    mutating func append(_ value: Double, as type: NPYHeader.ElementType) throws {
        if type == .float32 {
            withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
        }
        if buffer.count >= 1 << 20 { try flush() }
    }

    mutating func append(_ value: Int64) throws {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
        if buffer.count >= 1 << 20 { try flush() }
    }

    private mutating func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) throws {
        var written = 0
        while written < bytes.count {
            let count = offset.map { pwrite(descriptor, bytes.baseAddress! + written, bytes.count - written, off_t($0 + written)) }
                ?? write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw InputError("\(path): cannot write: \(errnoDescription(count < 0 ? errno : EIO))") }
            written += count
        }
    }

    /// Rewrites every int64 written so far through `transform` (class numbers → class indices),
    /// one 1 MiB block at a time.
    mutating func remap(_ transform: (Int64) -> Int32) throws {
        try flush()
        let end = lseek(descriptor, 0, SEEK_END)
        var block = [Int64](repeating: 0, count: 1 << 17)
        var offset = Self.headerLength
        while offset < end {
            let count = min(block.count, (Int(end) - offset) / 8)
            let read = block.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, count * 8, off_t(offset)) }
            guard read == count * 8 else { throw InputError("\(path): cannot read back: \(errnoDescription())") }
            for i in 0 ..< count { block[i] = Int64(transform(block[i])) }
            try block.withUnsafeBytes { try writeAll(UnsafeRawBufferPointer(rebasing: $0.prefix(count * 8)), at: offset) }
            offset += count * 8
        }
    }

    /// Writes the buffer and the real header, fsyncs, and renames the file into place.
    mutating func finish(header: NPYHeader) throws {
        try flush()
        let encoded = header.encoded(paddedLength: Self.headerLength)
        precondition(encoded.count == Self.headerLength)
        try encoded.withUnsafeBytes { try writeAll($0, at: 0) }
        guard fsync(descriptor) == 0 else { throw InputError("\(path): cannot write: fsync: \(errnoDescription())") }
        close(descriptor)
        descriptor = -1
        guard rename(temporaryPath, path) == 0 else { throw InputError("\(path): cannot write: rename: \(errnoDescription())") }
    }

    /// Removes the temporary file of a conversion that failed.
    mutating func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
    }
}
