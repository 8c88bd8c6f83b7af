import Foundation

/// `mlp convert`: a CSV file to the `.npy` pair (`PREFIX.X.npy`, `PREFIX.y.npy`) and the names
/// beside them (`PREFIX.y.json`), streaming: the CSV is read through a memory map front to
/// back and released as it goes (a gzipped CSV or a pipe through a window of a few MiB,
/// inflated as it is read), the arrays are written through small buffers, so memory stays a
/// few MiB whatever the file's size (plus the distinct class labels).
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

    /// Refuses, before any work, outputs that are `input` or another file read (`alsoReads`),
    /// or one another (by device and inode), and outputs that are not files in a writable
    /// directory (`OutputPath`; a prefix ending in '/' would write hidden files).
    public static func refuseUnsafeOutputs(input: String, prefix: String, alsoReads: [NamedFile] = []) throws {
        if prefix.isEmpty || prefix.hasSuffix("/") { _ = try OutputPath(prefix, for: .convertOutput) }
        let output = paths(prefix: prefix)
        try refuseOverlappingFiles(reads: [NamedFile("--input", input)] + alsoReads,
                                   writes: [output.features, output.labels, output.names].map { NamedFile("--output", $0, given: prefix) })
        for path in [output.features, output.labels, output.names] {
            _ = try OutputPath(path, for: .convertOutput, shown: "--output \(prefix) (\(path))")
        }
    }

    /// Streams `input` into the `.npy` files of `prefix`, one row at a time. The three files
    /// are written under temporary names and renamed into place together at the end: a failure
    /// (bad data, a full disk: `WriteError`) leaves earlier files of `prefix` as they were and
    /// no temporary file.
    // One function over ~60 lines: header, row loop and the files' completion share the streaming state.
    public static func convert(input: String, prefix: String, targetColumns: [String]?, targets: Targets,
                               elementType: NPYHeader.ElementType) throws -> Summary {
        precondition(elementType == .float32 || elementType == .float64)
        try refuseUnsafeOutputs(input: input, prefix: prefix)
        let output = paths(prefix: prefix)
        // A text file is mapped; gzip (whatever the name) and pipes are read through a window.
        var file: MappedFile?
        var reader: CSVTableReader
        switch try CSVInput(path: input) {
        case .textFile:
            let mapped = try MappedFile(path: input, residentBudget: 64 << 20, sequential: true)
            file = mapped
            let bytes = UnsafeBufferPointer(start: mapped.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: mapped.bytes.count)
            reader = CSVTableReader(bytes: bytes, path: input, singlePrecision: elementType == .float32)
        case .gzip(let stream):
            reader = try CSVTableReader(window: CSVStreamWindow(gzip: stream), path: input, singlePrecision: elementType == .float32)
        case .textStream(let stream):
            reader = try CSVTableReader(window: CSVStreamWindow(file: stream), path: input, singlePrecision: elementType == .float32)
        }
        let kind: TargetKind
        switch targets {
        case .classes(let names): kind = .classes(classNames: names)
        case .values: kind = .values
        }
        var features = try NPYStreamWriter(path: output.features)
        var labels = try NPYStreamWriter(path: output.labels)
        defer { features.discard(); labels.discard() }

        var fields: [CSVField] = []
        let headerLine = try reader.readHeader(into: &fields)
        let columnNames = reader.columnNames
        let targetNames = try reader.chooseTargets(targetColumns, columnNames: columnNames, kind: kind)
        let targetOfColumn = columnNames.map { targetNames.firstIndex(of: $0) }
        let featureNames = columnNames.filter { !targetNames.contains($0) }
        guard !featureNames.isEmpty else { throw InputError("\(input):\(headerLine): no feature columns: every column is a target") }
        guard try !reader.scanner.restIsBlank() else { throw InputError("\(input): no data rows after the header") }

        var collector = LabelCollector(path: input, kind: kind)
        var rowTargets = [Double](repeating: 0, count: targetNames.count)
        var rows = 0, released = reader.scanner.position
        while try !reader.scanner.restIsBlank() {
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
                    try features.append(try convertibleFeature(fields[column], line: line, column: column, reader, input: input),
                                        as: elementType)
                }
            }
            if case .values = targets { for value in rowTargets { try labels.append(value, as: elementType) } }
            rows += 1
            if let file, reader.scanner.position - released >= 1 << 20 {
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
        let sidecar = NPYDataset.Sidecar(featureNames: featureNames, classNames: classNames, targetNames: targetNames)
        let names = try StagedFile(Array(sidecar.json.utf8), for: output.names)
        // All three are written and synced: renames (which need no space) put them in place.
        do {
            try features.commit()
            try labels.commit()
            try names.commit()
        } catch {
            names.discard()
            throw error
        }
        // Links may put the three in different directories.
        for path in Set([features.path, labels.path, names.path]) { try syncDirectory(of: path) }
        return Summary(rows: rows, featureNames: featureNames, targetNames: targetNames, classNames: classNames,
                       featuresPath: output.features, labelsPath: output.labels, namesPath: output.names)
    }

    /// A feature as `convert` writes it: a finite number. Text (a categorical column) and missing
    /// values are refused in one line that says where they are trained from: the CSV itself.
    private static func convertibleFeature(_ field: CSVField, line: Int, column: Int, _ reader: CSVTableReader,
                                           input: String) throws -> Double {
        do {
            return try reader.number(field, line: line, role: "feature", column: column)
        } catch let error as InputError {
            let text = reader.scanner.string(field), name = reader.columnNames[column]
            let problem: String
            if MissingSpellings(TableOptions.defaultMissingValues).matches(text) {
                problem = "feature '\(name)' is missing (\(quoted(text)))"
            } else if Array(text.utf8).withUnsafeBufferPointer({ parseDouble($0) }) == nil {
                problem = "feature '\(name)' is not a number: \(quoted(text))"
            } else {
                throw error
            }
            throw InputError("\(input):\(line): \(problem): mlp convert writes tables of numbers without missing values; "
                + "a table with categorical columns or missing values trains from the CSV itself (mlp train --train \(input)), "
                + "which encodes them")
        }
    }
}
