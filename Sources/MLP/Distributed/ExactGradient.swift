/// The counts that travel after `ExactGradient`'s sums: exact as they are.
enum ExactCount { static let samples = 0, correct = 1, interrupted = 2, signals = 3, all = 4 }

/// A mini-batch cut into chunks of a fixed number of rows, counted from the batch's first row:
/// the cut depends on the batch alone, never on the number of ranks. Rank r takes a
/// contiguous run of whole chunks (`shardRange` over chunks), so ranks differ by at most one chunk.
public struct ChunkGrid: Sendable {
    public let rows: Int, chunkRows: Int

    public init(rows: Int, chunkRows: Int) {
        precondition(chunkRows > 0)
        self.rows = rows
        self.chunkRows = chunkRows
    }

    public var count: Int { (rows + chunkRows - 1) / chunkRows }

    /// The rows of chunk `chunk`, counted from the batch's first row.
    public func rows(of chunk: Int) -> Range<Int> { chunk * chunkRows ..< min((chunk + 1) * chunkRows, rows) }

    /// The rows of chunks `chunks`.
    public func rows(of chunks: Range<Int>) -> Range<Int> {
        chunks.isEmpty ? 0 ..< 0 : chunks.lowerBound * chunkRows ..< min(chunks.upperBound * chunkRows, rows)
    }

    /// The chunks rank `rank` of `size` computes.
    public func chunks(rank: Int, size: Int) -> Range<Int> { shardRange(count: count, rank: rank, size: size) }
}

/// The `--reproducible` reduction of a step: each chunk's gradient, rounded onto a per-element
/// fixed-point grid (`FixedPointSum`) that every rank agrees on before anything is summed, and
/// the grid values added as 64-bit integers, so the gradient's bits depend on the mini-batch
/// alone. Allocated once; a step allocates nothing.
///
/// The grid of W⁽ˡ⁾[j, k] comes from the bound |dW_c[j, k]| ≤ A_j·B_k over every chunk c, with
/// A_j = max_c Σ_{i∈c} |dZ⁽ˡ⁾[i, j]| and B_k = max_i |Q⁽ˡ⁻¹⁾[i, k]|; b⁽ˡ⁾[j]'s from A_j. Only the
/// exponents of A and B cross the network (one MAX allreduce of Σ (U_l + U_{l−1}) values), so
/// each element gets its own grid for the price of a vector per layer.
final class ExactGradient<T: Scalar> {
    let layout: ParameterLayout
    let chunkRows: Int
    /// Int64 words per value: one for float32, two for float64 (`FixedPointSum`).
    let words: Int
    /// dZ⁽ˡ⁾ of every row this rank holds, l = 1…L at index l − 1 (capacity × U_l).
    let errors: [UnsafeMutablePointer<T>]
    /// The exponents every rank agrees on: per layer [A: U_l | B: U_{l−1}], then the loss's and
    /// the weight sum's.
    let exponents: UnsafeMutableBufferPointer<Double>
    /// Where layer l's exponents start in `exponents`, at index l − 1.
    let exponentOffsets: [Int]
    /// Per layer, 2^(W − 2 − g − e_A[j]) per row j and 2^(−e_B[k]) per column k: their product is
    /// element (j, k)'s grid scale; and 2^(e_B[k]), the inverse of the column's part.
    let rowScales: [UnsafeMutablePointer<Double>], columnScales: [UnsafeMutablePointer<Double>]
    let columnUnits: [UnsafeMutablePointer<Double>]
    /// words × |θ| grid sums, then the loss and the weight sum (two words each), then the counts
    /// of `ExactCount`: its own, or the node-shared exchange's slot of this rank.
    let sums: UnsafeMutableBufferPointer<Int64>
    private let ownsSums: Bool
    /// After the reduction: the loss and weight sums and the counts over all ranks (`tailCount`
    /// values), where the reduction left them: after the grid sums, or the node-shared copy.
    var reduced: UnsafeMutablePointer<Int64>
    /// The values after the grid sums: the loss and the weight sum (two words each), the counts.
    static var tailCount: Int { 4 + ExactCount.all }
    /// The loss sum and the weight sum (Σ wᵢ, its rows without weights) of each chunk this rank computes.
    let chunkLosses: UnsafeMutablePointer<Double>, chunkWeights: UnsafeMutablePointer<Double>
    /// Per-column scratch for the bounds (the widest layer).
    let columnValues: UnsafeMutablePointer<Double>
    /// The current step's bounds were finite on every rank (`prepareGrids`): its sums are on the grid.
    var finite = true


