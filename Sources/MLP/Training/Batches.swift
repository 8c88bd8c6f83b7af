/// The order in which an epoch visits the training rows, and how a global mini-batch is split
/// into the ranks' shards.
///
/// The permutation depends on (seed, epoch) alone, never on the number of ranks, so P ranks
/// see exactly the mini-batches one process would.
public struct EpochOrder {
    /// Row indices in visiting order; allocated once, refilled each epoch.
    public private(set) var rows: [Int]
    public let shuffle: Bool
    public let seed: UInt64

    public init(rowCount: Int, seed: UInt64, shuffle: Bool) {
        rows = Array(0 ..< rowCount)
        self.shuffle = shuffle
        self.seed = seed
    }

    /// Fills `rows` with epoch `epoch`'s permutation (Fisher–Yates from a generator seeded by
    /// seed and epoch), or file order without shuffling.
    public mutating func prepare(epoch: Int) {
        for i in rows.indices { rows[i] = i }
        guard shuffle else { return }
        var generator = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(epoch) &+ 1)
        for i in stride(from: rows.count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            rows.swapAt(i, j)
        }
    }

    /// Number of mini-batches in an epoch: the last one is partial when n_b does not divide n.
    public static func batchCount(rowCount: Int, batchSize: Int) -> Int {
        (rowCount + batchSize - 1) / batchSize
    }

    /// The positions (into `rows`) of mini-batch `batch`.
    public static func batchRange(_ batch: Int, rowCount: Int, batchSize: Int) -> Range<Int> {
        batch * batchSize ..< min((batch + 1) * batchSize, rowCount)
    }
}

/// Rank `rank`'s contiguous part of `count` items split over `size` ranks: sizes differ by at
/// most one, the first `count % size` ranks take one more, and a rank may get none.
public func shardRange(count: Int, rank: Int, size: Int) -> Range<Int> {
    let base = count / size, extra = count % size
    let start = rank * base + min(rank, extra)
    return start ..< start + base + (rank < extra ? 1 : 0)
}
