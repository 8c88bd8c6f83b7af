/// The loss L(x, y, θ) on the last layer's output z = z⁽ᴸ⁾, and its gradient dZ⁽ᴸ⁾.
public enum Loss: String, CaseIterable, Sendable {
    /// L = Σ_k (y_k − z_k)² (summed over target columns); dz = −2(y − z).
    case squaredError = "squared-error"
    /// L = −z_y + ln Σ_j e^{z_j}; dz_j = softmax(z)_j − 𝟙{y = j}.
    case crossEntropy = "cross-entropy"

    /// The targets of a shard's rows.
    public enum Targets<T: Scalar> {
        /// A class index per row (cross-entropy).
        case classes(UnsafePointer<Int32>)
        /// rows × outputs values (squared error).
        case values(UnsafePointer<T>)
    }

    /// Writes dZ⁽ᴸ⁾ for each of `rows` samples and returns the sum of their losses and, for
    /// classification, how many were classified correctly (argmax z = y).
    ///
    /// - Parameters:
    ///   - Z: the logits / outputs, rows × outputs.
    ///   - dZ: receives ∂L_i/∂z_i per row (not divided by n_b: the trainer divides the
    ///     allreduced sum by the global sample count).
    ///   - weights: per row wᵢ, or nil (every wᵢ = 1): row i's loss and dZ are multiplied by wᵢ,
    ///     and the returned weight sum is Σ wᵢ (the number of rows without weights).
    @inline(__always)
    func lossAndGradient<T: Scalar>(Z: UnsafePointer<T>, targets: Targets<T>, dZ: UnsafeMutablePointer<T>,
                                    rows: Int, outputs: Int, weights: UnsafePointer<T>? = nil) -> ShardLoss {
        var loss = lossSumAndUnweightedGradient(Z: Z, targets: targets, dZ: dZ, rows: rows, outputs: outputs, weights: weights)
        guard let weights else { return loss }
        loss.weightSum = 0
        for row in 0 ..< rows {
            loss.weightSum += Double(weights[row])
            let dz = dZ + row * outputs
            for j in 0 ..< outputs { dz[j] *= weights[row] }
        }
        return loss
    }

    /// Σ_i L_i (Σ_i wᵢ L_i with weights), dZ per row without the weights, and the correct count.
    @inline(__always)
    private func lossSumAndUnweightedGradient<T: Scalar>(Z: UnsafePointer<T>, targets: Targets<T>, dZ: UnsafeMutablePointer<T>,
                                                      rows: Int, outputs: Int, weights: UnsafePointer<T>?) -> ShardLoss {
        var lossSum = 0.0
        var correct = 0
        switch (self, targets) {
        case (.squaredError, .values(let y)):
            for i in 0 ..< rows * outputs {
                let residual = y[i] - Z[i]
                lossSum += Double(weights.map { $0[i / outputs] * residual * residual } ?? residual * residual)
                dZ[i] = -2 * residual
            }
        case (.crossEntropy, .classes(let labels)):
            for row in 0 ..< rows {
                let z = Z + row * outputs, dz = dZ + row * outputs
                // log-sum-exp with the max subtracted: finite for logits of any size.
                let maxIndex = argmax(z, count: outputs)
                let zMax = z[maxIndex]
                var sumExp: T = 0
                for j in 0 ..< outputs {
                    let e = T.exp(z[j] - zMax)
                    dz[j] = e
                    sumExp += e
                }
                let y = Int(labels[row])
                let rowLoss = zMax + T.log(sumExp) - z[y]
                lossSum += Double(weights.map { $0[row] * rowLoss } ?? rowLoss)
                let inverse = 1 / sumExp
                for j in 0 ..< outputs { dz[j] *= inverse }
                dz[y] -= 1
                if maxIndex == y { correct += 1 }
            }
        default:
            preconditionFailure("\(self) loss with the other kind of targets")
        }
        return ShardLoss(sum: lossSum, correct: correct, weightSum: Double(rows))
    }
}

/// The index of the largest of `count` values (the first, on ties): the predicted class.
@inline(__always)
func argmax<T: Comparable>(_ values: UnsafePointer<T>, count: Int) -> Int {
    var best = 0
    for j in 1 ..< count where values[j] > values[best] { best = j }
    return best
}
