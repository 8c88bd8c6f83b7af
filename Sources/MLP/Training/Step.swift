/// One training step, the spec's algorithm a call per line: gather the shard, forward and loss,
/// backward, the reduction of the sums (`GradientReduction`, the exchange's way), the update
/// (sharded: of this rank's slice, then the slices gathered).

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
        let shard = BatchShard(batchRows: positions.count, exchange: reduction.exchange, rank: communicator.rank, size: communicator.size)
        var clock = PhaseClock()
        clock.time(\.gather) { gather(shard, of: positions) }
        let local = clock.time(\.forward) { forwardAndLoss(shard) }
        clock.time(\.backward) { backward(shard, correct: local.correct) }
        clock.time(\.allreduce) { reduction.reduce(shard) }
        let result = clock.time(\.update) { update() }
        clock.time(\.allgather) { reduction.gatherSlices(of: network.parameters, updated: result.updated) }
        timings.add(clock.phases)
        return result
    }

    /// This rank's rows of the batch into the workspace.
    private func gather(_ shard: BatchShard, of positions: Range<Int>) {
        let rows = order.rows, first = positions.lowerBound + shard.rows.lowerBound
        workspace.gather(shard.rows.count, of: train) { rows[first + $0] }
    }

    /// Forward propagation and the loss over each piece of the shard; the shard's totals go to
    /// the reduction's extra slots.
    private func forwardAndLoss(_ shard: BatchShard) -> ShardLoss {
        let errors = reduction.errors(workspace)
        var total = ShardLoss(sum: 0, correct: 0)
        // Index loops, not `enumerated()`: unspecialized (debug) code would allocate per piece.
        for i in 0 ..< shard.pieceCount {
            let loss = network.forwardAndLoss(workspace, rows: shard.piece(i), errors: errors)
            reduction.recordPiece(i, loss)
            if i == 0 { total = loss } else { total.add(loss) }
        }
        reduction.recordShard(total, rows: shard.rows.count)
        return total
    }

    /// This rank's gradient sums: backward over each piece into the reduction's buffer (each
    /// layer handed to the exchange as soon as it is final), then the exchange's own local part
    /// (the exact sums' bounds and grid).
    private func backward(_ shard: BatchShard, correct: Int) {
        let errors = reduction.errors(workspace), target = reduction.backwardTarget, reduction = reduction
        for i in 0 ..< shard.pieceCount {
            // A closure literal passed straight in: non-escaping, so nothing is allocated per step.
            network.backward(workspace, rows: shard.piece(i), errors: errors, into: target) { l in reduction.layerDone(l) }
        }
        reduction.addLocalSums(shard, network: network, workspace: workspace, correct: correct)
    }

    /// The signal `count` ranks received whose numbers add up to `sum`; 0 if they differ.
    static func commonSignal(count: T, sum: T) -> Int32 {
        guard count > 0, let signal = Int32(exactly: sum / count), T(signal) * count == sum else { return 0 }
        return signal
    }

    /// g = (Σ over all ranks' shards) / Σ wᵢ (n_b without weights), the exact mini-batch
    /// gradient; then clipping and the optimizer's update of this rank's slice of θ (all of it
    /// unless sharded), unless the loss or g is not finite. Every rank sees the same totals and
    /// the same agreement, so every rank takes the same branch. A mini-batch whose weights are
    /// all 0 changes nothing.
    ///
    /// Two passes over this rank's slice of the sums: one for g's finiteness (and clipping's
    /// sums of squares), which every rank must know before any rank changes θ or the optimizer's
    /// state (a skipped step changes nothing), then the update, which divides by Σ wᵢ and clips
    /// in its own loop (plain SGD's axpy needs g in memory: the first pass leaves it there).
    func update() -> StepResult {
        let extras = reduction.totals, samples = extras[StepExtra.samples], weightSum = extras[StepExtra.weightSum]
        var result = StepResult(lossSum: Double(extras[StepExtra.lossSum]), samples: Double(samples),
                                correct: Double(extras[StepExtra.correct]), weightSum: Double(weightSum),
                                nonFinite: !extras[StepExtra.lossSum].isFinite, interrupted: extras[StepExtra.interrupted] > 0,
                                signal: Self.commonSignal(count: extras[StepExtra.interrupted], sum: extras[StepExtra.signals]))
        guard weightSum > 0 else { return result }
        let sums = reduction.sums, inPlace = optimizer.needsGradientInMemory, check = reduction.check
        let scale = 1 / weightSum
        reduction.measure(scale: scale, dividing: inPlace)
        reduction.agreeOnCheck()
        if !check.isFinite { result.nonFinite = true }
        guard !result.nonFinite else { return result }
        let clipFactor = settings.clipGradientNorm.map { UpdateCheck.clipFactor(norm: check.norm, maxNorm: $0) } ?? 1
        optimizer.update(parameters: network.parameters, gradientSums: sums, scale: inPlace ? 1 : scale, clipFactor: T(clipFactor),
                         learningRate: schedule.rate(atStep: position.step))
        timings.steps += 1
        return result
    }

    /// The optimizer's state buffers of all of θ, for rank 0's checkpoint (a collective when
    /// the update is sharded: every rank calls it).
    func gatheredOptimizerState() -> [(name: String, values: [T])] {
        reduction.gatheredState(optimizer, count: network.layout.count)
    }
}

extension ShardLoss {
    mutating func add(_ other: ShardLoss) {
        sum += other.sum
        correct += other.correct
        weightSum += other.weightSum
    }
}

