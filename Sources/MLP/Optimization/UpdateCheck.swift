/// What every rank must know before any rank changes θ or the optimizer's state: whether
/// g = (gradient sums) / Σwᵢ is finite (a skipped step changes nothing), and with clipping ‖g‖₂.
/// One read-only pass over the rank's slice of the sums measures both; with the sharded update
/// one MAX allreduce of `values` combines the ranks' slices.
///
/// The norm is a sum of per-block sums of squares (blocks of `ParameterShards.blockLength`
/// values of θ, each summed in a fixed order, then the blocks in θ order): the same bits whether
/// one rank holds all of g or each rank its slice, so `--reproducible` with clipping does not
/// depend on P.
final class UpdateCheck {
    /// [1 if a value of g in this rank's slice is not finite, else 0 | one sum of squares per
    /// block of θ, with clipping]. A rank fills the blocks of its slice and zeros the others,
    /// so the maximum over ranks is each block's sum.
    let values: UnsafeMutableBufferPointer<Double>

    init(count: Int, clipping: Bool) {
        values = .allocate(capacity: 1 + (clipping ? Self.blockCount(count) : 0))
        values.initialize(repeating: 0)
    }

    deinit { values.deallocate() }

    static func blockCount(_ count: Int) -> Int { (count + ParameterShards.blockLength - 1) / ParameterShards.blockLength }

    var isFinite: Bool { values[0] == 0 }

    /// ‖g‖₂ from the blocks' sums, in θ order (after `measure`, and the MAX when sharded).
    var norm: Double {
        var total = 0.0
        for b in 1 ..< values.count { total += values[b] }
        return total.squareRoot()
    }

    /// Records a measure taken elsewhere, in the same pass as the sums were added
    /// (`NodeSharedMemory.addSlotsAndCheck`): without clipping, finiteness is all there is.
    func record(finite: Bool) {
        precondition(values.count == 1)
        values[0] = finite ? 0 : 1
    }

    /// Measures g = `sums[i]` · `scale` (rounded to T, as the update computes it) for θ[slice],
    /// `sums[0]` being θ[slice.lowerBound]'s; `slice` starts on a block boundary. Reads only,
    /// unless `dividing`: then g is left in `sums` (plain SGD's axpy needs g in memory: dividing
    /// in the same pass saves one over the sums).
    func measure<T: Scalar>(_ sums: UnsafeMutablePointer<T>, slice: Range<Int>, scale: T, dividing: Bool = false) {
        values.update(repeating: 0)
        let length = ParameterShards.blockLength
        precondition(slice.isEmpty || slice.lowerBound % length == 0)
        guard values.count > 1 else {
            values[0] = T.scaledValuesAreFinite(sums, count: slice.count, by: scale, inPlace: dividing) ? 0 : 1
            return
        }
        var finite = true, start = slice.lowerBound
        while start < slice.upperBound {
            let end = min(start + length, slice.upperBound), block = sums + (start - slice.lowerBound)
            finite = T.scaledValuesAreFinite(block, count: end - start, by: scale, inPlace: dividing) && finite
            values[1 + start / length] = Self.sumOfSquares(block, count: end - start, scale: dividing ? 1 : scale)
            start = end
        }
        values[0] = finite ? 0 : 1
    }

    /// Σ (x·s)² in Double with four running sums in a fixed order (the additions overlap
    /// instead of waiting on one another).
    static func sumOfSquares<T: Scalar>(_ x: UnsafePointer<T>, count: Int, scale s: T) -> Double {
        var sums: (Double, Double, Double, Double) = (0, 0, 0, 0)
        var i = 0
        while i + 4 <= count {
            let x0 = Double(x[i] * s), x1 = Double(x[i + 1] * s), x2 = Double(x[i + 2] * s), x3 = Double(x[i + 3] * s)
            sums.0 += x0 * x0; sums.1 += x1 * x1; sums.2 += x2 * x2; sums.3 += x3 * x3
            i += 4
        }
        while i < count {
            let value = Double(x[i] * s)
            sums.0 += value * value
            i += 1
        }
        return (sums.0 + sums.1) + (sums.2 + sums.3)
    }

    /// PyTorch's `clip_grad_norm_` factor min(1, maxNorm / (‖g‖₂ + 10⁻⁶)), what g is multiplied by.
    static func clipFactor(norm: Double, maxNorm: Double) -> Double {
        min(1, maxNorm / (norm + 1e-6))
    }
}
