/// A CSV table read for preprocessing (`ColumnPlan.infer` or `.fitted`): every feature a Double,
/// row-major (a number, a category's number in its column's `CategoryDictionary`, or NaN for
/// a missing value), each column's role and categories, and the targets and weights as read.
struct RawTable {
    let path: String
    let rowCount: Int
    let featureNames: [String]
    let columns: [ReadColumn]
    /// rowCount × featureNames.count, row-major.
    let values: [Double]
    let labels: [Int32]
    let classNames: [String]
    /// rowCount × targetNames.count, row-major (regression).
    let targetValues: [Double]
    let targetNames: [String]
    let weights: [Double]?
    let droppedRows: Int

    /// The table `table` holds; takes its values.
    init(_ table: inout CSVTable, path: String) {
        self.path = path
        rowCount = table.rowCount
        featureNames = table.featureNames
        columns = table.featureColumns
        values = table.features.removeAll(as: Double.self)
        labels = table.labels
        classNames = table.classNames
        targetValues = table.targetValues.removeAll(as: Double.self)
        targetNames = table.targetNames
        weights = table.weights
        droppedRows = table.droppedRows
    }

    var isClassification: Bool { !classNames.isEmpty }

    /// A fingerprint of everything read: names, roles, every value, each column's categories in
    /// order of first appearance (so a category's number means the same text), the targets and
    /// weights. What a checkpoint records to recognize the training data.
    var fingerprint: UInt64 {
        let names = [featureNames, targetNames, classNames].map { $0.joined(separator: "\u{1F}") }.joined(separator: "\u{1E}")
        var hash = MLP.fingerprint(text: names)
        for column in columns {
            hash = MLP.fingerprint(text: "\(column.kind)", seed: hash)
            for number in 0 ..< column.categories.count {
                hash = Array(column.categories.bytes(of: number)).withUnsafeBytes { MLP.fingerprint($0, seed: hash) }
            }
        }
        withUnsafeBytes(of: rowCount) { hash = MLP.fingerprint($0, seed: hash) }
        values.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        labels.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        targetValues.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        weights?.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        return hash
    }
}
