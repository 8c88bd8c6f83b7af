import Foundation

/// How a model file keeps its preprocessing (docs/model-files.md): `format_version` 2, the
/// columns and the options as JSON, and a checksum of them and the standardization, so that a
/// file whose categories or medians were edited is refused when it is read.
extension TablePreprocessing {
    /// The model-file format that holds a preprocessing. Files without one (version 1: every
    /// feature a number, none missing) are written as before, byte for byte.
    static let formatVersion = 2

    enum Key {
        static let formatVersion = "format_version", columns = "table_columns", options = "table_options"
        static let checksum = "preprocessing_checksum"
    }

    /// One column in the model file's JSON.
    private struct ColumnRecord: Codable, Equatable {
        var name: String
        var role: String
        var median: Double?
        var indicator: Bool?
        var categories: [String]?
        var missingColumn: Bool?
        var infrequent: [String]?
        var missingIsInfrequent: Bool?

        enum CodingKeys: String, CodingKey {
            case name, role, median, indicator, categories, infrequent
            case missingColumn = "missing_column", missingIsInfrequent = "missing_is_infrequent"
        }
    }

    private static func json<Value: Encodable>(_ value: Value) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    private var records: [ColumnRecord] {
        columns.map { column in
            switch column {
            case .numeric(let c): return ColumnRecord(name: c.name, role: "numeric", median: c.median, indicator: c.indicator)
            case .categorical(let c):
                return ColumnRecord(name: c.name, role: "categorical", categories: c.categories, missingColumn: c.missingColumn,
                                    infrequent: c.infrequent, missingIsInfrequent: c.missingIsInfrequent)
            }
        }
    }

    /// Its metadata keys; `standardization` (the model's, as its file writes it) is covered by the checksum.
    func metadata(standardization: [String: String]) -> [String: String] {
        let columns = Self.json(records), options = Self.json(self.options)
        return [Key.formatVersion: "\(Self.formatVersion)", Key.columns: columns, Key.options: options,
                Key.checksum: Self.checksum(columns: columns, options: options, standardization: standardization)]
    }

    private static func checksum(columns: String, options: String, standardization: [String: String]) -> String {
        let text = [columns, options] + standardization.keys.sorted().map { $0 + "=" + standardization[$0]! }
        let hash = MLP.fingerprint(text: text.joined(separator: "\u{1E}"))
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The preprocessing in a model file's metadata; nil for a version-1 file. Refuses a newer
    /// format, and a preprocessing that was edited or does not fit the layers it feeds.
    // One function over ~60 lines: one check per stored value, beside the value it reads.
    static func read(metadata: [String: String], path: String, inputCount: Int, standardization: [String: String]) throws
        -> TablePreprocessing? {
        func refuse(_ what: String) -> InputError { InputError("\(path): metadata '\(Key.columns)' is not valid: \(what)") }
        guard let version = metadata[Key.formatVersion] else {
            if let key = [Key.columns, Key.options, Key.checksum].first(where: { metadata[$0] != nil }) {
                throw InputError("\(path): metadata '\(key)' without '\(Key.formatVersion)': the file was edited")
            }
            return nil
        }
        guard let number = Int(version), number >= 1 else {
            throw InputError("\(path): metadata '\(Key.formatVersion)' is not valid: \"\(version)\"")
        }
        guard number <= formatVersion else {
            throw InputError("\(path): model format version \(number) was written by a newer mlp (this one reads up to version \(formatVersion))")
        }
        guard number == formatVersion else { return nil }
        guard let columnsText = metadata[Key.columns], let optionsText = metadata[Key.options], let stored = metadata[Key.checksum] else {
            throw InputError("\(path): model format version \(number) needs '\(Key.columns)', '\(Key.options)' and '\(Key.checksum)'")
        }
        guard stored == checksum(columns: columnsText, options: optionsText, standardization: standardization) else {
            throw InputError("\(path): its preprocessing (columns, categories, medians, standardization) does not match its checksum: "
                + "the file was edited; train the model again")
        }
        let decoder = JSONDecoder()
        guard let records = try? decoder.decode([ColumnRecord].self, from: Data(columnsText.utf8)),
              let options = try? decoder.decode(TableOptions.self, from: Data(optionsText.utf8)) else {
            throw InputError("\(path): metadata '\(Key.columns)' or '\(Key.options)' is not the JSON mlp writes")
        }
        guard !options.missingValues.isEmpty else { throw InputError("\(path): metadata '\(Key.options)' lists no missing spellings") }
        let missing = MissingSpellings(options.missingValues)
        var columns: [Column] = []
        for record in records {
            switch record.role {
            case "numeric":
                guard let median = record.median, median.isFinite, let indicator = record.indicator, record.categories == nil else {
                    throw refuse("numeric column '\(record.name)' needs a finite median and an indicator, and no categories")
                }
                columns.append(.numeric(NumericColumn(name: record.name, median: median, indicator: indicator)))
            case "categorical":
                guard let categories = record.categories, let infrequent = record.infrequent, let missingColumn = record.missingColumn,
                      let missingIsInfrequent = record.missingIsInfrequent, record.median == nil,
                      !(missingColumn && missingIsInfrequent) else {
                    throw refuse("categorical column '\(record.name)' needs categories, infrequent ones and where missing values go")
                }
                for list in [categories, infrequent] where list != list.sortedByBytes() || Set(list.map { Array($0.utf8) }).count != list.count {
                    throw refuse("the categories of '\(record.name)' are not distinct and sorted")
                }
                let all = Set((categories + infrequent).map { Array($0.utf8) })
                guard all.count == categories.count + infrequent.count else {
                    throw refuse("a category of '\(record.name)' is both frequent and infrequent")
                }
                if let spelling = (categories + infrequent).first(where: missing.matches) {
                    throw refuse("\(quoted(spelling)) is a category of '\(record.name)' and a spelling of a missing value")
                }
                let column = CategoricalColumn(name: record.name, categories: categories, missingColumn: missingColumn,
                                               infrequent: infrequent, missingIsInfrequent: missingIsInfrequent)
                guard column.width >= 1, column.width <= TableOptions.largestCategoryCount else {
                    throw refuse("'\(record.name)' has \(column.width) one-hot columns")
                }
                columns.append(.categorical(column))
            default:
                throw refuse("column '\(record.name)' has the role '\(record.role)' (numeric or categorical)")
            }
        }
        let preprocessing = TablePreprocessing(columns: columns, options: options)
        guard !columns.isEmpty, Set(columns.map(\.name)).count == columns.count else { throw refuse("no columns, or a column named twice") }
        guard preprocessing.inputCount == inputCount else {
            throw refuse("its columns make \(preprocessing.inputCount) inputs for the \(inputCount) of layers.0.weight")
        }
        return preprocessing
    }
}
