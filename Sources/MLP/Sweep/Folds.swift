/// The rows of K-fold cross-validation, chosen as scikit-learn's `KFold(n_splits=K,
/// shuffle=False)` (regression) and `StratifiedKFold(n_splits=K, shuffle=False)`
/// (classification) choose them, rows in file order: fold k holds out `heldOut[k]` and trains on
/// every other fold's rows.
public struct Folds: Sendable, Equatable {
    /// Each fold's held-out rows, in file order; together every row once.
    public let heldOut: [[Int]]
    public let rowCount: Int

    public var count: Int { heldOut.count }

    /// The rows fold `k` trains on: all but its held-out ones, in file order.
    public func trainingRows(_ k: Int) -> [Int] {
        var isHeldOut = [Bool](repeating: false, count: rowCount)
        for row in heldOut[k] { isHeldOut[row] = true }
        return (0 ..< rowCount).filter { !isHeldOut[$0] }
    }

    /// `KFold`: K contiguous runs of rows, the first n mod K of them one row longer.
    public static func plain(rowCount: Int, folds: Int) throws -> Folds {
        precondition(folds >= 2)
        guard folds <= rowCount else {
            throw InputError("--folds \(folds) is more than the \(rowCount) training rows: each fold holds out at least one")
        }
        var heldOut: [[Int]] = []
        var start = 0
        for k in 0 ..< folds {
            let size = rowCount / folds + (k < rowCount % folds ? 1 : 0)
            heldOut.append(Array(start ..< start + size))
            start += size
        }
        return Folds(heldOut: heldOut, rowCount: rowCount)
    }

    /// `StratifiedKFold`: classes numbered by first appearance and the labels sorted by that
    /// number; fold k receives, of each class, the count of that class among the sorted labels at
    /// positions k, k + K, k + 2K, …; each class's rows in file order go to fold 0 first, then 1, ….
    /// Every class must have at least K rows, so that every fold holds out some of each and
    /// trains on the rest of each.
    /// - Parameters:
    ///   - labels: each row's class index; classNames: for messages.
    public static func stratified(labels: [Int32], classNames: [String], folds: Int) throws -> Folds {
        precondition(folds >= 2)
        // Classes in order of first appearance.
        var appearance: [Int32: Int] = [:]
        for label in labels where appearance[label] == nil { appearance[label] = appearance.count }
        let encoded = labels.map { appearance[$0]! }
        var counts = [Int](repeating: 0, count: appearance.count)
        for c in encoded { counts[c] += 1 }
        if let smallest = counts.indices.min(by: { counts[$0] < counts[$1] }), counts[smallest] < folds {
            let label = appearance.first { $0.value == smallest }!.key
            let name = Int(label) < classNames.count ? classNames[Int(label)] : "\(label)"
            throw InputError("--folds \(folds) is more than the \(counts[smallest]) rows of class \(name), the smallest: "
                + "every fold holds out rows of every class and trains on the others")
        }
        // allocation[k][c]: positions p ≡ k (mod K) among the sorted labels that hold class c,
        // which occupies positions start[c] ..< start[c] + counts[c].
        var allocation = [[Int]](repeating: [Int](repeating: 0, count: counts.count), count: folds)
        var start = 0
        for c in counts.indices {
            for k in 0 ..< folds {
                let first = start + ((k - start % folds) % folds + folds) % folds
                let end = start + counts[c]
                allocation[k][c] = first < end ? (end - first + folds - 1) / folds : 0
            }
            start += counts[c]
        }
        var foldOfRow = [Int](repeating: 0, count: labels.count)
        var fold = [Int](repeating: 0, count: counts.count), taken = fold
        for (row, c) in encoded.enumerated() {
            while taken[c] == allocation[fold[c]][c] { fold[c] += 1; taken[c] = 0 }
            foldOfRow[row] = fold[c]
            taken[c] += 1
        }
        var heldOut = [[Int]](repeating: [], count: folds)
        for (row, k) in foldOfRow.enumerated() { heldOut[k].append(row) }
        return Folds(heldOut: heldOut, rowCount: labels.count)
    }
}
