/// θ cut into P contiguous slices, one per rank, for the sharded update (ZeRO stage 1): rank r
/// receives the exact gradient sums of its slice (`reduceScatterSum`), updates that slice only,
/// keeps only that slice's optimizer state, and the slices are gathered back (`allgather`).
///
/// Slices start at multiples of `blockLength`: clipping's norm is a sum over those blocks in θ
/// order (`UpdateCheck`), so a block never straddles two ranks and the norm does not depend on P.
/// Slices differ by at most one block; a θ of fewer than P blocks leaves the last ranks none.
public struct ParameterShards: Sendable, Equatable {
    public static let blockLength = 1024
    /// Each rank's slice length and start, as MPI's count arguments want them.
    public let counts: [Int32], displacements: [Int32]
    /// The counts of a buffer with two values per element of θ (`--reproducible`'s float64 sums).
    public let doubledCounts: [Int32]

    public init(count: Int, size: Int) {
        precondition(count > 0 && size > 0 && count <= Int(Int32.max) / 2, "θ too large for one MPI call")
        // Whole blocks per rank, as even as `shardRange` makes them (one block more or less).
        let blocks = UpdateCheck.blockCount(count)
        let slices = (0 ..< size).map { rank in
            let range = shardRange(count: blocks, rank: rank, size: size)
            return min(range.lowerBound * Self.blockLength, count) ..< min(range.upperBound * Self.blockLength, count)
        }
        displacements = slices.map { Int32($0.lowerBound) }
        counts = slices.map { Int32($0.count) }
        doubledCounts = slices.map { Int32(2 * $0.count) }
    }

    /// The part of θ rank `rank` updates.
    public func range(rank: Int) -> Range<Int> {
        let start = Int(displacements[rank])
        return start ..< start + Int(counts[rank])
    }
}
