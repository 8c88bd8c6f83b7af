import Foundation

/// The non-generic work of `CSVReader`: one pass over the bytes, record by record (the whole
/// file in memory, or a stream through a window).
struct CSVTableReader {
    /// What a column of the file becomes.
    enum ColumnRole {
        /// The index into the feature columns.
        case feature(Int)
        /// The index into the target columns as the caller listed them.
        case target(Int)
        /// The rows' weights.
        case weight
        /// A column the plan does not read (a column a fitted model does not use).
        case skipped
    }

    var scanner: CSVScanner
    let path: String
    /// The header's names, set once the header is read.
    var columnNames: [String] = []
    /// Whether values must also fit in a Float (`--precision float32`).
    let singlePrecision: Bool

    init(bytes: UnsafeBufferPointer<UInt8>, path: String, singlePrecision: Bool) {
        scanner = CSVScanner(bytes: bytes, path: path)
        self.path = path
        self.singlePrecision = singlePrecision
    }

    init(window: CSVStreamWindow, path: String, singlePrecision: Bool) throws {
        scanner = try CSVScanner(window: window, path: path)
        self.path = path
        self.singlePrecision = singlePrecision
    }

    /// The most memory the values read (features and regression targets, as Double) may take:
    /// a gzip file of a few MiB can hold gigabytes of rows, refused here instead of when memory
    /// runs out.
    var maximumValueBytes = CSVTableReader.defaultMaximumValueBytes
    /// Half of this host's physical memory.
    static var defaultMaximumValueBytes: Int { max(MemoryEstimate.physicalMemory / 2, 1 << 20) }

    // One function over ~60 lines: the header's roles and the row loop share the reading state.
    mutating func read(targetColumns: [String]?, kind: TargetKind, weightColumn: String? = nil,
                       weightColumnIfPresent: String? = nil, plan: ColumnPlan = .numbers(names: nil)) throws -> CSVTable {
        var fields: [CSVField] = []
        let headerLine = try readHeader(into: &fields)
        var weightName = weightColumnIfPresent.flatMap { columnNames.contains($0) ? $0 : nil }
        if let weightColumn {
            guard columnNames.contains(weightColumn) else {
                throw InputError("\(path):\(headerLine): --sample-weight \(weightColumn): no such column (columns: \(listed(columnNames)))")
            }
            weightName = weightColumn
        }
        // A column is one of feature, target and weight: the weight is never the default target
        // (the last column) nor a named one.
        if let weightName, kind != .none {
            if targetColumns?.contains(weightName) ?? false {
                throw InputError("\(path):\(headerLine): --sample-weight \(weightName) is also a --target column: "
                    + "a column is a feature, a target or the weight")
            }
            if targetColumns == nil, columnNames.last == weightName {
                throw InputError("\(path):\(headerLine): --sample-weight \(weightName) is the last column, the default target: "
                                 + "name the target with --target COLUMN (or the weight column, if that is not it)")
            }
        }
        let targetNames = try chooseTargets(targetColumns, columnNames: columnNames.filter { $0 != weightName }, kind: kind)
        var table = CSVTable()
        if weightName != nil { table.weights = [] }
        let featureColumns = try featureColumns(plan, targetNames: targetNames, weightName: weightName, line: headerLine)
        table.featureNames = featureColumns.names
        table.targetNames = kind == .none ? [] : targetNames
        let roles = columnNames.map { name -> ColumnRole in
            if name == weightName { return .weight }
            if let target = targetNames.firstIndex(of: name) { return .target(target) }
            return featureColumns.names.firstIndex(of: name).map(ColumnRole.feature) ?? .skipped
        }
        guard !table.featureNames.isEmpty else {
            let weight = weightName.map { ", \($0) the weight" } ?? ""
            throw InputError("\(path):\(headerLine): no feature columns: \(listed(targetNames)) "
                + "\(targetNames.count == 1 ? "is the target" : "are the targets")\(weight)")
        }
        guard try !scanner.restIsBlank() else { throw InputError("\(path): no data rows after the header") }

        let valueLimit = maximumValueBytes / MemoryLayout<Double>.size
        var labels = LabelCollector(path: path, kind: kind)
        var rowTargets = [Double](repeating: 0, count: targetNames.count)
        var rowFeatures = [Double](repeating: 0, count: table.featureNames.count)
        var columns = featureColumns.reader
        // Where a table's targets are, to find a missing one before the row is read.
        let targetIndices = columns == nil || kind == .none ? [] : targetNames.map { columnNames.firstIndex(of: $0)! }
        rows: while try !scanner.restIsBlank() {
            let line = try scanner.nextRecord(into: &fields)
            guard fields.count == columnNames.count else {
                let blank = fields.count == 1 && scanner.isEmpty(fields[0]) ? " (blank line)" : ""
                throw InputError("\(path):\(line): expected \(columnNames.count) fields, got \(fields.count)\(blank)")
            }
            for column in targetIndices where columns!.isMissing(fields[column], scanner) {
                guard featureColumns.dropMissingTarget else {
                    throw InputError("\(path):\(line): target '\(columnNames[column])' is missing (\(quoted(scanner.string(fields[column])))): "
                        + "every row needs its target" + (featureColumns.canDrop ? " (drop such rows with --drop-missing-target)" : ""))
                }
                table.droppedRows += 1
                continue rows
            }
            for column in 0 ..< fields.count {
                switch roles[column] {
                case .feature(let feature):
                    // In the table's order of features, which a fitted model's columns need not share with the file.
                    rowFeatures[feature] = columns == nil ? try number(fields[column], line: line, role: "feature", column: column)
                        : try columns!.value(fields[column], feature: feature, line: line, scanner)
                case .weight:
                    let weight = try number(fields[column], line: line, role: "sample weight", column: column)
                    guard weight >= 0 else {
                        throw InputError("\(path):\(line): sample weight \(weight) is negative (weights must be 0 or more)")
                    }
                    table.weights!.append(weight)
                case .target(let target):
                    switch kind {
                    case .classes: try labels.add(scanner.validString(fields[column], line: line, what: "class label"), line: line)
                    case .values: rowTargets[target] = try number(fields[column], line: line, role: "target", column: column)
                    case .none: break
                    }
                case .skipped: break
                }
            }
            for value in rowFeatures { table.features.append(value) }
            if case .values = kind { for value in rowTargets { table.targetValues.append(value) } }
            table.rowCount += 1
            if table.features.count + table.targetValues.count > valueLimit {
                throw InputError("\(path):\(line): the values read so far take more than \(describeSize(maximumValueBytes)) "
                    + "(8 bytes each), half of this host's memory, more than mlp reads into memory: "
                    + "convert the file with mlp convert (which streams) and train on the .npy files")
            }
        }
        guard table.rowCount > 0 else {
            throw InputError("\(path): every row's target is missing (\(table.droppedRows) rows dropped): no data rows left")
        }
        if case .classes = kind {
            (table.labels, table.classNames) = try labels.classIndices()
        }
        table.featureColumns = columns?.columns ?? []
        return table
    }

