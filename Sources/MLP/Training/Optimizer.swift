/// Stochastic gradient descent: θ ← θ − γ·g, with g the exact mini-batch gradient.
///
/// It acts on the already-allreduced gradient, so every rank applies the same update and the
/// parameters stay identical without further communication. Optimizers with state (momentum,
/// Adam moments) keep it in flat buffers in θ order, like the parameters.
public struct SGD {
    public var learningRate: Double

    public init(learningRate: Double) {
        precondition(learningRate > 0 && learningRate.isFinite, "learning rate must be positive and finite")
        self.learningRate = learningRate
    }

    /// θ ← θ − γ·g over the whole flat buffer.
    public func update<T: Scalar>(parameters: FlatBuffer<T>, gradients: FlatBuffer<T>) {
        let theta = parameters.values.baseAddress!, g = gradients.values.baseAddress!
        let gamma = T(learningRate)
        for i in 0 ..< parameters.layout.count { theta[i] -= gamma * g[i] }
    }
}
