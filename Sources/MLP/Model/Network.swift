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

/// The buffers forward and backward propagation need for shards of up to `capacity` rows,
/// allocated once so that a training step allocates nothing.
public final class Workspace<T: Scalar> {
    public let layout: ParameterLayout
    public let capacity: Int
    /// Q⁽⁰⁾ = X, capacity × U_0: the trainer gathers the shard's rows here.
    public let input: UnsafeMutablePointer<T>
    /// Class indices (classification) of the shard's rows.
    public let labels: UnsafeMutablePointer<Int32>
    /// Regression targets of the shard's rows, capacity × U_L.
    public let targetValues: UnsafeMutablePointer<T>
    /// activations[l − 1]: Q⁽ˡ⁾ for l < L (h applied in place over Z⁽ˡ⁾), Z⁽ᴸ⁾ for l = L.
    let activations: [UnsafeMutablePointer<T>]
    /// Two buffers of `gradientCount` = capacity × max U_l values for dZ⁽ˡ⁾ and dQ⁽ˡ⁻¹⁾, swapped
    /// as backward walks down.
    let gradientA: UnsafeMutablePointer<T>, gradientB: UnsafeMutablePointer<T>
    let gradientCount: Int
    /// `capacity` ones: db = dZᵀ·1 is one BLAS call.
    let ones: UnsafeMutablePointer<T>

    public init(layout: ParameterLayout, capacity: Int) {
        self.layout = layout
        self.capacity = max(capacity, 1)
        let rows = self.capacity
        input = .allocate(capacity: rows * layout.inputCount)
        labels = .allocate(capacity: rows)
        targetValues = .allocate(capacity: rows * layout.outputCount)
        activations = layout.layerSizes.dropFirst().map { .allocate(capacity: rows * $0) }
        gradientCount = rows * layout.layerSizes.dropFirst().max()!
        gradientA = .allocate(capacity: gradientCount)
        gradientB = .allocate(capacity: gradientCount)
        ones = .allocate(capacity: rows)
        ones.initialize(repeating: 1, count: rows)
    }

    deinit {
        input.deallocate(); labels.deallocate(); targetValues.deallocate()
        activations.forEach { $0.deallocate() }
        gradientA.deallocate(); gradientB.deallocate(); ones.deallocate()
    }

    /// Q⁽ˡ⁾ for l = 0…L−1 (Q⁽⁰⁾ is the input), Z⁽ᴸ⁾ for l = L.
    @inline(__always) func Q(_ l: Int) -> UnsafeMutablePointer<T> { l == 0 ? input : activations[l - 1] }

    /// The outputs z⁽ᴸ⁾ of the last forward pass, rows × U_L.
    public var outputs: UnsafeMutablePointer<T> { activations[activations.count - 1] }
}

extension Network {
    /// Forward propagation over the first `rows` rows of `workspace.input`:
    /// Z⁽ˡ⁾ = Q⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾ᵀ, Q⁽ˡ⁾ = h(Z⁽ˡ⁾) for l < L. Leaves Z⁽ᴸ⁾ in `workspace.outputs`.
    public func forward(_ workspace: Workspace<T>, rows: Int) {
        precondition(rows <= workspace.capacity && workspace.layout == layout)
        guard rows > 0 else { return }
        for l in 1 ... layout.layerCount {
            let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
            let Q = workspace.Q(l - 1), Z = workspace.Q(l)
            // Q is (rows, U_{l−1}), W is (U_l, U_{l−1}), Z is (rows, U_l).
            T.gemm(transposeA: false, transposeB: true, m: rows, n: units, k: inputs, alpha: 1,
                   a: Q, lda: inputs, b: parameters.weights(l), ldb: inputs, beta: 0, c: Z, ldc: units)
            let b = parameters.biases(l)
            if l < layout.layerCount {
                for row in 0 ..< rows { activation.forward(Z + row * units, bias: b, count: units) }
            } else {
                for row in 0 ..< rows {
                    let z = Z + row * units
                    for j in 0 ..< units { z[j] += b[j] }
                }
            }
        }
    }

