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

    /// The statistics of `data`'s features, accumulated in Double.
    public init<T: Scalar>(of data: Dataset<T>) {
        if let mapped = data.mappedFeatures { self = mapped.statistics(); return }
        let columns = data.featureCount
        var sum = [Double](repeating: 0, count: columns), sumOfSquares = sum
        data.features.withUnsafeBufferPointer { x in
            for row in 0 ..< data.rowCount {
                for j in 0 ..< columns { sum[j] += Double(x[row * columns + j]) }
            }
        }
        let n = Double(max(data.rowCount, 1))
        let mean = sum.map { $0 / n }
        data.features.withUnsafeBufferPointer { x in
            for row in 0 ..< data.rowCount {
                for j in 0 ..< columns {
                    let centred = Double(x[row * columns + j]) - mean[j]
                    sumOfSquares[j] += centred * centred
                }
            }
        }
        self.mean = mean
        standardDeviation = sumOfSquares.map { let s = ($0 / n).squareRoot(); return s > 0 ? s : 1 }
    }

    /// Standardizes `data`'s features in place.
    public func apply<T: Scalar>(to data: inout Dataset<T>) {
        precondition(data.featureCount == mean.count)
        if let mapped = data.mappedFeatures { data.mappedFeatures = mapped.standardized(by: self); return }
        let columns = data.featureCount
        let shift = mean.map { T($0) }, scale = standardDeviation.map { 1 / T($0) }
        data.features.withUnsafeMutableBufferPointer { x in
            for row in 0 ..< data.rowCount {
                for j in 0 ..< columns { x[row * columns + j] = (x[row * columns + j] - shift[j]) * scale[j] }
            }
        }
    }
}
