/// A multilayer perceptron: parameters θ in one flat buffer, a hidden activation h and a loss.
///
/// z⁽ˡ⁾ = W⁽ˡ⁾ q⁽ˡ⁻¹⁾ + b⁽ˡ⁾, q⁽ˡ⁾ = h(z⁽ˡ⁾) for l < L; the last layer z⁽ᴸ⁾ is linear.
public final class Network<T: Scalar> {
    public let layout: ParameterLayout
    public let activation: Activation
    public let loss: Loss
    /// θ = [vec(W⁽¹⁾), b⁽¹⁾, …, vec(W⁽ᴸ⁾), b⁽ᴸ⁾].
    public let parameters: FlatBuffer<T>

    public init(layerSizes: [Int], activation: Activation, loss: Loss) {
        layout = ParameterLayout(layerSizes: layerSizes)
        self.activation = activation
        self.loss = loss
        parameters = FlatBuffer(layout: layout)
    }

    /// Seeded initialization, the same on every rank because it depends on the seed alone:
    /// He (relu) or Glorot (tanh, sigmoid) weights, zero biases.
    public func initialize(seed: UInt64) {
        var generator = SplitMix64(seed: seed ^ 0x6D6C_7000_0000_0000)
        parameters.zero()
        for l in 1 ... layout.layerCount {
            let fanIn = layout.layerSizes[l - 1], fanOut = layout.layerSizes[l]
            let W = parameters.weights(l)
            switch activation.initialization {
            case .he:
                let standardDeviation = (2.0 / Double(fanIn)).squareRoot()
                for i in 0 ..< fanIn * fanOut { W[i] = T(generator.nextNormal() * standardDeviation) }
            case .glorot:
                let limit = (6.0 / Double(fanIn + fanOut)).squareRoot()
                for i in 0 ..< fanIn * fanOut { W[i] = T((2 * generator.nextUniform() - 1) * limit) }
            }
        }
    }
}

extension Network {
    /// Forward propagation over the first `rows` rows of `workspace.input`:
    /// Z⁽ˡ⁾ = Q⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + 1 b⁽ˡ⁾ᵀ, Q⁽ˡ⁾ = h(Z⁽ˡ⁾) for l < L. Leaves Z⁽ᴸ⁾ in `workspace.outputs`.
    public func forward(_ workspace: Workspace<T>, rows: Int) {
        forward(workspace, rows: 0 ..< rows)
    }

    /// Forward propagation over rows `rows` of the workspace only, as BLAS calls of their own
    /// shape (`--reproducible` runs each chunk of a batch so).
    func forward(_ workspace: Workspace<T>, rows: Range<Int>) {
        precondition(rows.upperBound <= workspace.capacity && workspace.layout == layout)
        guard !rows.isEmpty else { return }
        for l in 1 ... layout.layerCount {
            let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
            let Z = workspace.Z(l) + rows.lowerBound * units
            linearForward(layer: l, Q: workspace.input(of: l) + rows.lowerBound * inputs, Z: Z, rows: rows.count)
            guard l < layout.layerCount else { break }
            activation.forward(Z, rows: rows.count, units: units)
            workspace.dropout?.apply(layer: l, Q: workspace.Q(l), rows: rows, units: units, rowIndices: workspace.rowIndices)
        }
    }

    /// The linear step of layer l: Z = Q Wᵀ + 1 bᵀ over `rows` rows.
    func linearForward(layer l: Int, Q: UnsafePointer<T>, Z: UnsafeMutablePointer<T>, rows: Int) {
        let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
        // Q is (rows, U_{l−1}), W is (U_l, U_{l−1}), Z is (rows, U_l).
        T.gemm(transposeA: false, transposeB: true, m: rows, n: units, k: inputs, alpha: 1,
               a: Q, lda: inputs, b: parameters.weights(l), ldb: inputs, beta: 0, c: Z, ldc: units)
        let b = parameters.biases(l)
        for row in 0 ..< rows {
            let z = Z + row * units
            for j in 0 ..< units { z[j] += b[j] }
        }
    }