    /// The feature columns `plan` reads, in the order the table holds them, and for a table
    /// (`infer`, `fitted`) the reader of their fields.
    private func featureColumns(_ plan: ColumnPlan, targetNames: [String], weightName: String?, line: Int) throws
        -> (names: [String], reader: TableColumnReader?, dropMissingTarget: Bool, canDrop: Bool) {
        let candidates = columnNames.filter { !targetNames.contains($0) && $0 != weightName }
        switch plan {
        case .numbers(let names?):
            try requireColumns(names, line: line)
            return (candidates.filter(names.contains), nil, false, false)
        case .numbers(nil):
            return (candidates, nil, false, false)
        case .infer(let options):
            for name in options.categorical {
                if targetNames.contains(name) { throw InputError("--categorical \(name) is the target: a categorical column is a feature") }
                if name == weightName { throw InputError("--categorical \(name) is the --sample-weight column: a categorical column is a feature") }
                guard columnNames.contains(name) else {
                    throw InputError("\(path):\(line): --categorical \(name): no such column (columns: \(listed(columnNames)))")
                }
            }
            let kinds = candidates.map { options.categorical.contains($0) ? ReadColumn.Kind.categorical : nil }
            let reader = TableColumnReader(path: path, names: candidates, kinds: kinds, missing: options.missingValues,
                                           singlePrecision: singlePrecision)
            return (candidates, reader, options.dropMissingTarget, true)
        case .fitted(let preprocessing):
            let names = preprocessing.columns.map(\.name)
            try requireColumns(names, line: line)
            if let clash = names.first(where: { targetNames.contains($0) || $0 == weightName }) {
                throw InputError("\(path):\(line): column '\(clash)' is a feature of the model, not a target or weight")
            }
            let kinds = preprocessing.columns.map { $0.isCategorical ? ReadColumn.Kind.categorical : .numeric }
            let reader = TableColumnReader(path: path, names: names, kinds: kinds, missing: preprocessing.options.missingValues,
                                           singlePrecision: singlePrecision)
            return (names, reader, false, false)
        }
    }

    /// Refuses a header without one of the columns a model reads, naming the missing ones.
    private func requireColumns(_ names: [String], line: Int) throws {
        let missing = names.filter { !columnNames.contains($0) }
        guard missing.isEmpty else {
            throw InputError("\(path): missing column\(missing.count == 1 ? "" : "s") \(listed(missing)) "
                + "(the model was trained on \(names.count) columns: \(listed(names)))")
        }
    }

