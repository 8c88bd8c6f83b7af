/// The loss L(x, y, θ) on the last layer's output z = z⁽ᴸ⁾, and its gradient dZ⁽ᴸ⁾.
public enum Loss: String, CaseIterable, Sendable {
    /// L = Σ_k (y_k − z_k)² (summed over target columns); dz = −2(y − z).
    case squaredError = "squared-error"
    /// L = −z_y + ln Σ_j e^{z_j}; dz_j = softmax(z)_j − 𝟙{y = j}.
    case crossEntropy = "cross-entropy"

    /// The targets of a shard: class indices (cross-entropy) or values rows × outputs (squared error).
    public struct Targets<T: Scalar> {
        var labels: UnsafePointer<Int32>?
        var values: UnsafePointer<T>?
    }

    /// Writes dZ⁽ᴸ⁾ for each of `rows` samples and returns the sum of their losses and, for
    /// classification, how many were classified correctly (argmax z = y).
    ///
    /// - Parameters:
    ///   - Z: the logits / outputs, rows × outputs.
    ///   - dZ: receives ∂L_i/∂z_i per row (not divided by n_b: the trainer divides the
    ///     allreduced sum by the global sample count).
    @inline(__always)
    func lossAndGradient<T: Scalar>(Z: UnsafePointer<T>, targets: Targets<T>, dZ: UnsafeMutablePointer<T>,
                                    rows: Int, outputs: Int) -> (lossSum: Double, correct: Int) {
        var lossSum = 0.0
        var correct = 0
        switch self {
        case .squaredError:
            let y = targets.values!
            for i in 0 ..< rows * outputs {
                let residual = y[i] - Z[i]
                lossSum += Double(residual * residual)
                dZ[i] = -2 * residual
            }
        case .crossEntropy:
            let labels = targets.labels!
            for row in 0 ..< rows {
                let z = Z + row * outputs, dz = dZ + row * outputs
                // log-sum-exp with the max subtracted: finite for logits of any size.
                var maxIndex = 0
                for j in 1 ..< outputs where z[j] > z[maxIndex] { maxIndex = j }
                let zMax = z[maxIndex]
                var sumExp: T = 0
                for j in 0 ..< outputs {
                    let e = T.exp(z[j] - zMax)
                    dz[j] = e
                    sumExp += e
                }
                let y = Int(labels[row])
                lossSum += Double(zMax + T.log(sumExp) - z[y])
                let inverse = 1 / sumExp
                for j in 0 ..< outputs { dz[j] *= inverse }
                dz[y] -= 1
                if maxIndex == y { correct += 1 }
            }
        }
        return (lossSum, correct)
    }
}