    /// Forward propagation, then the loss: returns Σ_i L_i and the number classified correctly
    /// over the first `rows` gathered rows, and leaves dZ⁽ᴸ⁾ in the workspace for `backward`.
    /// Zero rows (a rank without a share of the batch) give zeros.
    public func forwardAndLoss(_ workspace: Workspace<T>, rows: Int) -> ShardLoss {
        guard rows > 0 else { return ShardLoss(sum: 0, correct: 0) }
        forward(workspace, rows: rows)
        return loss.lossAndGradient(Z: workspace.outputs, targets: targets(workspace),
                                    dZ: workspace.dZ, rows: rows, outputs: layout.outputCount,
                                    weights: workspace.hasWeights ? workspace.weights : nil)
    }

    /// Backward propagation after `forwardAndLoss`: writes the **sums** over the shard's rows of
    /// the per-sample dW⁽ˡ⁾ = dZ⁽ˡ⁾ᵀ Q⁽ˡ⁻¹⁾ and db⁽ˡ⁾ = Σ_i dZ⁽ˡ⁾_i into `gradients` (every value
    /// of θ's part is overwritten; zeros for zero rows), walking l = L…1 with
    /// dQ⁽ˡ⁻¹⁾ = dZ⁽ˡ⁾ W⁽ˡ⁾ and dZ⁽ˡ⁻¹⁾ = dQ⁽ˡ⁻¹⁾ ⊙ h′(Z⁽ˡ⁻¹⁾).
    /// `layerDone(l)` is called as soon as dW⁽ˡ⁾ and db⁽ˡ⁾ are final (last layer first), so their
    /// allreduce can start while the layers below are still being computed.
    public func backward(_ workspace: Workspace<T>, rows: Int, into gradients: FlatBuffer<T>,
                         layerDone: (Int) -> Void = { _ in }) {
        guard rows > 0 else {
            gradients.values.update(repeating: 0)
            for l in stride(from: layout.layerCount, through: 1, by: -1) { layerDone(l) }
            return
        }
        var dZ = workspace.dZ, dQ = workspace.dQ
        for l in stride(from: layout.layerCount, through: 1, by: -1) {
            let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
            // dZ is (rows, U_l), Q⁽ˡ⁻¹⁾ is (rows, U_{l−1}), dW is (U_l, U_{l−1}).
            T.gemm(transposeA: true, transposeB: false, m: units, n: inputs, k: rows, alpha: 1,
                   a: dZ, lda: units, b: workspace.input(of: l), ldb: inputs, beta: 0,
                   c: gradients.weights(l), ldc: inputs)
            // db = Σ_rows dZ = dZᵀ·1.
            T.gemvTransposed(m: rows, n: units, a: dZ, x: workspace.ones, y: gradients.biases(l))
            layerDone(l)
            guard l > 1 else { break }
            // dQ⁽ˡ⁻¹⁾ is (rows, U_{l−1}) = dZ (rows, U_l) · W (U_l, U_{l−1}).
            T.gemm(transposeA: false, transposeB: false, m: rows, n: inputs, k: units, alpha: 1,
                   a: dZ, lda: units, b: parameters.weights(l), ldb: inputs, beta: 0, c: dQ, ldc: inputs)
            workspace.dropout?.backward(layer: l - 1, dQ, rows: 0 ..< rows, units: inputs)
            activation.backward(dQ, Q: workspace.Q(l - 1), count: rows * inputs)
            swap(&dZ, &dQ)
        }
    }

    private func targets(_ workspace: Workspace<T>) -> Loss.Targets<T> {
        loss == .crossEntropy ? .classes(workspace.labels) : .values(workspace.targetValues)
    }
}

/// A shard's loss: Σ_i L_i over its rows, and how many of them were classified correctly.
public struct ShardLoss: Sendable {
    public var sum: Double
    public var correct: Int
    /// Σ wᵢ over the rows (their number without weights): what the loss sum is divided by.
    public var weightSum: Double

    public init(sum: Double, correct: Int, weightSum: Double = 0) {
        self.sum = sum
        self.correct = correct
        self.weightSum = weightSum
    }
}
