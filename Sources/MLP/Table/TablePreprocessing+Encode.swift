extension TablePreprocessing {
    /// The rows `rows` of `table` as the network's inputs (see the type's layout): missing numbers
    /// become the median, categories their one-hot column. `unseen` counts, per categorical
    /// column, the rows whose value has no column (a category or a missing value not seen in
    /// training): all zeros, never an error.
    ///
    /// `table` holds this preprocessing's columns in its order (the reader's `ColumnPlan.fitted`,
    /// or the table it was fitted on).
    func encode<T: Scalar>(_ table: RawTable, rows: [Int]) throws -> (data: Dataset<T>, unseen: [Int]) {
        precondition(table.featureNames == columns.map(\.name))
        for (j, column) in columns.enumerated() where table.columns[j].kind != .allMissing
            && (table.columns[j].kind == .categorical) != column.isCategorical {
            throw InputError("\(table.path): column '\(column.name)' holds \(column.isCategorical ? "numbers" : "text") here, "
                + "but the model reads it as \(column.isCategorical ? "categories" : "numbers")")
        }
        let numeric = columns.indices.filter { !columns[$0].isCategorical }
        let medians = numericColumns.map(\.median), indicators = numericColumns.indices.filter { numericColumns[$0].indicator }
        let categorical = columns.indices.filter { columns[$0].isCategorical }
        let categoricalColumns = self.categoricalColumns
        // For each categorical column, its one-hot column by the table's category number (-1: not seen).
        let columnOfCategory = categorical.indices.map { c in
            let column = categoricalColumns[c]
            var lookup: [[UInt8]: Int32] = [:]
            for (index, text) in column.categories.enumerated() { lookup[Array(text.utf8)] = Int32(index) }
            for text in column.infrequent { lookup[Array(text.utf8)] = Int32(column.infrequentIndex) }
            let read = table.columns[categorical[c]].categories
            return (0 ..< read.count).map { lookup[Array(read.bytes(of: $0))] ?? -1 }
        }
        let missingIndex = categoricalColumns.map { Int32($0.missingIndex) }

        let columnCount = columns.count, denseCount = numeric.count, blockCount = indicators.count + categorical.count
        var unseen = [Int](repeating: 0, count: categorical.count)
        var dense = [T](repeating: 0, count: rows.count * denseCount)
        var indices = [Int32](repeating: -1, count: rows.count * blockCount)
        table.values.withUnsafeBufferPointer { values in
            dense.withUnsafeMutableBufferPointer { dense in
                indices.withUnsafeMutableBufferPointer { indices in
                    for (i, row) in rows.enumerated() {
                        let x = values.baseAddress! + row * columnCount
                        for (n, j) in numeric.enumerated() { dense[i * denseCount + n] = T(x[j].isNaN ? medians[n] : x[j]) }
                        var block = i * blockCount
                        for n in indicators {
                            indices[block] = x[numeric[n]].isNaN ? 0 : -1
                            block += 1
                        }
                        for (c, j) in categorical.enumerated() {
                            let index = x[j].isNaN ? missingIndex[c] : columnOfCategory[c][Int(x[j])]
                            if index < 0 { unseen[c] += 1 }
                            indices[block] = index
                            block += 1
                        }
                    }
                }
            }
        }
        let targetCount = table.isClassification ? 0 : table.targetNames.count
        var targets: [Double] = []
        targets.reserveCapacity(rows.count * targetCount)
        for row in rows { targets += table.targetValues[row * targetCount ..< (row + 1) * targetCount] }
        var data = Dataset<T>(rowCount: rows.count, featureCount: inputCount, features: dense,
                              oneHot: blockCount > 0 ? OneHotBlocks(widths: blockWidths, indices: indices) : nil,
                              featureNames: featureNames, labels: table.isClassification ? rows.map { table.labels[$0] } : [],
                              classNames: table.classNames, targetValues: scalars(targets), targetNames: table.targetNames)
        data.weights = table.weights.map { weights in scalars(rows.map { weights[$0] }) }
        return (data, unseen)
    }
}
