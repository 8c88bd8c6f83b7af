import Foundation

/// How `mlp train` reads the feature columns of a CSV table: `--categorical`, `--max-categories`,
/// `--min-category-count`, `--missing-values` and `--drop-missing-target`, resolved (see
/// docs/data.md, "Tables as they come"). A model file trained on a table with categorical
/// columns or missing values keeps them in its preprocessing.
public struct TableOptions: Equatable, Sendable, Codable {
    /// The spellings of a missing value when `--missing-values` is not given: an empty field, `NA`,
    /// `NaN`, `N/A`, `?` and `null`.
    public static let defaultMissingValues = ["", "NA", "NaN", "N/A", "?", "null"]
    /// The most columns one categorical column may encode to (categories, the missing value's
    /// and the infrequent ones'): more is an identifier, not a category.
    public static let largestCategoryCount = 65_536

    /// Columns read as categories even where their values are numbers (integer codes).
    public var categorical: [String] = []
    /// At most this many one-hot columns per categorical column, the rarest categories grouped
    /// into one "infrequent" column that counts towards it (scikit-learn's `max_categories`).
    public var maxCategories: Int?
    /// Categories seen in fewer training rows than this are grouped as infrequent
    /// (scikit-learn's `min_frequency` as a count).
    public var minCategoryCount: Int?
    /// The field texts that mean "missing", matched exactly.
    public var missingValues: [String] = TableOptions.defaultMissingValues
    /// Training rows whose target is missing are dropped (and counted) instead of refused.
    public var dropMissingTarget = false

    public init() {}

    enum CodingKeys: String, CodingKey {
        case categorical, maxCategories = "max_categories", minCategoryCount = "min_category_count"
        case missingValues = "missing_values", dropMissingTarget = "drop_missing_target"
    }

    /// `--missing-values LIST` as typed: comma-separated spellings, an empty one written as an
    /// empty item (`,NA` is the empty field and NA). Nothing at all is refused: a table always
    /// has some way to say "missing", and the empty field is the usual one.
    public static func missingValues(parsing text: String) throws -> [String] {
        guard !text.isEmpty else {
            throw InputError("--missing-values needs at least one spelling (got an empty list); "
                + "an empty field is written as an empty item: --missing-values ,NA")
        }
        var spellings: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) where !spellings.contains(item) {
            spellings.append(item)
        }
        return spellings
    }

    /// `--categorical COL,…` as typed: column names, each once.
    public static func columns(parsing text: String, option: String) throws -> [String] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !names.contains(where: \.isEmpty) else {
            throw InputError("\(option) takes column names, comma-separated (got \"\(text)\")")
        }
        if let twice = names.indices.first(where: { names[..<$0].contains(names[$0]) }) {
            throw InputError("\(option) names column \(names[twice]) twice (got \(text))")
        }
        return names
    }
}

/// The spellings of a missing value, matched against a field's bytes without making a String:
/// this runs on every field of a table.
struct MissingSpellings {
    let spellings: [[UInt8]]
    /// Bit k is set when a spelling has k bytes (k < 64): most fields are ruled out by their length.
    private let lengths: UInt64
    private let hasLongSpelling: Bool

    init(_ spellings: [String]) {
        self.spellings = spellings.map { Array($0.utf8) }
        lengths = self.spellings.reduce(0) { $1.count < 64 ? $0 | (1 << UInt64($1.count)) : $0 }
        hasLongSpelling = self.spellings.contains { $0.count >= 64 }
    }

    @inline(__always)
    func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = bytes.count
        guard count >= 64 ? hasLongSpelling : lengths & (1 << UInt64(count)) != 0 else { return false }
        for spelling in spellings where spelling.count == count {
            if count == 0 { return true }
            if spelling.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress!, count) }) == 0 { return true }
        }
        return false
    }

    func matches(_ text: String) -> Bool { spellings.contains(Array(text.utf8)) }
}
