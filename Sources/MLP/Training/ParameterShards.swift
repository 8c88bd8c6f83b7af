/// θ cut into P contiguous slices, one per rank, for the sharded update (ZeRO stage 1): rank r
/// receives the exact gradient sums of its slice (`reduceScatterSum`), updates that slice only,
/// keeps only that slice's optimizer state, and the slices are gathered back (`allgather`).
///
/// Slices start at multiples of `blockLength`: clipping's norm is a sum over those blocks in θ
/// order (`GradientNorm`), so a block never straddles two ranks and the norm does not depend on P.
/// Slices differ by at most one block; a θ of fewer than P blocks leaves the last ranks none.
public struct ParameterShards: Sendable, Equatable {
    public static let blockLength = 1024
    /// |θ| and P.
    public let count: Int, size: Int
    /// Each rank's slice length and start, as MPI's count arguments want them.
    public let counts: [Int32], displacements: [Int32]
    /// The counts of a buffer with two values per element of θ (`--reproducible`'s float64 sums).
    public let doubledCounts: [Int32]

    public init(count: Int, size: Int) {
        precondition(count > 0 && size > 0 && count <= Int(Int32.max) / 2, "θ too large for one MPI call")
        self.count = count
        self.size = size
        // Whole blocks per rank, as even as `shardRange` makes them (one block more or less).
        let blocks = GradientNorm.blockCount(count)
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

/// Clipping's ‖g‖₂ as a sum of per-block sums of squares (blocks of `ParameterShards.blockLength`
/// values of θ, each summed in a fixed order, then the blocks in θ order): the same bits whether
/// one rank holds all of g or each rank its slice.
struct GradientNorm {
    /// One sum of squares per block of θ (`blockCount(_:)` of them, owned by the caller); a
    /// rank fills those of its slice, zeros elsewhere, so a maximum over ranks is each block's sum.
    let blockSquares: UnsafeMutableBufferPointer<Double>

    static func blockCount(_ count: Int) -> Int { (count + ParameterShards.blockLength - 1) / ParameterShards.blockLength }

    /// The block sums of squares of g's values for θ[slice], `g[0]` being θ[slice.lowerBound]'s;
    /// `slice` starts on a block boundary.
    func measure<T: Scalar>(_ g: UnsafePointer<T>, slice: Range<Int>) {
        let length = ParameterShards.blockLength
        precondition(slice.isEmpty || slice.lowerBound % length == 0)
        blockSquares.update(repeating: 0)
        var start = slice.lowerBound
        while start < slice.upperBound {
            let end = min(start + length, slice.upperBound)
            blockSquares[start / length] = Self.sumOfSquares(g + (start - slice.lowerBound), count: end - start)
            start = end
        }
    }

    /// ‖g‖₂ from the blocks' sums, in θ order.
    var norm: Double {
        var total = 0.0
        for squares in blockSquares { total += squares }
        return total.squareRoot()
    }

    /// Σ x² in Double with four running sums in a fixed order (the additions overlap instead of
    /// waiting on one another).
    static func sumOfSquares<T: Scalar>(_ x: UnsafePointer<T>, count: Int) -> Double {
        var sums: (Double, Double, Double, Double) = (0, 0, 0, 0)
        var i = 0
        while i + 4 <= count {
            let x0 = Double(x[i]), x1 = Double(x[i + 1]), x2 = Double(x[i + 2]), x3 = Double(x[i + 3])
            sums.0 += x0 * x0; sums.1 += x1 * x1; sums.2 += x2 * x2; sums.3 += x3 * x3
            i += 4
        }
        while i < count {
            let value = Double(x[i])
            sums.0 += value * value
            i += 1
        }
        return (sums.0 + sums.1) + (sums.2 + sums.3)
    }

    /// PyTorch's `clip_grad_norm_` factor min(1, maxNorm / (‖g‖₂ + 10⁻⁶)), as the value g is multiplied by.
    static func clipFactor(norm: Double, maxNorm: Double) -> Double {
        min(1, maxNorm / (norm + 1e-6))
    }
}
