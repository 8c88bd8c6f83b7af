import Foundation

/// How a CSV's feature columns are read.
enum ColumnPlan {
    /// Finite numbers in every field (data for a model trained on a complete numeric table):
    /// every column but the targets and the weight, or (`names`) only these, found by name.
    case numbers(names: [String]?)
    /// Training data: every column but the targets and the weight is a feature, numeric if every
    /// value that is not missing is a number, categorical if none is or the options name it.
    case infer(TableOptions)
    /// Data for a fitted preprocessing: its columns, found by name in any order, with its roles;
    /// other columns are skipped.
    case fitted(TablePreprocessing)
}

/// A feature column as read: its role, its categories, and how many of its fields were missing.
struct ReadColumn: Equatable {
    enum Kind: Equatable {
        case numeric, categorical
        /// Missing in every row: its role is unknown.
        case allMissing
    }

    var kind: Kind
    /// The texts of a categorical column, numbered in order of first appearance.
    var categories = CategoryDictionary()
    var missing = 0
}

/// Reads the feature fields of a table (`ColumnPlan.infer` and `.fitted`): each becomes a Double
/// in the table's values, a number, a category's number (see `CategoryDictionary`) or NaN for a
/// missing value, and each column's role is found or checked as its fields come.
struct TableColumnReader {
    let path: String
    let names: [String]
    let missing: MissingSpellings
    let singlePrecision: Bool
    /// Roles the plan gives (a `--categorical` column, a fitted preprocessing's columns), which
    /// the values do not change.
    let given: [Bool]
    private(set) var columns: [ReadColumn]
    /// The first number in each column, for the message that refuses a column of numbers and text.
    private var firstNumber: [(line: Int, text: String)?]
    private var firstText: [(line: Int, text: String)?]

    init(path: String, names: [String], kinds: [ReadColumn.Kind?], missing: [String], singlePrecision: Bool) {
        self.path = path
        self.names = names
        self.missing = MissingSpellings(missing)
        self.singlePrecision = singlePrecision
        given = kinds.map { $0 != nil }
        columns = kinds.map { ReadColumn(kind: $0 ?? .allMissing) }
        firstNumber = Array(repeating: nil, count: names.count)
        firstText = firstNumber
    }

    /// Whether `field` is a missing value.
    @inline(__always)
    func isMissing(_ field: CSVField, _ scanner: CSVScanner) -> Bool {
        field.hasDoubledQuotes ? missing.matches(scanner.string(field)) : missing.matches(bytes(field, scanner))
    }

    @inline(__always)
    private func bytes(_ field: CSVField, _ scanner: CSVScanner) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: scanner.bytes[field.start ..< field.end])
    }

    /// The value of feature `j`'s field.
    @inline(__always)
    mutating func value(_ field: CSVField, feature j: Int, line: Int, _ scanner: CSVScanner) throws -> Double {
        if isMissing(field, scanner) {
            columns[j].missing += 1
            return .nan
        }
        switch columns[j].kind {
        case .categorical:
            if !given[j], number(field, scanner) != nil {
                throw mixed(j, number: (line, scanner.string(field)), text: firstText[j]!)
            }
            return Double(try category(field, feature: j, line: line, scanner))
        case .numeric, .allMissing:
            if let number = number(field, scanner) {
                guard number.isFinite else {
                    throw InputError("\(path):\(line): feature '\(names[j])' is not finite: \(quoted(scanner.string(field))) "
                        + "(if it means a missing value, list it in --missing-values)")
                }
                if singlePrecision && !Float(number).isFinite {
                    throw InputError("\(path):\(line): feature '\(names[j])' is too large for float32: \(quoted(scanner.string(field)))")
                }
                if columns[j].kind == .allMissing {
                    columns[j].kind = .numeric
                    firstNumber[j] = (line, scanner.string(field))
                }
                return number
            }
            if given[j] {
                // A numeric column of a fitted model: text there is an error, as in any numeric column.
                let shown = quoted(scanner.string(field))
                throw InputError("\(path):\(line): feature '\(names[j])' is not a number: \(shown) (the model reads it as numbers)")
            }
            if let first = firstNumber[j] {
                throw mixed(j, number: first, text: (line, scanner.string(field)))
            }
            columns[j].kind = .categorical
            firstText[j] = (line, scanner.string(field))
            return Double(try category(field, feature: j, line: line, scanner))
        }
    }

    /// The number in `field`, or nil if it holds none (text). Quoted numbers count; a field with
    /// doubled quotes never does.
    @inline(__always)
    private func number(_ field: CSVField, _ scanner: CSVScanner) -> Double? {
        guard !field.hasDoubledQuotes else { return nil }
        var start = field.start, end = field.end
        while start < end && scanner.bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start && scanner.bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        guard start < end else { return nil }
        // Most category texts start with a letter no number starts with: no strtod for them.
        var first = scanner.bytes[start]
        if (first == UInt8(ascii: "-") || first == UInt8(ascii: "+")) && start + 1 < end { first = scanner.bytes[start + 1] }
        let lower = first | 0x20
        guard first &- UInt8(ascii: "0") < 10 || first == UInt8(ascii: ".") || lower == UInt8(ascii: "i") || lower == UInt8(ascii: "n")
        else { return nil }
        return parseDouble(UnsafeBufferPointer(rebasing: scanner.bytes[start ..< end]))
    }

    @inline(__always)
    private mutating func category(_ field: CSVField, feature j: Int, line: Int, _ scanner: CSVScanner) throws -> Int32 {
        let name = names[j]
        if field.hasDoubledQuotes {
            let text = try scanner.validString(field, line: line, what: "a category of '\(name)'")
            return Array(text.utf8).withUnsafeBufferPointer { columns[j].categories.number(of: $0) { text } }
        }
        // The text is made (and checked) only for a category not seen before.
        return try columns[j].categories.number(of: bytes(field, scanner)) {
            try scanner.validString(field, line: line, what: "a category of '\(name)'")
        }
    }

    /// A column of numbers and text: named by its first text, the value that is not a number.
    private func mixed(_ j: Int, number: (line: Int, text: String), text: (line: Int, text: String)) -> InputError {
        let name = names[j]
        return InputError("\(path):\(text.line): feature '\(name)' is not a number: \(quoted(text.text)), but the column holds numbers "
            + "(\(quoted(number.text)) on line \(number.line)): if it holds categories, name it with --categorical \(name); "
            + "if \(quoted(text.text)) means a missing value, list it in --missing-values")
    }
}