    /// With `sums` (the node-shared slot, `words` × |θ| + `tailCount` values), the chunks add there.
    init(layout: ParameterLayout, chunkRows: Int, capacity: Int, sums shared: UnsafeMutableBufferPointer<Int64>? = nil) {
        self.layout = layout
        self.chunkRows = chunkRows
        words = T.self == Float.self ? 1 : 2
        let sizes = layout.layerSizes
        errors = sizes.dropFirst().map { .allocate(capacity: capacity * $0) }
        var offsets: [Int] = [], offset = 0
        for l in 1 ... layout.layerCount {
            offsets.append(offset)
            offset += sizes[l] + sizes[l - 1]
        }
        exponentOffsets = offsets
        exponents = .allocate(capacity: offset + 2)
        rowScales = (1 ... layout.layerCount).map { .allocate(capacity: sizes[$0]) }
        columnScales = (1 ... layout.layerCount).map { .allocate(capacity: sizes[$0 - 1]) }
        columnUnits = (1 ... layout.layerCount).map { .allocate(capacity: sizes[$0 - 1]) }
        if let shared {
            precondition(shared.count == words * layout.count + Self.tailCount)
            sums = shared
        } else {
            sums = .allocate(capacity: words * layout.count + Self.tailCount)
        }
        ownsSums = shared == nil
        sums.initialize(repeating: 0)
        reduced = sums.baseAddress! + words * layout.count
        chunkLosses = .allocate(capacity: (capacity + chunkRows - 1) / chunkRows)
        chunkWeights = .allocate(capacity: (capacity + chunkRows - 1) / chunkRows)
        columnValues = .allocate(capacity: sizes.max()!)
    }

    deinit {
        errors.forEach { $0.deallocate() }
        exponents.deallocate()
        rowScales.forEach { $0.deallocate() }
        columnScales.forEach { $0.deallocate() }
        columnUnits.forEach { $0.deallocate() }
        if ownsSums { sums.deallocate() }
        chunkLosses.deallocate()
        chunkWeights.deallocate()
        columnValues.deallocate()
    }

    var lossExponent: Int { exponents.count - 2 }
    var weightExponent: Int { exponents.count - 1 }
    var counts: UnsafeMutablePointer<Int64> { sums.baseAddress! + words * layout.count + 4 }
    /// The grid sums of θ, words × |θ| values.
    var gridSums: UnsafeMutableBufferPointer<Int64> { UnsafeMutableBufferPointer(rebasing: sums[0 ..< words * layout.count]) }
    /// The loss and weight sums and the counts after the grid sums: with the sharded update,
    /// allreduced on their own.
    var totalSums: UnsafeMutableBufferPointer<Int64> { UnsafeMutableBufferPointer(rebasing: sums[(words * layout.count)...]) }

