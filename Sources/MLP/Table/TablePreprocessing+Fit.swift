extension TablePreprocessing {
    /// Fits the preprocessing on the rows `rows` of `table` (the training rows: nothing of the
    /// validation rows is fitted). Every rank reads the whole table and fits the same rows in
    /// the same order, so every rank derives the same medians and categories.
    ///
    /// Refuses a column missing in every training row, and a categorical column of more than
    /// `TableOptions.largestCategoryCount` one-hot columns.
    init(fitting table: RawTable, rows: [Int], options: TableOptions) throws {
        let columnCount = table.featureNames.count
        // One pass over the rows: each numeric column's values that are not missing, each
        // categorical column's count per category number (the last slot counts missing values).
        var values = [[Double]](repeating: [], count: columnCount)
        var counts = table.columns.map { [Int](repeating: 0, count: $0.kind == .categorical ? $0.categories.count + 1 : 0) }
        var missing = [Int](repeating: 0, count: columnCount)
        let isCategorical = table.columns.map { $0.kind == .categorical }
        for j in 0 ..< columnCount where !isCategorical[j] { values[j].reserveCapacity(rows.count) }
        table.values.withUnsafeBufferPointer { x in
            for row in rows {
                for j in 0 ..< columnCount {
                    let value = x[row * columnCount + j]
                    if value.isNaN {
                        missing[j] += 1
                        if isCategorical[j] { counts[j][counts[j].count - 1] += 1 }
                    } else if isCategorical[j] {
                        counts[j][Int(value)] += 1
                    } else {
                        values[j].append(value)
                    }
                }
            }
        }
        var columns: [Column] = []
        for j in 0 ..< columnCount {
            let name = table.featureNames[j]
            guard missing[j] < rows.count else {
                throw InputError("\(table.path): column '\(name)' is missing in every training row (\(rows.count) rows): "
                    + "nothing to learn from it; drop the column or give it values")
            }
            switch table.columns[j].kind {
            case .categorical:
                columns.append(.categorical(try Self.categories(of: table.columns[j].categories, counts: counts[j], name: name,
                                                                options: options, path: table.path)))
            case .numeric, .allMissing:
                columns.append(.numeric(NumericColumn(name: name, median: median(&values[j]), indicator: missing[j] > 0)))
            }
            values[j] = []
        }
        self.init(columns: columns, options: options)
    }

    /// A categorical column's categories and how the rare ones are grouped, from each
    /// category's count in the training rows (`counts`: by category number, missing values
    /// last), as scikit-learn's `OneHotEncoder(min_frequency=N, max_categories=K)` groups them:
    /// categories counted fewer than N times are infrequent; then, if K is less than the columns
    /// that leaves plus one, the K − 1 most frequent stay (ties: the later one in sorted order)
    /// and the rest are infrequent. Missing values are a category here, sorted last.
    static func categories(of dictionary: CategoryDictionary, counts: [Int], name: String, options: TableOptions,
                           path: String) throws -> CategoricalColumn {
        let missingCount = counts[dictionary.count]
        // The categories seen in the training rows, sorted as scikit-learn's np.unique sorts them (NaN last).
        let seen = (0 ..< dictionary.count).filter { counts[$0] > 0 }
        let texts = seen.map { dictionary.texts[$0] }
        let order = texts.indices.sorted { texts[$0].utf8.lexicographicallyPrecedes(texts[$1].utf8) }
        var sorted: [(text: String?, count: Int)] = order.map { (texts[$0], counts[seen[$0]]) }
        if missingCount > 0 { sorted.append((nil, missingCount)) }

        var infrequent = sorted.map { category in options.minCategoryCount.map { category.count < $0 } ?? false }
        let currentColumns = sorted.count - infrequent.filter { $0 }.count + 1
        if let maximum = options.maxCategories, maximum < currentColumns {
            let frequent = maximum - 1
            if frequent == 0 {
                infrequent = infrequent.map { _ in true }
            } else {
                // A stable sort by count, ascending: all but the last `frequent` are infrequent.
                let byCount = sorted.indices.sorted { sorted[$0].count < sorted[$1].count || sorted[$0].count == sorted[$1].count && $0 < $1 }
                for index in byCount.dropLast(frequent) { infrequent[index] = true }
            }
        }
        var column = CategoricalColumn(name: name, categories: [], missingColumn: false, infrequent: [], missingIsInfrequent: false)
        for (index, category) in sorted.enumerated() {
            if let text = category.text {
                if infrequent[index] { column.infrequent.append(text) } else { column.categories.append(text) }
            } else {
                if infrequent[index] { column.missingIsInfrequent = true } else { column.missingColumn = true }
            }
        }
        guard column.width <= TableOptions.largestCategoryCount else {
            throw InputError("\(path): column '\(name)' has \(sorted.count) distinct values in the training rows, more than the "
                + "\(TableOptions.largestCategoryCount) categories a column may have: group the rare ones with --max-categories K "
                + "(or --min-category-count N), or drop the column if it is an identifier")
        }
        return column
    }
}

/// The median of `values` (not empty), as numpy's: the middle value, or the mean of the two
/// middle ones. Exact: a selection, not a sample; `values` is reordered.
func median(_ values: inout [Double]) -> Double {
    precondition(!values.isEmpty)
    let middle = values.count / 2
    let upper = select(&values, middle)
    guard values.count % 2 == 0 else { return upper }
    // The lower middle is the largest value before the upper one, which selection left there.
    let lower = values[..<middle].max()!
    let sum = lower + upper
    return sum.isFinite ? sum / 2 : lower / 2 + upper / 2
}

/// The value that would be at `k` if `values` were sorted; afterwards values[..<k] are not
/// larger and values[(k+1)...] not smaller. Quickselect with three-way partitions (columns
/// often repeat values) and the median of three as pivot; after 2·log₂(n) rounds without
/// converging it sorts what is left, so it never takes quadratic time.
func select(_ values: inout [Double], _ k: Int) -> Double {
    precondition(k >= 0 && k < values.count)
    return values.withUnsafeMutableBufferPointer { x in
        var low = 0, high = x.count - 1
        var rounds = 2 * (Int.bitWidth - x.count.leadingZeroBitCount) + 4
        while low < high {
            rounds -= 1
            if rounds == 0 {
                var rest = UnsafeMutableBufferPointer(rebasing: x[low ... high])
                rest.sort()
                break
            }
            let a = x[low], b = x[(low + high) / 2], c = x[high]
            let pivot = max(min(a, b), min(max(a, b), c))
            // Three regions: < pivot in [low, less), == pivot in [less, index), > pivot in (greater, high].
            var less = low, index = low, greater = high
            while index <= greater {
                let value = x[index]
                if value < pivot {
                    x.swapAt(less, index)
                    less += 1
                    index += 1
                } else if value > pivot {
                    x.swapAt(index, greater)
                    greater -= 1
                } else {
                    index += 1
                }
            }
            if k < less {
                high = less - 1
            } else if k > greater {
                low = greater + 1
            } else {
                return pivot
            }
        }
        return x[k]
    }
}
