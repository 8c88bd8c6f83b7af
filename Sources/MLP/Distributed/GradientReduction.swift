/// One step's combination of the ranks' gradient sums, done the way its `GradientExchange`
/// says: the buffer [gradient sums | extras] backward writes into, the collectives that add the
/// ranks' buffers, the agreement on g's finiteness and clipping's norm before any rank changes
/// θ, and with shards the gathering of θ's slices after the update and of the optimizer state
/// for a checkpoint. Allocated once; a step allocates nothing.
final class GradientReduction<T: Scalar> {
    /// The exchange the steps use: the one asked for, or its fallback where the node-shared
    /// memory cannot be had.
    let exchange: GradientExchange
    let communicator: Communicator
    /// Gradient sums, then the extra slots of `StepExtra`. With shards, after the reduction its
    /// first values are the sums of this rank's slice of θ.
    let buffer: FlatBuffer<T>
    /// The slices of θ with the sharded update; nil: every rank updates all of θ.
    let shards: ParameterShards?
    /// The part of θ this rank updates.
    let slice: Range<Int>
    /// What the ranks agree on before the update: g's finiteness and clipping's norm.
    let check: UpdateCheck
    /// `--reproducible`'s chunk errors and integer sums; nil for the other exchanges.
    let exact: ExactGradient<T>?
    /// The node-shared exchange's window (θ and the ranks' slots); nil for the other exchanges.
    let node: NodeSharedMemory<T>?
    /// The ranks that share θ's slices between them: the node's with the node-shared exchange
    /// (its window, the MAX before the update, the state's gathering), else all of them.
    let group: Communicator
    /// Node-shared on several nodes: the ranks of this rank's local rank on the other nodes,
    /// which hold the same slice and allreduce its node sums; nil on one node.
    let peers: Communicator?
    /// After `reduce`: the sums of θ[slice] (`sums[0]` is θ[slice.lowerBound]'s) and the extras
    /// of `StepExtra`, over all ranks.
    let sums: UnsafeMutablePointer<T>
    let totals: UnsafeMutableBufferPointer<T>
    /// Node-shared on 2 ranks of one node, without exact sums or clipping: the slots' values
    /// are added in `measure`, in the update's pass over them (`reduce` adds the extras only).
    let addsInMeasure: Bool

    /// The reduction `exchange` asks for; for `.nodeShared` where the ranks cannot share memory
    /// (a collective decides it), `fallback`'s.
    init(_ exchange: GradientExchange, fallback: GradientExchange, layout: ParameterLayout, communicator: Communicator,
         clipping: Bool, shardCapacity: Int) {
        let count = layout.count
        let words = T.self == Float.self ? 1 : 2
        let shared = exchange.isNodeShared
            ? Self.sharedMemory(layout: layout, exactWords: exchange.chunkRows.map { _ in words }, communicator: communicator) : nil
        node = shared?.memory
        group = shared?.group ?? communicator
        peers = shared?.peers
        let exchange = exchange.isNodeShared && node == nil ? fallback : exchange
        self.exchange = exchange
        self.communicator = communicator
        shards = exchange.isSharded && group.size > 1 ? ParameterShards(count: count, size: group.size) : nil
        slice = shards?.range(rank: group.rank) ?? 0 ..< count
        check = UpdateCheck(count: count, clipping: clipping)
        buffer = node?.slot ?? FlatBuffer(layout: layout, extraCount: StepExtra.count)
        let exactSlot = node?.exactSlot
        exact = exchange.chunkRows.map { ExactGradient(layout: layout, chunkRows: $0, capacity: shardCapacity, sums: exactSlot) }
        // Node-shared without exact sums: the sums stay in this rank's slot; with them (and for
        // the other exchanges) they are written into `buffer`, this rank's own.
        if let node, node.slot != nil {
            sums = node.slots[node.rank] + slice.lowerBound
            totals = node.totals
        } else {
            sums = buffer.values.baseAddress!
            totals = buffer.extras
        }
        addsInMeasure = node?.slot != nil && node?.size == 2 && peers == nil && !clipping
    }

    /// The node-shared window: over all of `communicator` when its ranks share one node; else,
    /// when every node holds the same number of ranks, more than one (the slices are then the
    /// same on every node), over each node's ranks, with the ranks of the same local rank on
    /// the other nodes as `peers`. nil, on every rank, where neither can be had (one rank per
    /// node is today's allreduce: the fallback).
    private static func sharedMemory(layout: ParameterLayout, exactWords: Int?, communicator: Communicator)
        -> (memory: NodeSharedMemory<T>, group: Communicator, peers: Communicator?)? {
        if let memory = NodeSharedMemory<T>(layout: layout, exactWords: exactWords, communicator: communicator) {
            return (memory, communicator, nil)
        }
        guard communicator.size > 1, let group = communicator.splitByNode() else { return nil }
        var sizes: [Double] = [Double(group.size), -Double(group.size)]
        sizes.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
        guard sizes[0] == -sizes[1], group.size > 1 else { return nil }
        let memory = NodeSharedMemory<T>(layout: layout, exactWords: exactWords, communicator: group)
        // Each node decided alone: all of them must have a window.
        var failed: [Double] = [memory == nil ? 1 : 0]
        failed.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
        guard failed[0] == 0, let memory else { return nil }
        return (memory, group, communicator.split(color: group.rank, key: communicator.rank))
    }