    /// This rank's exponents of A and B for every layer and of its largest chunk loss, over its
    /// chunks `local` of `grid` (the workspace holds their rows from the batch's row `firstRow`);
    /// the smallest exponent where it has no rows.
    func measureBounds(_ workspace: Workspace<T>, grid: ChunkGrid, local: Range<Int>, firstRow: Int) {
        let sizes = layout.layerSizes
        exponents.update(repeating: Double(FixedPointSum.smallestExponent))
        let column = columnValues
        for l in 1 ... layout.layerCount {
            let units = sizes[l], inputs = sizes[l - 1], e = exponents.baseAddress! + exponentOffsets[l - 1]
            let dZ = errors[l - 1], Q = workspace.input(of: l)
            for chunk in local {
                for j in 0 ..< units { column[j] = 0 }
                for i in grid.rows(of: chunk) {
                    let row = dZ + (i - firstRow) * units
                    for j in 0 ..< units { column[j] += Double(abs(row[j])) }
                }
                for j in 0 ..< units { e[j] = max(e[j], FixedPointSum.exponent(bounding: column[j])) }
            }
            // max |Q| per column; a NaN or ∞ anywhere turns `poison` into NaN.
            var poison = 0.0
            for k in 0 ..< inputs { column[k] = 0 }
            for i in grid.rows(of: local) {
                let row = Q + (i - firstRow) * inputs
                for k in 0 ..< inputs {
                    let value = Double(row[k])
                    column[k] = Swift.max(column[k], abs(value))
                    poison += value * 0
                }
            }
            for k in 0 ..< inputs {
                e[units + k] = poison.isNaN ? FixedPointSum.notFinite : FixedPointSum.exponent(bounding: column[k])
            }
        }
        for c in 0 ..< local.count {
            exponents[lossExponent] = max(exponents[lossExponent], FixedPointSum.exponent(bounding: chunkLosses[c]))
            exponents[weightExponent] = max(exponents[weightExponent], FixedPointSum.exponent(bounding: chunkWeights[c]))
        }
    }

    /// After the MAX allreduce of `exponents`: false if some bound is not finite (a NaN or an
    /// overflow on some rank); else the grids for a batch of `chunkCount` chunks.
    func prepareGrids(chunkCount: Int) -> Bool {
        if exponents.contains(FixedPointSum.notFinite) { return false }
        let g = FixedPointSum.growthBits(terms: chunkCount), width = FixedPointSum.width(words: words)
        for l in 1 ... layout.layerCount {
            let units = layout.layerSizes[l], inputs = layout.layerSizes[l - 1]
            let e = exponents.baseAddress! + exponentOffsets[l - 1]
            // Element (j, k) is bounded by 2^(e_A + e_B + 1): one bit for the rounding of the
            // chunk's gemm and of A's sum. Its scale is 2^(W − 1 − g − that exponent).
            for j in 0 ..< units { rowScales[l - 1][j] = FixedPointSum.power(width - 2 - g - Int(e[j])) }
            for k in 0 ..< inputs {
                columnScales[l - 1][k] = FixedPointSum.power(-Int(e[units + k]))
                columnUnits[l - 1][k] = FixedPointSum.power(Int(e[units + k]))
            }
        }
        return true
    }

    /// Rounds a chunk's dW⁽ˡ⁾, db⁽ˡ⁾ (in `chunk`'s layer l) onto the grid and adds them to the
    /// sums; `first` stores instead, so the sums need no clearing.
    func add(layer l: Int, of chunk: FlatBuffer<T>, first: Bool) {
        let units = layout.layerSizes[l], inputs = layout.layerSizes[l - 1], words = words
        let rowScale = rowScales[l - 1], columnScale = columnScales[l - 1]
        let weights = sums.baseAddress! + words * layout.weightOffsets[l - 1]
        let biases = sums.baseAddress! + words * layout.biasOffsets[l - 1]
        let chunkWeights = chunk.weights(l), db = chunk.biases(l)
        guard words == 1 else {
            if first { (weights).update(repeating: 0, count: 2 * (units * inputs + units)) }
            for j in 0 ..< units {
                let scale = rowScale[j], dW = chunkWeights + j * inputs, sum = weights + 2 * j * inputs
                for k in 0 ..< inputs { FixedPointSum.add(Double(dW[k]) * scale * columnScale[k], words: 2, to: sum + 2 * k) }
                FixedPointSum.add(Double(db[j]) * scale, words: 2, to: biases + 2 * j)
            }
            return
        }
        // One word: no branch and no conversion instruction per value, so the loop vectorizes.
        let kept: Int64 = first ? 0 : -1
        for j in 0 ..< units {
            let scale = rowScale[j], dW = chunkWeights + j * inputs, sum = weights + j * inputs
            for k in 0 ..< inputs {
                sum[k] = (sum[k] & kept) &+ FixedPointSum.gridValue(Double(dW[k]) * scale * columnScale[k])
            }
            biases[j] = (biases[j] & kept) &+ FixedPointSum.gridValue(Double(db[j]) * scale)
        }
    }

