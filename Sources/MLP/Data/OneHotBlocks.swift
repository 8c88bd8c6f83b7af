/// The 0/1 columns after a dataset's dense features, in blocks that each hold at most one 1 per
/// row: a missing-value indicator (a block of width 1) or a categorical column's one-hot
/// encoding (see `TablePreprocessing`). Kept as each row's index into each block (-1: all
/// zeros) and written out as rows are gathered: a column of 1,000 categories would otherwise
/// take 1,000 values per row.
public struct OneHotBlocks: Equatable, Sendable {
    public let widths: [Int]
    /// Where each block starts, counted from the first 0/1 column.
    let offsets: [Int]
    /// Every block's width together.
    public let width: Int
    /// rowCount × widths.count, row-major: the column that is 1 in each block, or -1.
    public var indices: [Int32]

    public init(widths: [Int], indices: [Int32]) {
        precondition(widths.isEmpty ? indices.isEmpty : indices.count % widths.count == 0)
        self.widths = widths
        var offsets: [Int] = [], start = 0
        for width in widths { offsets.append(start); start += width }
        self.offsets = offsets
        width = start
        self.indices = indices
    }

    /// The rows `selection`, in that order.
    func rows(_ selection: [Int]) -> OneHotBlocks {
        let blocks = widths.count
        var selected: [Int32] = []
        selected.reserveCapacity(selection.count * blocks)
        for row in selection { selected.append(contentsOf: indices[row * blocks ..< (row + 1) * blocks]) }
        return OneHotBlocks(widths: widths, indices: selected)
    }

    /// Writes rows `row(0)`, …, `row(count − 1)`'s 0/1 columns at `destination + i · stride`.
    @inline(__always)
    func write<T: Scalar>(_ count: Int, into destination: UnsafeMutablePointer<T>, stride: Int, row: (Int) -> Int) {
        let blocks = widths.count
        indices.withUnsafeBufferPointer { indices in
            offsets.withUnsafeBufferPointer { offsets in
                for i in 0 ..< count {
                    let target = destination + i * stride
                    target.update(repeating: 0, count: width)
                    let first = row(i) * blocks
                    for block in 0 ..< blocks where indices[first + block] >= 0 {
                        target[offsets[block] + Int(indices[first + block])] = 1
                    }
                }
            }
        }
    }
}