    /// With the node-shared exchange, moves θ into the shared window (a collective).
    func adopt(_ parameters: FlatBuffer<T>) {
        node?.adopt(parameters, slice: slice)
    }

    /// Where the backward pass leaves the errors dZ⁽ˡ⁾: one buffer per layer when every layer's
    /// must stay for the exact sums, else the workspace's two in turn.
    func errors(_ workspace: Workspace<T>) -> [UnsafeMutablePointer<T>] { exact?.errors ?? workspace.errors }

    /// Where backward writes its gradient sums; nil with exact sums, whose chunk gradients wait
    /// for the bounds every rank agrees on (`addLocalSums`).
    var backwardTarget: FlatBuffer<T>? { exact == nil ? buffer : nil }

    /// Piece `i` of this rank's shard had loss `loss`: the exact sums keep each chunk's.
    @inline(__always)
    func recordPiece(_ i: Int, _ loss: ShardLoss) {
        guard let exact else { return }
        exact.chunkLosses[i] = loss.sum
        exact.chunkWeights[i] = loss.weightSum
    }

    /// This rank's loss sum, row count, correct count and interrupt flag into the slots after
    /// the gradient sums, before backward (the overlapped last layer's reduction carries them).
    func recordShard(_ local: ShardLoss, rows: Int) {
        let extras = buffer.extras
        extras[StepExtra.lossSum] = T(local.sum)
        extras[StepExtra.samples] = T(rows)
        extras[StepExtra.correct] = T(local.correct)
        extras[StepExtra.interrupted] = Interruption.received != 0 ? 1 : 0
        extras[StepExtra.signals] = T(Interruption.received)
        extras[StepExtra.weightSum] = T(local.weightSum)
    }

    /// Backward has finished layer l's sums: with per-layer reductions, start its allreduce.
    @inline(__always)
    func layerDone(_ l: Int) {
        if exchange == .overlappedAllreduce { communicator.startAllreduceSum(buffer.layerSlice(l)) }
    }

    /// With exact sums, after backward's errors: agree on the gradient's bounds (MAX), then each
    /// chunk's dW, db onto the fixed-point grid as integers (through `buffer`, which receives the
    /// sums later). Nothing for the other exchanges: backward wrote the sums.
    func addLocalSums(_ shard: BatchShard, network: Network<T>, workspace: Workspace<T>, correct: Int) {
        guard let exact, let grid = shard.grid else { return }
        exact.measureBounds(workspace, grid: grid, local: shard.chunks, firstRow: shard.rows.lowerBound)
        communicator.allreduceMax(exact.exponents)
        exact.finite = exact.prepareGrids(chunkCount: grid.count)
        if exact.finite {
            for l in 1 ... network.layout.layerCount {
                for i in 0 ..< shard.pieceCount {
                    network.layerGradient(l, workspace, rows: shard.piece(i), dZ: exact.errors[l - 1],
                                          weights: buffer.weights(l), biases: buffer.biases(l))
                    exact.add(layer: l, of: buffer, first: i == 0)
                }
            }
            if shard.chunks.isEmpty { exact.sums.update(repeating: 0) }
            exact.addLosses(count: shard.pieceCount, chunkCount: grid.count)
        }
        let counts = exact.counts
        counts[ExactCount.samples] = Int64(shard.rows.count)
        counts[ExactCount.correct] = Int64(correct)
        counts[ExactCount.interrupted] = Interruption.received != 0 ? 1 : 0
        counts[ExactCount.signals] = Int64(Interruption.received)
    }

    /// The sums over all ranks, the exchange's way: one allreduce of the whole buffer, the wait
    /// for the per-layer ones, or (sharded) the extras' allreduce and a reduce-scatter that
    /// leaves this rank's slice of the sums at the start of `buffer`; exact sums are added as
    /// integers and converted once into `buffer`.
    func reduce(_ shard: BatchShard) {
        switch exchange {
        case .allreduce: communicator.allreduceSum(buffer.storage)
        case .overlappedAllreduce: communicator.waitForReductions()
        case .reduceScatter:
            if let shards {
                communicator.allreduceSum(buffer.extras)
                communicator.reduceScatterSum(buffer.values, counts: shards.counts)
            } else {
                communicator.allreduceSum(buffer.storage)
            }
        case .exactSums: reduceExactly(chunkCount: shard.grid?.count ?? 0)
        case .nodeShared:
            guard let node else { return }
            if exact != nil { return reduceExactly(chunkCount: shard.grid?.count ?? 0) }
            node.memory.barrier()
            if addsInMeasure { return node.addExtras() }
            node.addSlots(slice: slice)
            // Several nodes: the slice's node sums with the same slice's on the other nodes, and
            // the extras alike (every peer group adds the same values in the same algorithm).
            if let peers {
                peers.allreduceSum(UnsafeMutableBufferPointer(start: sums, count: slice.count))
                peers.allreduceSum(totals)
            }
        }
    }

