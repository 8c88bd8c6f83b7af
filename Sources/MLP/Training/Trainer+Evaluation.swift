/// What the trainer computes across ranks besides the steps: the loss and accuracy on held-out
/// data, and the check that every rank holds the same θ.
extension Trainer {
    /// Mean loss and accuracy over `data`, data-parallel: each rank evaluates a contiguous shard
    /// and one allreduce combines the sums.
    public func evaluate(_ data: Dataset<T>) -> (loss: Double, accuracy: Double?) {
        communicator.recordPhase(.evaluation, step: position.step)
        if let chunkRows = exchange.chunkRows { return evaluateReproducibly(data, chunkRows: chunkRows) }
        let shard = shardRange(count: data.rowCount, rank: communicator.rank, size: communicator.size)
        var totals: [Double] = [0, 0]
        var start = shard.lowerBound
        while start < shard.upperBound {
            let end = min(start + evaluationWorkspace.capacity, shard.upperBound)
            evaluationWorkspace.gather(end - start, of: data) { [start] in start + $0 }
            let result = network.forwardAndLoss(evaluationWorkspace, rows: end - start)
            totals[0] += result.sum
            totals[1] += Double(result.correct)
            start = end
        }
        totals.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return Self.means(lossSum: totals[0], correct: totals[1], of: data)
    }

    /// `evaluate` for `--reproducible`: the rows cut into chunks that do not depend on the
    /// ranks, each chunk's loss sum combined exactly (`ChunkTotals`).
    private func evaluateReproducibly(_ data: Dataset<T>, chunkRows: Int) -> (loss: Double, accuracy: Double?) {
        let grid = ChunkGrid(rows: data.rowCount, chunkRows: chunkRows)
        var totals = ChunkTotals(width: 1, counts: 1)
        for chunk in grid.chunks(rank: communicator.rank, size: communicator.size) {
            let rows = grid.rows(of: chunk)
            evaluationWorkspace.gather(rows.count, of: data) { rows.lowerBound + $0 }
            let result = network.forwardAndLoss(evaluationWorkspace, rows: rows.count)
            totals.append(CollectionOfOne(result.sum))
            totals.counts[0] += Int64(result.correct)
        }
        let (sums, counts) = totals.combined(totalChunks: grid.count, communicator: communicator)
        return Self.means(lossSum: sums[0] ?? .nan, correct: Double(counts[0]), of: data)
    }

    /// The loss per row (per unit of weight, with weights) and the accuracy over `data`.
    private static func means(lossSum: Double, correct: Double, of data: Dataset<T>) -> (loss: Double, accuracy: Double?) {
        let n = Double(max(data.rowCount, 1)), divisor = data.weights == nil ? n : data.lossDivisor
        return (lossSum / divisor, data.isClassification ? correct / n : nil)
    }

    /// Fails on every rank if θ is not bit-identical on all ranks.
    public func checkParametersAgree() throws {
        communicator.recordPhase(.training, step: position.step)
        let checksum = fingerprint(UnsafeRawBufferPointer(network.parameters.values))
        let high = Double(checksum >> 32), low = Double(checksum & 0xFFFF_FFFF)
        // max of x and of −x over ranks gives max and −min in one collective.
        var bounds = [high, low, -high, -low]
        bounds.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
        if bounds[0] != -bounds[2] || bounds[1] != -bounds[3] {
            throw AgreedFailure(message: "parameters differ between ranks at step \(position.step) (checksum mismatch): "
                + "the ranks drifted apart", reportingRank: 0,
                                exitCode: ExitStatus.ranksDisagree)
        }
    }
}
