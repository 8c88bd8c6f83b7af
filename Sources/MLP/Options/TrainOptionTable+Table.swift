private typealias Key = CheckpointSchema.Key

/// The options of how a CSV table's columns are read (docs/data.md, "Tables as they come"):
/// stored in checkpoints (and, fitted, in the model file), so resuming must agree with them.
extension TrainOptionTable {
    public static let categorical = TrainOption<[String]>(
        "--categorical",
        """
            Read these CSV columns as categories (one-hot encoded), even where their values are numbers (integer codes); \
            comma-separated. Without it a column is categorical when none of its values is a number.
            """,
        valueName: "columns", given: \.categorical, setting: .value(\.table.categorical, stored: \.table.categorical),
        checkpointKey: Key.categorical, resume: .mustAgree,
        show: { $0.map { $0.isEmpty ? "no --categorical" : "--categorical \($0.joined(separator: ","))" } ?? "no --categorical" })
    public static let maxCategories = TrainOption<Int>(
        "--max-categories",
        """
            At most this many one-hot columns per categorical column: the rarest categories are grouped into one \
            "infrequent" column, which counts (scikit-learn's max_categories).
            """,
        valueName: "k", range: .counts(1 ... TableOptions.largestCategoryCount), given: \.maxCategories,
        setting: .optional(\.table.maxCategories, stored: \.table.maxCategories), checkpointKey: Key.maxCategories, resume: .mustAgree)
    public static let minCategoryCount = TrainOption<Int>(
        "--min-category-count",
        "Categories seen in fewer training rows than this are grouped into one \"infrequent\" column (scikit-learn's min_frequency).",
        valueName: "n", range: .positiveCount, given: \.minCategoryCount,
        setting: .optional(\.table.minCategoryCount, stored: \.table.minCategoryCount), checkpointKey: Key.minCategoryCount,
        resume: .mustAgree)
    public static let missingValues = TrainOption<[String]>(
        "--missing-values",
        """
            The spellings of a missing value, comma-separated, replacing the default: an empty field, NA, NaN, N/A, ?, null \
            (an empty item is the empty field: ,NA). A missing number becomes the training median plus a COL_missing \
            indicator; a missing category is a category of its own.
            """,
        valueName: "list", default: TableOptions.defaultMissingValues, given: \.missingValues,
        setting: .value(\.table.missingValues, stored: \.table.missingValues), checkpointKey: Key.missingValues, resume: .mustAgree,
        sweep: .fixed(rowsRead), show: { "--missing-values " + ($0 ?? TableOptions.defaultMissingValues).joined(separator: ",") })
    public static let dropMissingTarget = TrainOption<Bool>(
        "--drop-missing-target", "Leave out (and count) the training rows whose target is missing, instead of refusing the table.",
        default: false, given: \.dropMissingTarget, setting: .value(\.table.dropMissingTarget, stored: \.table.dropMissingTarget),
        checkpointKey: Key.dropMissingTarget, resume: .mustAgree, sweep: .fixed(rowsRead), show: flag("--drop-missing-target"))

    /// Why `mlp sweep --param` may not vary what decides a table's rows (a missing target left out).
    static let rowsRead = "which rows the data has decides the folds, the same for every trial"
}