    private func reduceExactly(chunkCount: Int) {
        guard let exact else { return }
        let finite = exact.finite
        var sliceSums = exact.sums.baseAddress!
        if let node {
            node.memory.barrier()
            node.addExactSlots(slice: slice)
            exact.reduced = node.exactTotals
            sliceSums += exact.words * slice.lowerBound
            if let peers {
                peers.allreduceSum(UnsafeMutableBufferPointer(start: sliceSums, count: exact.words * slice.count))
                peers.allreduceSum(UnsafeMutableBufferPointer(start: node.exactTotals, count: ExactGradient<T>.tailCount))
            }
        } else if let shards {
            communicator.allreduceSum(exact.totalSums)
            if finite { communicator.reduceScatterSum(exact.gridSums, counts: exact.words == 1 ? shards.counts : shards.doubledCounts) }
        } else {
            communicator.allreduceSum(exact.sums)
        }
        if finite { exact.write(slice, from: sliceSums, into: buffer.values.baseAddress!) }
        let extras = buffer.extras, counts = exact.reduced + 4
        let totals = exact.totals(chunkCount: chunkCount)
        extras[StepExtra.lossSum] = finite ? T(totals.loss) : .nan
        extras[StepExtra.weightSum] = finite ? T(totals.weight) : T(counts[ExactCount.samples])
        extras[StepExtra.samples] = T(counts[ExactCount.samples])
        extras[StepExtra.correct] = T(counts[ExactCount.correct])
        extras[StepExtra.interrupted] = T(counts[ExactCount.interrupted])
        extras[StepExtra.signals] = T(counts[ExactCount.signals])
    }

    /// The update's check of g = sums·`scale` over this rank's slice (`UpdateCheck`), leaving
    /// g in the sums when `dividing`; with `addsInMeasure`, the slots' values added in the same
    /// pass.
    func measure(scale: T, dividing: Bool) {
        if addsInMeasure, let node {
            return check.record(finite: node.addSlotsAndCheck(slice: slice, scale: scale, scaling: dividing))
        }
        check.measure(sums, slice: slice, scale: scale, dividing: dividing)
    }

    /// After `measure` of this rank's slice: with shards, the MAX that gives every rank
    /// every slice's finiteness and block norms.
    func agreeOnCheck() {
        guard shards != nil else { return }
        // Node-shared: the slots' loads stay before the MAX, which orders them before any
        // rank's next stores into its slot or θ.
        node?.memory.synchronize()
        group.allreduceMax(check.values)
        node?.memory.synchronize()
    }

    /// With the sharded update, every rank's updated slice of θ to every rank, after a step that
    /// changed θ (`updated`, the same on every rank).
    /// Node-shared: the one barrier after the update, always (a skipped step still read the
    /// slots, which their owners write again in the next backward).
    func gatherSlices(of parameters: FlatBuffer<T>, updated: Bool) {
        if let node { return node.memory.barrier() }
        guard let shards, updated else { return }
        communicator.allgather(parameters.values, counts: shards.counts, displacements: shards.displacements)
    }

    /// The optimizer's state buffers of all of θ, for rank 0's checkpoint: with shards gathered
    /// from every rank's slice (a collective: every rank calls it); without, rank 0's own (the
    /// other ranks get nothing: they write no checkpoint).
    func gatheredState(_ optimizer: Optimizer<T>, count: Int) -> [(name: String, values: [T])] {
        guard shards != nil || communicator.rank == 0 else { return [] }
        return optimizer.stateBuffers.map { name, values in
            var whole = [T](repeating: 0, count: count)
            for i in 0 ..< values.count { whole[slice.lowerBound + i] = values[i] }
            if let shards {
                whole.withUnsafeMutableBufferPointer {
                    group.allgather($0, counts: shards.counts, displacements: shards.displacements)
                }
            }
            return (name, whole)
        }
    }
}

/// The slots after the gradient sums in the one reduction of a step.
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

extension FlatBuffer {
    /// Layer l's block [vec(W⁽ˡ⁾), b⁽ˡ⁾]; for the last layer it runs on through the extra slots
    /// (loss, counts), so they travel with it.
    func layerSlice(_ l: Int) -> UnsafeMutableBufferPointer<T> {
        let start = layout.weightOffsets[l - 1]
        let end = l == layout.layerCount ? storage.count : layout.weightOffsets[l]
        return UnsafeMutableBufferPointer(rebasing: storage[start ..< end])
    }
}
