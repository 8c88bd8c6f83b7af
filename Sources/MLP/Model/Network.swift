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
    /// Z⁽ˡ⁾ = Q⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + 1 b⁽ˡ⁾ᵀ, Q⁽ˡ⁾ = h(Z⁽ˡ⁾) for l < L.
    /// Leaves Z⁽ᴸ⁾ in `workspace.outputs`.
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
        forwardAndLoss(workspace, rows: 0 ..< rows, errors: workspace.errors)
    }

    /// Forward propagation and the loss on rows `rows` of the workspace, each layer one BLAS call
    /// of those rows' own shape (`--reproducible` runs each chunk of a batch so); dZ⁽ᴸ⁾ of those
    /// rows goes to `errors[L − 1]`, laid out like `workspace.outputs`.
    func forwardAndLoss(_ workspace: Workspace<T>, rows: Range<Int>, errors: [UnsafeMutablePointer<T>]) -> ShardLoss {
        guard !rows.isEmpty else { return ShardLoss(sum: 0, correct: 0) }
        forward(workspace, rows: rows)
        let outputs = layout.outputCount, offset = rows.lowerBound * outputs
        let targets: Loss.Targets<T> = loss == .crossEntropy ? .classes(workspace.labels + rows.lowerBound)
                                                              : .values(workspace.targetValues + offset)
        return loss.lossAndGradient(Z: workspace.outputs + offset, targets: targets, dZ: errors[layout.layerCount - 1] + offset,
                                    rows: rows.count, outputs: outputs,
                                    weights: workspace.hasWeights ? workspace.weights + rows.lowerBound : nil)
    }

    /// Backward propagation after `forwardAndLoss`: writes the **sums** over the shard's rows of
    /// the per-sample dW⁽ˡ⁾ and db⁽ˡ⁾ into `gradients` (every value of θ's part is overwritten;
    /// zeros for zero rows). `layerDone(l)` is called as soon as layer l's are final (last layer
    /// first), so their allreduce can start while the layers below are still being computed.
    public func backward(_ workspace: Workspace<T>, rows: Int, into gradients: FlatBuffer<T>,
                         layerDone: (Int) -> Void = { _ in }) {
        backward(workspace, rows: 0 ..< rows, errors: workspace.errors, into: gradients, layerDone: layerDone)
    }

    /// The backward pass over rows `rows` of the workspace, walking l = L…1 from dZ⁽ᴸ⁾ in
    /// `errors[L − 1]`: layer l's gradient sums (`layerGradient`) into `gradients`, then
    /// dQ⁽ˡ⁻¹⁾ = dZ⁽ˡ⁾ W⁽ˡ⁾ and dZ⁽ˡ⁻¹⁾ = dQ⁽ˡ⁻¹⁾ ⊙ h′(Z⁽ˡ⁻¹⁾) into `errors[l − 2]`.
    /// Without `gradients` only the errors are computed, and they stay when `errors` has a buffer
    /// per layer: `--reproducible` needs every layer's errors of every chunk to bound the
    /// gradient before it computes any chunk's (`GradientReduction`).
    func backward(_ workspace: Workspace<T>, rows: Range<Int>, errors: [UnsafeMutablePointer<T>], into gradients: FlatBuffer<T>?,
                  layerDone: (Int) -> Void = { _ in }) {
        guard !rows.isEmpty else {
            guard let gradients else { return }
            gradients.values.update(repeating: 0)
            for l in stride(from: layout.layerCount, through: 1, by: -1) { layerDone(l) }
            return
        }
        for l in stride(from: layout.layerCount, through: 1, by: -1) {
            if let gradients {
                layerGradient(l, workspace, rows: rows, dZ: errors[l - 1], weights: gradients.weights(l), biases: gradients.biases(l))
                layerDone(l)
            }
            guard l > 1 else { break }
            let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
            let dZ = errors[l - 1] + rows.lowerBound * units, dQ = errors[l - 2] + rows.lowerBound * inputs
            // dQ⁽ˡ⁻¹⁾ is (rows, U_{l−1}) = dZ (rows, U_l) · W (U_l, U_{l−1}).
            T.gemm(transposeA: false, transposeB: false, m: rows.count, n: inputs, k: units, alpha: 1,
                   a: dZ, lda: units, b: parameters.weights(l), ldb: inputs, beta: 0, c: dQ, ldc: inputs)
            workspace.dropout?.backward(layer: l - 1, errors[l - 2], rows: rows, units: inputs)
            activation.backward(dQ, Q: workspace.Q(l - 1) + rows.lowerBound * inputs, count: rows.count * inputs)
        }
    }

    /// Layer l's gradient sums over rows `rows`: dW⁽ˡ⁾ = dZ⁽ˡ⁾ᵀ Q⁽ˡ⁻¹⁾ into `weights`
    /// (U_l × U_{l−1}) and db⁽ˡ⁾ = dZ⁽ˡ⁾ᵀ·1 into `biases`; `dZ` is laid out like the workspace's rows.
    func layerGradient(_ l: Int, _ workspace: Workspace<T>, rows: Range<Int>, dZ: UnsafePointer<T>,
                       weights: UnsafeMutablePointer<T>, biases: UnsafeMutablePointer<T>) {
        let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
        let dZ = dZ + rows.lowerBound * units
        // dZ is (rows, U_l), Q⁽ˡ⁻¹⁾ is (rows, U_{l−1}), dW is (U_l, U_{l−1}).
        T.gemm(transposeA: true, transposeB: false, m: units, n: inputs, k: rows.count, alpha: 1,
               a: dZ, lda: units, b: workspace.input(of: l) + rows.lowerBound * inputs, ldb: inputs, beta: 0,
               c: weights, ldc: inputs)
        T.gemvTransposed(m: rows.count, n: units, a: dZ, x: workspace.ones, y: biases)
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
