/// One training step, the spec's algorithm a call per line: gather the shard, forward and loss,
/// backward, the allreduce of the sums (sharded: a reduce-scatter), the update (sharded: of this
/// rank's slice, then the slices gathered).

extension Trainer {
    /// What one step did, from the global sums over its mini-batch.
    public struct StepResult {
        public var lossSum: Double, samples: Double, correct: Double
        /// Σ wᵢ over the mini-batch (its rows without weights): the loss sum's divisor.
        public var weightSum: Double
        /// The loss or gradient was not finite: no update was applied.
        public var nonFinite: Bool
        public var interrupted: Bool
        /// The signal the interrupted ranks received (0 if none, or if they received different ones).
        public var signal: Int32
        /// The update was applied: the totals were finite and the weights not all 0.
        public var updated: Bool { !nonFinite && weightSum > 0 }
    }

    /// One synchronized step on the mini-batch at `positions` of this epoch's order.
    @discardableResult
    func step(positions: Range<Int>) -> StepResult {
        workspace.dropout?.step = position.step
        if let exactGradient { return reproducibleStep(positions: positions, exact: exactGradient) }
        let shard = shardRange(count: positions.count, rank: communicator.rank, size: communicator.size)
        let rows = order.rows
        var clock = PhaseClock()
        workspace.gather(shard.count, of: train) { rows[positions.lowerBound + shard.lowerBound + $0] }
        timings.gather += clock.lap()
        let local = network.forwardAndLoss(workspace, rows: shard.count)
        timings.forward += clock.lap()
        record(local, rows: shard.count)
        backward(rows: shard.count)
        timings.backward += clock.lap()
        reduce()
        timings.allreduce += clock.lap()
        let result = update()
        timings.update += clock.lap()
        gatherSlices(after: result)
        timings.allgather += clock.lap()
        return result
    }

    /// Puts this rank's loss sum, row count, correct count and interrupt flag in the slots after
    /// the gradient sums, so the one reduction carries them (sharded: their own small allreduce).
    private func record(_ local: ShardLoss, rows: Int) {
        let extras = reduction.extras
        extras[StepExtra.lossSum] = T(local.sum)
        extras[StepExtra.samples] = T(rows)
        extras[StepExtra.correct] = T(local.correct)
        extras[StepExtra.interrupted] = Interruption.received != 0 ? 1 : 0
        extras[StepExtra.signals] = T(Interruption.received)
        extras[StepExtra.weightSum] = T(local.weightSum)
    }

    /// This rank's gradient sums into `reduction`; with `--allreduce overlap`, each layer's
    /// reduction starts as soon as backward has produced it.
    private func backward(rows: Int) {
        let overlap = settings.allreduce == .overlap, communicator = communicator, reduction = reduction
        // A closure literal passed straight in: non-escaping, so nothing is allocated per step.
        network.backward(workspace, rows: rows, into: reduction) { l in
            if overlap { communicator.startAllreduceSum(reduction.layerSlice(l)) }
        }
    }

    /// The sums over all ranks: one allreduce of the whole buffer, or the wait for the per-layer
    /// ones; with the sharded update, the extra slots' allreduce, then a reduce-scatter that
    /// leaves this rank's slice of the sums at the start of `reduction`.
    private func reduce() {
        if let shards {
            communicator.allreduceSum(reduction.extras)
            communicator.reduceScatterSum(reduction.values, counts: shards.counts)
            return
        }
        switch settings.allreduce {
        case .single: communicator.allreduceSum(reduction.storage)
        case .overlap: communicator.waitForReductions()
        }
    }

    /// The signal `count` ranks received whose numbers add up to `sum`; 0 if they differ.
    static func commonSignal(count: T, sum: T) -> Int32 {
        guard count > 0, let signal = Int32(exactly: sum / count), T(signal) * count == sum else { return 0 }
        return signal
    }

