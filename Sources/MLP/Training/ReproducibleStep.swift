/// `--reproducible`: the step of `step(positions:)`, with the same sequence, cut into the
/// batch's chunks (`ChunkGrid`) so that nothing depends on how many ranks share the batch:
/// gather this rank's chunks → forward and loss per chunk → the errors dZ⁽ˡ⁾ per chunk → agree
/// on the gradient's bounds (MAX) → each chunk's dW, db onto the fixed-point grid → one exact
/// integer allreduce → the update.
extension Trainer {
    func reproducibleStep(positions: Range<Int>, exact: ExactGradient<T>) -> StepResult {
        let grid = ChunkGrid(rows: positions.count, chunkRows: exact.chunkRows)
        let local = grid.chunks(rank: communicator.rank, size: communicator.size)
        let shard = grid.rows(of: local)
        let rows = order.rows, layers = network.layout.layerCount
        func inWorkspace(_ chunk: Int) -> Range<Int> {
            let range = grid.rows(of: chunk)
            return range.lowerBound - shard.lowerBound ..< range.upperBound - shard.lowerBound
        }
        var clock = PhaseClock()
        workspace.gather(shard.count, of: train) { rows[positions.lowerBound + shard.lowerBound + $0] }
        timings.gather += clock.lap()

        var correct = 0
        // Index loops, not `enumerated()`: unspecialized (debug) code would allocate per chunk.
        for i in 0 ..< local.count {
            let chunk = local.lowerBound + i
            let loss = network.forwardAndLoss(workspace, rows: inWorkspace(chunk), dZ: exact.errors[layers - 1])
            exact.chunkLosses[i] = loss.sum
            exact.chunkWeights[i] = loss.weightSum
            correct += loss.correct
        }
        timings.forward += clock.lap()

        for chunk in local { network.backpropagateErrors(workspace, rows: inWorkspace(chunk), errors: exact.errors) }
        exact.measureBounds(workspace, grid: grid, local: local, firstRow: shard.lowerBound)
        communicator.allreduceMax(exact.exponents)
        let finite = exact.prepareGrids(chunkCount: grid.count)
        if finite {
            // Each chunk's gradient passes through `reduction`, which receives the sums at the end.
            for l in 1 ... layers {
                for i in 0 ..< local.count {
                    let chunk = local.lowerBound + i
                    network.layerGradient(l, workspace, rows: inWorkspace(chunk), dZ: exact.errors[l - 1],
                                          weights: reduction.weights(l), biases: reduction.biases(l))
                    exact.add(layer: l, of: reduction, first: i == 0)
                }
            }
            if local.isEmpty { exact.sums.update(repeating: 0) }
            exact.addLosses(count: local.count, chunkCount: grid.count)
        }
        let counts = exact.counts
        counts[ExactCount.samples] = Int64(shard.count)
        counts[ExactCount.correct] = Int64(correct)
        counts[ExactCount.interrupted] = Interruption.received != 0 ? 1 : 0
        counts[ExactCount.signals] = Int64(Interruption.received)
        timings.backward += clock.lap()

        if let shards {
            communicator.allreduceSum(exact.totalSums)
            if finite { communicator.reduceScatterSum(exact.gridSums, counts: exact.words == 1 ? shards.counts : shards.doubledCounts) }
        } else {
            communicator.allreduceSum(exact.sums)
        }
        timings.allreduce += clock.lap()

        if finite { exact.write(slice, into: reduction.values.baseAddress!) }
        let extras = reduction.extras
        let totals = exact.totals(chunkCount: grid.count)
        extras[StepExtra.lossSum] = finite ? T(totals.loss) : .nan
        extras[StepExtra.weightSum] = finite ? T(totals.weight) : T(counts[ExactCount.samples])
        extras[StepExtra.samples] = T(counts[ExactCount.samples])
        extras[StepExtra.correct] = T(counts[ExactCount.correct])
        extras[StepExtra.interrupted] = T(counts[ExactCount.interrupted])
        extras[StepExtra.signals] = T(counts[ExactCount.signals])
        let result = update()
        timings.update += clock.lap()
        gatherSlices(after: result)
        timings.allgather += clock.lap()
        return result
    }
}
