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
}