    /// Backward propagation: given dZ⁽ᴸ⁾ in `workspace.gradientA`, writes the **sums** over the
    /// shard's rows of the per-sample dW⁽ˡ⁾ = dZ⁽ˡ⁾ᵀ Q⁽ˡ⁻¹⁾ and db⁽ˡ⁾ = Σ_i dZ⁽ˡ⁾_i into `gradients`
    /// (every value of θ's part is overwritten), walking l = L…1 with
    /// dQ⁽ˡ⁻¹⁾ = dZ⁽ˡ⁾ W⁽ˡ⁾ and dZ⁽ˡ⁻¹⁾ = dQ⁽ˡ⁻¹⁾ ⊙ h′(Z⁽ˡ⁻¹⁾).
    /// `layerDone(l)` is called as soon as dW⁽ˡ⁾ and db⁽ˡ⁾ are final (last layer first), so their
    /// allreduce can start while the layers below are still being computed.
    func backward(_ workspace: Workspace<T>, rows: Int, into gradients: FlatBuffer<T>,
                  layerDone: (Int) -> Void = { _ in }) {
        var dZ = workspace.gradientA, dQ = workspace.gradientB
        for l in stride(from: layout.layerCount, through: 1, by: -1) {
            let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
            // dZ is (rows, U_l), Q⁽ˡ⁻¹⁾ is (rows, U_{l−1}), dW is (U_l, U_{l−1}).
            T.gemm(transposeA: true, transposeB: false, m: units, n: inputs, k: rows, alpha: 1,
                   a: dZ, lda: units, b: workspace.Q(l - 1), ldb: inputs, beta: 0,
                   c: gradients.weights(l), ldc: inputs)
            // db = Σ_rows dZ = dZᵀ·1.
            T.gemvTransposed(m: rows, n: units, a: dZ, x: workspace.ones, y: gradients.biases(l))
            layerDone(l)
            guard l > 1 else { break }
            // dQ⁽ˡ⁻¹⁾ is (rows, U_{l−1}) = dZ (rows, U_l) · W (U_l, U_{l−1}).
            T.gemm(transposeA: false, transposeB: false, m: rows, n: inputs, k: units, alpha: 1,
                   a: dZ, lda: units, b: parameters.weights(l), ldb: inputs, beta: 0, c: dQ, ldc: inputs)
            activation.backward(dQ, Q: workspace.Q(l - 1), count: rows * inputs)
            swap(&dZ, &dQ)
        }
    }

    /// One shard's contribution to the mini-batch gradient: forward, loss, backward.
    ///
    /// Writes Σ_i ∇θ L(x_i, y_i, θ) over the shard's `rows` rows (already gathered into the
    /// workspace) into `gradients`, and returns Σ_i L_i and the number classified correctly.
    /// A shard of zero rows contributes zeros (it still takes part in the allreduce).
    public func accumulateGradient(_ workspace: Workspace<T>, rows: Int,
                                   into gradients: FlatBuffer<T>) -> (lossSum: Double, correct: Int) {
        guard rows > 0 else {
            gradients.values.update(repeating: 0)
            return (0, 0)
        }
        let result = forwardAndLoss(workspace, rows: rows)
        backward(workspace, rows: rows, into: gradients)
        return result
    }

    /// Forward propagation, then the loss and dZ⁽ᴸ⁾ (left for `backward`): Σ_i L_i and the number
    /// classified correctly.
    func forwardAndLoss(_ workspace: Workspace<T>, rows: Int) -> (lossSum: Double, correct: Int) {
        forward(workspace, rows: rows)
        return loss.lossAndGradient(Z: workspace.outputs, targets: targets(workspace),
                                    dZ: workspace.gradientA, rows: rows, outputs: layout.outputCount)
    }

    /// Σ_i L_i and the number classified correctly over `rows` gathered rows, without gradients.
    public func evaluate(_ workspace: Workspace<T>, rows: Int) -> (lossSum: Double, correct: Int) {
        guard rows > 0 else { return (0, 0) }
        forward(workspace, rows: rows)
        return loss.lossAndGradient(Z: workspace.outputs, targets: targets(workspace),
                                    dZ: workspace.gradientA, rows: rows, outputs: layout.outputCount)
    }

    private func targets(_ workspace: Workspace<T>) -> Loss.Targets<T> {
        loss == .crossEntropy ? .init(labels: workspace.labels, values: nil)
                              : .init(labels: nil, values: workspace.targetValues)
    }
}