    /// The chunks' loss and weight sums onto their grids (two words each, after the gradient).
    func addLosses(count: Int, chunkCount: Int) {
        let loss = sums.baseAddress! + words * layout.count, weight = loss + 2
        loss.update(repeating: 0, count: 4)
        let lossScale = scale(exponents[lossExponent], chunkCount), weightScale = scale(exponents[weightExponent], chunkCount)
        for c in 0 ..< count {
            FixedPointSum.add(chunkLosses[c] * lossScale, words: 2, to: loss)
            FixedPointSum.add(chunkWeights[c] * weightScale, words: 2, to: weight)
        }
    }

    /// The two-word grid's scale for terms bounded by 2^exponent.
    private func scale(_ exponent: Double, _ chunkCount: Int) -> Double {
        FixedPointSum.power(FixedPointSum.width(words: 2) - 1 - FixedPointSum.growthBits(terms: chunkCount) - Int(exponent))
    }

    /// The gradient sums of θ[slice] in T, rounded once each, into `gradient[0 ..< slice.count]`,
    /// from the grid sums of θ[slice] at `sliceSums` (the start of `sums` after the reduce-scatter
    /// or, all of θ, after the allreduce; their own place in the node-shared slot).
    func write(_ slice: Range<Int>, from sliceSums: UnsafeMutablePointer<Int64>, into gradient: UnsafeMutablePointer<T>) {
        let words = words, first = slice.lowerBound, source = sliceSums - words * first, target = gradient - first
        for l in 1 ... layout.layerCount {
            let units = layout.layerSizes[l], inputs = layout.layerSizes[l - 1]
            let rowScale = rowScales[l - 1], columnUnit = columnUnits[l - 1]
            let weightOffset = layout.weightOffsets[l - 1], biasOffset = layout.biasOffsets[l - 1]
            guard weightOffset < slice.upperBound, biasOffset + units > first else { continue }
            for j in 0 ..< units {
                // Powers of 2 only: the product is exact, and the conversion to T rounds once.
                let rowUnit = 1 / rowScale[j], row = weightOffset + j * inputs
                let low = max(first - row, 0), high = min(slice.upperBound - row, inputs)
                let columns = low ..< max(low, high)
                if words == 1 {
                    let sum = source + row, value = target + row
                    for k in columns { value[k] = T(FixedPointSum.exactDouble(sum[k]) * rowUnit * columnUnit[k]) }
                } else {
                    let sum = source + 2 * row, value = target + row
                    for k in columns { value[k] = T(FixedPointSum.value(words: 2, sum + 2 * k, unit: rowUnit * columnUnit[k])) }
                }
                if slice.contains(biasOffset + j) {
                    target[biasOffset + j] = T(FixedPointSum.value(words: words, source + words * (biasOffset + j), unit: rowUnit))
                }
            }
        }
    }

    /// The loss sum and the weight sum over every chunk (after the reduction).
    func totals(chunkCount: Int) -> (loss: Double, weight: Double) {
        let loss = reduced
        return (FixedPointSum.value(words: 2, loss, unit: 1 / scale(exponents[lossExponent], chunkCount)),
                FixedPointSum.value(words: 2, loss + 2, unit: 1 / scale(exponents[weightExponent], chunkCount)))
    }
}
