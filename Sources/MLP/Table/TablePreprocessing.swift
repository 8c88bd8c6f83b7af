import Foundation

/// What the columns of a raw table become as the network's inputs, fitted on the training rows
/// and kept in the model file: `predict`, `evaluate` and `export` apply it to raw rows.
///
/// The inputs, in order (scikit-learn's `ColumnTransformer` of `SimpleImputer(strategy="median",
/// add_indicator=True)` on the numeric columns and `OneHotEncoder(handle_unknown="ignore")` on
/// the categorical ones lays them out the same way):
/// 1. each numeric column's value, its training median where it is missing;
/// 2. a 0/1 indicator `COL_missing` for each numeric column that had missing values in the
///    training rows;
/// 3. each categorical column's one-hot block: a column per category (sorted by bytes), one for
///    missing values if the training rows had some (every spelling is the same category), and
///    one for the categories grouped as infrequent. A value not seen in training is all zeros.
///
/// `--standardize` standardizes the numeric values only: the indicators and one-hot columns are
/// stored with mean 0 and standard deviation 1.
public struct TablePreprocessing: Equatable, Sendable {
    public enum Column: Equatable, Sendable {
        case numeric(NumericColumn)
        case categorical(CategoricalColumn)

        public var name: String {
            switch self {
            case .numeric(let column): return column.name
            case .categorical(let column): return column.name
            }
        }

        public var isCategorical: Bool { if case .categorical = self { return true } else { return false } }
    }

    public struct NumericColumn: Equatable, Sendable {
        public var name: String
        /// The training rows' median, which a missing value becomes.
        public var median: Double
        /// Whether the network has a `COL_missing` input (the training rows had missing values here).
        public var indicator: Bool
    }

    public struct CategoricalColumn: Equatable, Sendable {
        public var name: String
        /// The categories with a column of their own, sorted by their bytes.
        public var categories: [String]
        /// Whether missing values have a column of their own, after the categories.
        public var missingColumn: Bool
        /// The categories grouped into the infrequent column (sorted by bytes), and whether
        /// missing values are grouped there too.
        public var infrequent: [String]
        public var missingIsInfrequent: Bool

        public var hasInfrequentColumn: Bool { !infrequent.isEmpty || missingIsInfrequent }
        /// Its one-hot columns.
        public var width: Int { categories.count + (missingColumn ? 1 : 0) + (hasInfrequentColumn ? 1 : 0) }
        /// The one-hot column of missing values: their own, the infrequent one, or none (-1).
        public var missingIndex: Int { missingColumn ? categories.count : missingIsInfrequent ? infrequentIndex : -1 }
        public var infrequentIndex: Int { categories.count + (missingColumn ? 1 : 0) }
    }

    /// The table's feature columns, in the training file's order.
    public var columns: [Column]
    /// How it was fitted (stored so that resuming and `--init-from` can check the options
    /// given agree), and the spellings of a missing value.
    public var options: TableOptions

    public init(columns: [Column], options: TableOptions) {
        self.columns = columns
        self.options = options
    }

    public var numericColumns: [NumericColumn] {
        columns.compactMap { if case .numeric(let column) = $0 { return column } else { return nil } }
    }

    public var categoricalColumns: [CategoricalColumn] {
        columns.compactMap { if case .categorical(let column) = $0 { return column } else { return nil } }
    }

    /// The widths of the 0/1 blocks after the numeric values: an indicator (width 1) per numeric
    /// column that has one, then each categorical column's one-hot block.
    public var blockWidths: [Int] { numericColumns.filter(\.indicator).map { _ in 1 } + categoricalColumns.map(\.width) }

    /// U_0: the network's inputs.
    public var inputCount: Int { numericColumns.count + blockWidths.reduce(0, +) }

    /// The names of the network's inputs: `COL`, `COL_missing`, `COL=CATEGORY`, `COL=<missing>`
    /// and `COL=<infrequent>`. For people (`mlp info`, the ONNX metadata); columns are matched
    /// by the names of `columns`.
    public var featureNames: [String] {
        let numeric = numericColumns
        var names = numeric.map(\.name) + numeric.filter(\.indicator).map { $0.name + "_missing" }
        for column in categoricalColumns {
            names += column.categories.map { column.name + "=" + $0 }
            if column.missingColumn { names.append(column.name + "=<missing>") }
            if column.hasInfrequentColumn { names.append(column.name + "=<infrequent>") }
        }
        return names
    }
}

extension TablePreprocessing {
    /// For `mlp info --json`: the columns in order, each with its role and what was fitted, and
    /// the options (the missing spellings among them).
    public var jsonObject: [String: Any] {
        let columns: [[String: Any]] = self.columns.map { column in
            switch column {
            case .numeric(let c): return ["name": c.name, "role": "numeric", "median": c.median, "indicator": c.indicator]
            case .categorical(let c):
                return ["name": c.name, "role": "categorical", "categories": c.categories, "missing_column": c.missingColumn,
                        "infrequent": c.infrequent, "missing_is_infrequent": c.missingIsInfrequent, "width": c.width]
            }
        }
        return ["columns": columns, "inputs": inputCount, "missing_values": options.missingValues,
                "categorical_given": options.categorical, "max_categories": options.maxCategories.map { $0 as Any } ?? NSNull(),
                "min_category_count": options.minCategoryCount.map { $0 as Any } ?? NSNull()]
    }

    /// For `mlp info`: one line per column, then the missing spellings.
    public var lines: [String] {
        var lines = ["preprocessing (model format \(Self.formatVersion)): \(columns.count) columns → \(inputCount) inputs"]
        for column in columns {
            switch column {
            case .numeric(let c):
                lines.append("  \(c.name): numeric, median \(c.median)\(c.indicator ? ", indicator \(c.name)_missing" : "")")
            case .categorical(let c):
                var line = "  \(c.name): categorical, \(c.categories.count) categor\(c.categories.count == 1 ? "y" : "ies") "
                    + listed(c.categories.map(quoted), limit: 10)
                if c.missingColumn { line += ", missing values a category" }
                if c.hasInfrequentColumn {
                    line += ", infrequent: \(listed(c.infrequent.map(quoted), limit: 10))\(c.missingIsInfrequent ? " and missing values" : "")"
                }
                lines.append(line)
            }
        }
        lines.append("  missing values: \(options.missingValues.map(quoted).joined(separator: ", "))")
        return lines
    }
}
