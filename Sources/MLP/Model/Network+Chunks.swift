/// Forward and backward propagation one chunk of rows at a time, each chunk as BLAS calls of
/// its own fixed shape, and the backward pass split in two: the errors dZ⁽ˡ⁾ of every layer
/// first, then each chunk's dW⁽ˡ⁾ and db⁽ˡ⁾. `--reproducible` needs both: a chunk's values then
/// depend on the chunk alone, never on which rank computes it or what else that rank holds, and
/// the bounds of every layer's gradient are known before any of it is summed.
extension Network {
    /// Forward propagation and the loss on rows `rows` of the workspace; dZ⁽ᴸ⁾ of those rows goes
    /// to `dZ` (laid out like `workspace.outputs`).
    func forwardAndLoss(_ workspace: Workspace<T>, rows: Range<Int>, dZ: UnsafeMutablePointer<T>) -> ShardLoss {
        guard !rows.isEmpty else { return ShardLoss(sum: 0, correct: 0) }
        forward(workspace, rows: rows)
        let outputs = layout.outputCount, offset = rows.lowerBound * outputs
        let targets: Loss.Targets<T> = loss == .crossEntropy ? .classes(workspace.labels + rows.lowerBound)
                                                              : .values(workspace.targetValues + offset)
        return loss.lossAndGradient(Z: workspace.outputs + offset, targets: targets, dZ: dZ + offset,
                                    rows: rows.count, outputs: outputs,
                                    weights: workspace.hasWeights ? workspace.weights + rows.lowerBound : nil)
    }

    /// The errors of rows `rows`, walking l = L…2: dZ⁽ˡ⁻¹⁾ = (dZ⁽ˡ⁾ W⁽ˡ⁾) ⊙ h′(Z⁽ˡ⁻¹⁾).
    /// `errors[l − 1]` holds dZ⁽ˡ⁾ (rows × U_l, dZ⁽ᴸ⁾ from `forwardAndLoss`).
    func backpropagateErrors(_ workspace: Workspace<T>, rows: Range<Int>, errors: [UnsafeMutablePointer<T>]) {
        guard !rows.isEmpty else { return }
        for l in stride(from: layout.layerCount, through: 2, by: -1) {
            let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
            let dZ = errors[l - 1] + rows.lowerBound * units, dQ = errors[l - 2] + rows.lowerBound * inputs
            T.gemm(transposeA: false, transposeB: false, m: rows.count, n: inputs, k: units, alpha: 1,
                   a: dZ, lda: units, b: parameters.weights(l), ldb: inputs, beta: 0, c: dQ, ldc: inputs)
            workspace.dropout?.backward(layer: l - 1, errors[l - 2], rows: rows, units: inputs)
            activation.backward(dQ, Q: workspace.Q(l - 1) + rows.lowerBound * inputs, count: rows.count * inputs)
        }
    }

    /// Layer l's gradient sums over rows `rows`: dW⁽ˡ⁾ = dZ⁽ˡ⁾ᵀ Q⁽ˡ⁻¹⁾ into `weights`
    /// (U_l × U_{l−1}) and db⁽ˡ⁾ = dZ⁽ˡ⁾ᵀ·1 into `biases`.
    func layerGradient(_ l: Int, _ workspace: Workspace<T>, rows: Range<Int>, dZ: UnsafePointer<T>,
                       weights: UnsafeMutablePointer<T>, biases: UnsafeMutablePointer<T>) {
        let inputs = layout.layerSizes[l - 1], units = layout.layerSizes[l]
        let dZ = dZ + rows.lowerBound * units
        T.gemm(transposeA: true, transposeB: false, m: units, n: inputs, k: rows.count, alpha: 1,
               a: dZ, lda: units, b: workspace.input(of: l) + rows.lowerBound * inputs, ldb: inputs, beta: 0,
               c: weights, ldc: inputs)
        T.gemvTransposed(m: rows.count, n: units, a: dZ, x: workspace.ones, y: biases)
    }
}