    /// Reads the header row into `columnNames` and returns its line, after the checks that tell
    /// a file that is not UTF-8 CSV at all: an empty file, UTF-16, binary data, another
    /// delimiter than the comma.
    mutating func readHeader(into fields: inout [CSVField]) throws -> Int {
        if let problem = csvEncodingProblem(scanner.bytes) { throw InputError("\(path): \(problem)") }
        guard try !scanner.restIsBlank() else { throw InputError("\(path): file is empty") }
        let headerLine = try scanner.nextRecord(into: &fields)
        if fields.count == 1,
           let delimiter = likelyDelimiter(UnsafeBufferPointer(rebasing: scanner.bytes[scanner.recordStart ..< scanner.position])) {
            throw InputError("\(path):\(headerLine): no commas in the header; the file seems to use \(delimiter) as its delimiter: "
                + "mlp reads comma-separated values (save it with commas)")
        }
        columnNames = try fields.map { try scanner.validString($0, line: headerLine, what: "a column name") }
        try checkColumnNames(columnNames, line: headerLine)
        return headerLine
    }

    /// The delimiter a header without commas most likely uses: ';' (spreadsheets where the comma
    /// is the decimal mark), tab or '|', described for a message; nil if none appears.
    private func likelyDelimiter(_ header: UnsafeBufferPointer<UInt8>) -> String? {
        let candidates: [(byte: UInt8, name: String)] = [(UInt8(ascii: ";"), "';'"), (UInt8(ascii: "\t"), "tabs"),
                                                         (UInt8(ascii: "|"), "'|'")]
        let counts = candidates.map { candidate in header.reduce(0) { $0 + ($1 == candidate.byte ? 1 : 0) } }
        guard let best = counts.indices.max(by: { counts[$0] < counts[$1] }), counts[best] > 0 else { return nil }
        return candidates[best].name
    }

    /// Column names must be present and distinct: features and targets are found by name.
    func checkColumnNames(_ names: [String], line: Int) throws {
        var firstColumn: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            guard !name.isEmpty else { throw InputError("\(path):\(line): column \(index + 1) has no name") }
            if let first = firstColumn[name] {
                throw InputError("\(path):\(line): duplicate column name '\(name)' (columns \(first + 1) and \(index + 1))")
            }
            firstColumn[name] = index
        }
    }

    /// The target column names, in the order the caller gave them.
    func chooseTargets(_ requested: [String]?, columnNames: [String], kind: TargetKind) throws -> [String] {
        if kind == .none {
            // Prediction input: the named columns that exist are skipped, the rest are features.
            return (requested ?? []).filter(columnNames.contains)
        }
        guard let requested else { return [columnNames[columnNames.count - 1]] }
        guard !requested.isEmpty else { throw InputError("\(path): no target column given") }
        for (index, name) in requested.enumerated() {
            guard columnNames.contains(name) else {
                throw InputError("\(path): no target column '\(name)' (columns: \(listed(columnNames)))")
            }
            guard !requested[..<index].contains(name) else {
                throw InputError("\(path): target column '\(name)' is given twice")
            }
        }
        if case .classes = kind, requested.count != 1 {
            throw InputError("\(path): classification takes exactly one target column, got \(requested.count) (\(listed(requested)))")
        }
        return requested
    }

    /// The finite number in `field`; quoted numbers are accepted too.
    ///
    /// - Parameter column: An index into `columnNames`, looked up only for an error (passing
    ///   the name itself would retain and release a String per field).
    func number(_ field: CSVField, line: Int, role: StaticString, column: Int) throws -> Double {
        var start = field.start, end = field.end
        while start < end && scanner.bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start && scanner.bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        let parsed = field.hasDoubledQuotes ? nil : parseDouble(UnsafeBufferPointer(rebasing: scanner.bytes[start ..< end]))
        guard let value = parsed else {
            let column = columnNames[column]
            if start == end { throw InputError("\(path):\(line): \(role) '\(column)' has no value") }
            throw InputError("\(path):\(line): \(role) '\(column)' is not a number: \(quoted(scanner.string(field)))")
        }
        guard value.isFinite else {
            let column = columnNames[column]
            throw InputError("\(path):\(line): \(role) '\(column)' is not finite: \(quoted(scanner.string(field)))")
        }
        if singlePrecision && !Float(value).isFinite {
            let column = columnNames[column]
            throw InputError("\(path):\(line): \(role) '\(column)' is too large for float32: \(quoted(scanner.string(field)))")
        }
        return value
    }
}

/// What `CSVTableReader` makes of `text`: the whole file (`chunkSize` nil) or a stream through a
/// window that reads `firstReadSize` bytes first and at least `chunkSize` bytes on each refill.
/// For the fuzzers and the tests that compare the two ways of reading.
func csvTable(_ text: [UInt8], kind: TargetKind, chunkSize: Int?, firstReadSize: Int = 4096,
              path: String = "fuzz.csv") -> Result<CSVTable, InputError> {
    Result {
        guard let chunkSize else {
            return try text.withUnsafeBufferPointer { bytes in
                var reader = CSVTableReader(bytes: bytes, path: path, singlePrecision: false)
                return try reader.read(targetColumns: nil, kind: kind)
            }
        }
        var reader = try CSVTableReader(
            window: CSVStreamWindow(chunkSize: chunkSize, firstReadSize: firstReadSize, source: bytesSource(text)),
            path: path, singlePrecision: false)
        return try reader.read(targetColumns: nil, kind: kind)
    }.mapError { $0 as? InputError ?? InputError("\($0)") }
}