    /// g = (Σ over all ranks' shards) / Σ wᵢ (n_b without weights), the exact mini-batch
    /// gradient; then clipping and the optimizer's update of this rank's slice of θ (all of it
    /// unless sharded), unless the loss or g is not finite; then, sharded, the gathering of the
    /// slices. Every rank sees the same totals and the same agreement, so every rank takes the
    /// same branch. A mini-batch whose weights are all 0 changes nothing.
    ///
    /// Two passes over this rank's slice of the sums: one for g's finiteness (and clipping's
    /// sums of squares), which every rank must know before any rank changes θ or the optimizer's
    /// state (a skipped step changes nothing), then the update, which divides by Σ wᵢ and clips
    /// in its own loop (plain SGD's axpy needs g in memory: the first pass leaves it there).
    func update() -> StepResult {
        let extras = reduction.extras, samples = extras[StepExtra.samples], weightSum = extras[StepExtra.weightSum]
        var result = StepResult(lossSum: Double(extras[StepExtra.lossSum]), samples: Double(samples), correct: Double(extras[StepExtra.correct]),
                                weightSum: Double(weightSum), nonFinite: !extras[StepExtra.lossSum].isFinite,
                                interrupted: extras[StepExtra.interrupted] > 0,
                                signal: Self.commonSignal(count: extras[StepExtra.interrupted], sum: extras[StepExtra.signals]))
        guard weightSum > 0 else { return result }
        let sums = reduction.values.baseAddress!, inPlace = optimizer.needsGradientInMemory
        let scale = 1 / weightSum
        updateCheck.measure(sums, slice: slice, scale: scale, inPlace: inPlace)
        if shards != nil { communicator.allreduceMax(updateCheck.values) }
        if !updateCheck.isFinite { result.nonFinite = true }
        guard !result.nonFinite else { return result }
        let clipFactor = settings.clipGradientNorm.map { UpdateCheck.clipFactor(norm: updateCheck.norm, maxNorm: $0) } ?? 1
        optimizer.update(parameters: network.parameters, gradientSums: sums, scale: inPlace ? 1 : scale, clipFactor: T(clipFactor),
                         learningRate: schedule.rate(atStep: position.step))
        timings.steps += 1
        return result
    }

    /// The optimizer's state buffers of all of θ, for rank 0's checkpoint: with the sharded
    /// update, gathered from every rank's slice (a collective: every rank calls it); without it,
    /// rank 0's own (the other ranks get nothing: they write no checkpoint).
    func gatheredOptimizerState() -> [(name: String, values: [T])] {
        guard shards != nil || communicator.rank == 0 else { return [] }
        return optimizer.stateBuffers.map { name, values in
            var whole = [T](repeating: 0, count: network.layout.count)
            for i in 0 ..< values.count { whole[slice.lowerBound + i] = values[i] }
            if let shards {
                whole.withUnsafeMutableBufferPointer { communicator.allgather($0, counts: shards.counts, displacements: shards.displacements) }
            }
            return (name, whole)
        }
    }

    /// With the sharded update, every rank's updated slice of θ to every rank, after a step
    /// that changed θ (`StepResult.updated`, the same on every rank).
    func gatherSlices(after result: StepResult) {
        guard let shards, result.updated else { return }
        communicator.allgather(network.parameters.values, counts: shards.counts, displacements: shards.displacements)
    }
}

/// How a step combines the ranks' gradient sums. Both give the same, exact sums.
public enum AllreduceMode: String, CaseIterable, Sendable {
    /// One blocking `MPI_Allreduce` over the whole buffer after backward.
    case single
    /// One `MPI_Iallreduce` per layer, started as soon as backward has produced that layer's
    /// gradient (last layer first), then one wait.
    case overlap
}

/// `--sharded-update`: whether each rank updates only its slice of θ (`ParameterShards`).
public enum ShardedUpdateMode: String, CaseIterable, Sendable {
    case auto, on, off

    /// `auto`: sharded where the update has state to share out (Adam, AdamW, SGD with
    /// momentum), where it measured faster; plain SGD's update is too cheap to pay for the
    /// reduce-scatter and allgather's extra time (docs/performance.md). Never with
    /// `--allreduce overlap`, whose per-layer reductions are allreduces.
    public func resolved(optimizer: OptimizerSettings, allreduce: AllreduceMode) -> Bool {
        switch self {
        case .on: return true
        case .off: return false
        case .auto: return allreduce == .single && (optimizer.kind != .sgd || optimizer.momentum != 0)
        }
    }
}

extension FlatBuffer {
    /// Layer l's block [vec(W⁽ˡ⁾), b⁽ˡ⁾]; for the last layer it runs on through the extra slots
    /// (loss, counts), so they travel with it.
    func layerSlice(_ l: Int) -> UnsafeMutableBufferPointer<T> {
        let start = layout.weightOffsets[l - 1]
        let end = l == layout.layerCount ? storage.count : layout.weightOffsets[l]
        return UnsafeMutableBufferPointer(rebasing: storage[start ..< end])
    }
}

/// The slots after the gradient sums in the one allreduce of a step.
enum StepExtra {
    static let lossSum = 0, samples = 1, correct = 2
    /// How many ranks received SIGINT/SIGTERM: > 0 stops all of them after this step.
    static let interrupted = 3
    /// The sum of the signal numbers they received: the signal's name for every rank's message.
    static let signals = 4
    /// Σ wᵢ of the rank's rows (its row count without weights).
    static let weightSum = 5
    static let count = 6
}

