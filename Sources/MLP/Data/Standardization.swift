/// Per-feature standardization (`--standardize`): x ↦ (x − mean) / std, with the mean and
/// standard deviation of the training rows. Stored in the model file, applied by
/// `evaluate` and `predict` to their inputs.
public struct Standardization: Equatable, Sendable {
    public var mean: [Double]
    /// Population standard deviation; 1 for a constant feature (it is then only centred).
    public var standardDeviation: [Double]

    public init(mean: [Double], standardDeviation: [Double]) {
        precondition(mean.count == standardDeviation.count)
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    /// The statistics of `data`'s features, accumulated in Double. The 0/1 columns of a table
    /// (indicators, one-hot categories) are not standardized: mean 0, standard deviation 1.
    public init<T: Scalar>(of data: Dataset<T>) {
        if let mapped = data.mappedFeatures { self = mapped.statistics(); return }
        self = data.features.withUnsafeBufferPointer { x in
            Self(columns: data.denseFeatureCount, rowCount: data.rowCount) { body in body(x.baseAddress!, data.rowCount) }
        }
        if let oneHot = data.oneHot {
            mean += repeatElement(0, count: oneHot.width)
            standardDeviation += repeatElement(1, count: oneHot.width)
        }
    }

    /// The statistics of `rowCount` rows of `columns` features that `chunks` hands over, its
    /// `body(rows, count)` called for each chunk of rows in order (it may be called two or three
    /// times). Two passes: the sums, then the squares of the centred values. A column whose
    /// largest magnitude is above 2⁴⁸⁰ (its squares would overflow) or below 2⁻⁴⁸⁰ (they would
    /// underflow) is summed times the power of two that makes it about 1 and its statistics are
    /// divided by it after, exactly; every other column's bits are as without it.
    init<T: Scalar>(columns: Int, rowCount: Int, chunks: ((UnsafePointer<T>, Int) -> Void) -> Void) {
        var sum = [Double](repeating: 0, count: columns), largest = sum
        chunks { x, rows in
            for i in 0 ..< rows {
                for j in 0 ..< columns {
                    let value = Double(x[i * columns + j])
                    sum[j] += value
                    largest[j] = max(largest[j], abs(value))
                }
            }
        }
        let scales = largest.map {
            $0 > 0x1p480 || ($0 > 0 && $0 < 0x1p-480) ? Double(sign: .plus, exponent: -$0.exponent, significand: 1) : 1
        }
        if scales.contains(where: { $0 != 1 }) {
            sum = sum.indices.map { scales[$0] == 1 ? sum[$0] : 0 }
            chunks { x, rows in
                for i in 0 ..< rows {
                    for j in 0 ..< columns where scales[j] != 1 { sum[j] += Double(x[i * columns + j]) * scales[j] }
                }
            }
        }
        let n = Double(max(rowCount, 1))
        let scaledMean = sum.map { $0 / n }
        var sumOfSquares = [Double](repeating: 0, count: columns)
        chunks { x, rows in
            for i in 0 ..< rows {
                for j in 0 ..< columns {
                    let centred = Double(x[i * columns + j]) * scales[j] - scaledMean[j]
                    sumOfSquares[j] += centred * centred
                }
            }
        }
        mean = scaledMean.indices.map { scaledMean[$0] / scales[$0] }
        standardDeviation = sumOfSquares.indices.map { j in
            let s = (sumOfSquares[j] / n).squareRoot() / scales[j]
            return s > 0 && s.isFinite ? s : 1
        }
    }

    /// Standardizes `data`'s features in place.
    public func apply<T: Scalar>(to data: inout Dataset<T>) {
        precondition(data.featureCount == mean.count)
        if let mapped = data.mappedFeatures { data.mappedFeatures = mapped.standardized(by: self); return }
        // The 0/1 columns after the dense ones are stored as mean 0, std 1: nothing to apply.
        let columns = data.denseFeatureCount
        let shift = mean.map { T($0) }, scale = standardDeviation.map { 1 / T($0) }
        data.features.withUnsafeMutableBufferPointer { x in
            for row in 0 ..< data.rowCount {
                for j in 0 ..< columns { x[row * columns + j] = (x[row * columns + j] - shift[j]) * scale[j] }
            }
        }
    }
}
