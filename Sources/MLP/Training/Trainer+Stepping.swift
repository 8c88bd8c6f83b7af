/// Driving the trainer one step at a time, for code that times steps instead of training a
/// model: the same synchronized step `run` takes, without its epochs, reports and checks.
///
/// Called from another module, a generic method would run unspecialized (slow in its
/// element-wise loops); `@_specialize` compiles the two precisions here, and the generic entry
/// point jumps to them.
extension Trainer {
    /// Mini-batches in one epoch of the training data; the last one is partial when n_b does
    /// not divide n.
    public var batchesPerEpoch: Int { EpochOrder.batchCount(rowCount: train.rowCount, batchSize: settings.batchSize) }

    /// Fills the visiting order of epoch `epoch` (1-based), as `run` does at the start of each epoch.
    public func prepareEpoch(_ epoch: Int) {
        order.prepare(epoch: epoch)
    }

    /// One synchronized step (gather, forward, backward, allreduce, update) on mini-batch
    /// `batch` (0 ..< `batchesPerEpoch`) of the epoch last prepared. Every rank must call it
    /// with the same batch. Adds to `timings`; `position` does not move.
    @discardableResult
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func trainStep(batch: Int) -> StepResult {
        precondition(0 ..< batchesPerEpoch ~= batch, "batch \(batch) is not in 0 ..< \(batchesPerEpoch)")
        return step(positions: EpochOrder.batchRange(batch, rowCount: train.rowCount, batchSize: settings.batchSize))
    }

    /// The matrix products of `steps` training steps on a full mini-batch's shard and nothing
    /// else, on the step's own buffers: what BLAS allows at this shape, the bound of a step.
    /// dZ is first set to ordinary values everywhere (what a step left unwritten could hold
    /// subnormals, which are slow); θ's gradient sums are overwritten, θ is not touched.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func runMatrixProductsAlone(steps: Int) {
        let rows = shardRange(count: min(settings.batchSize, train.rowCount), rank: communicator.rank, size: communicator.size).count
        workspace.dZ.update(repeating: T(0.01), count: workspace.gradientCount)
        for _ in 0 ..< steps { matrixProducts(network, workspace, rows: rows, into: reduction) }
    }
}

/// The matrix products of one training step and nothing else, with the shapes and transposes
/// of `Network.forward` and `Network.backward`: Z⁽ˡ⁾ = Q⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ, dW⁽ˡ⁾ = dZ⁽ˡ⁾ᵀQ⁽ˡ⁻¹⁾ and
/// dQ⁽ˡ⁻¹⁾ = dZ⁽ˡ⁾W⁽ˡ⁾, one dZ buffer (`workspace.dZ`) serving every layer (speed does not
/// depend on the values, as long as none is subnormal).
func matrixProducts<T: Scalar>(_ network: Network<T>, _ workspace: Workspace<T>, rows: Int, into gradients: FlatBuffer<T>) {
    guard rows > 0 else { return }
    let sizes = network.layout.layerSizes, parameters = network.parameters
    for l in 1 ..< sizes.count {
        T.gemm(transposeA: false, transposeB: true, m: rows, n: sizes[l], k: sizes[l - 1], alpha: 1,
               a: workspace.Q(l - 1), lda: sizes[l - 1], b: parameters.weights(l), ldb: sizes[l - 1], beta: 0,
               c: workspace.Z(l), ldc: sizes[l])
    }
    for l in stride(from: sizes.count - 1, through: 1, by: -1) {
        T.gemm(transposeA: true, transposeB: false, m: sizes[l], n: sizes[l - 1], k: rows, alpha: 1,
               a: workspace.dZ, lda: sizes[l], b: workspace.Q(l - 1), ldb: sizes[l - 1], beta: 0,
               c: gradients.weights(l), ldc: sizes[l - 1])
        if l > 1 {
            T.gemm(transposeA: false, transposeB: false, m: rows, n: sizes[l - 1], k: sizes[l], alpha: 1,
                   a: workspace.dZ, lda: sizes[l], b: parameters.weights(l), ldb: sizes[l - 1], beta: 0,
                   c: workspace.dQ, ldc: sizes[l - 1])
        }
    }
}
