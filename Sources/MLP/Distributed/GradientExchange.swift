/// How the ranks' gradient sums become every rank's exact mini-batch gradient: decided once
/// from the options (`init(allreduce:sharded:chunkRows:optimizer:)`), then the one thing the
/// step asks. Every case gives the same sums up to floating-point summation order; `exactSums`
/// gives them bit for bit on any number of ranks.
public enum GradientExchange: Equatable, Sendable {
    /// One blocking `MPI_Allreduce` of [gradient sums | extras] after backward.
    case allreduce
    /// One `MPI_Iallreduce` per layer, started as soon as backward has produced that layer
    /// (last layer first), then one wait. Every rank updates all of θ.
    case overlappedAllreduce
    /// `MPI_Reduce_scatter` of the sums, each rank updates its slice of θ and keeps that slice's
    /// optimizer state, then `MPI_Allgatherv` of θ (ZeRO stage 1, `ParameterShards`).
    case reduceScatter
    /// `--reproducible`: the batch cut into chunks of `chunkRows` rows whatever the ranks
    /// (`ChunkGrid`), each chunk's gradient rounded onto a fixed-point grid and the grid values
    /// summed as integers (`ExactGradient`): allreduced, or reduce-scattered when `sharded`.
    case exactSums(chunkRows: Int, sharded: Bool)
    /// `--allreduce shared`: the ranks of the node hold one θ in memory they share
    /// (`NodeSharedMemory`); backward writes each rank's sums into its own slot, and each rank
    /// adds its slice of θ's sums from every slot in rank order, then updates that slice of the
    /// shared θ in place and keeps that slice's optimizer state. No gradient or θ is copied
    /// between ranks. With `chunkRows` (`--reproducible`) the slots hold the chunks' integer
    /// grid sums, added exactly. Where the memory cannot be had, the trainer falls back to `fallback`.
    case nodeShared(chunkRows: Int?)

    /// The exchange the options ask for. `--sharded-update auto` shards where the update has
    /// state to share out (Adam, AdamW, SGD with momentum), where it measured faster; plain
    /// SGD's update is too cheap to pay for the reduce-scatter and allgather (docs/performance.md).
    /// Sharded with per-layer reductions cannot be built: they are allreduces.
    /// `--allreduce auto` is `shared` unless the update is not sharded (`--sharded-update off`):
    /// where the node's memory cannot be shared the trainer falls back to `single` (`fallback`).
    public init(allreduce: AllreduceMode, sharded: ShardedUpdateMode, chunkRows: Int?, optimizer: OptimizerSettings) throws {
        try Self.check(allreduce: allreduce, sharded: sharded, reproducible: chunkRows != nil)
        let allreduce = allreduce == .auto && sharded == .off ? .single : allreduce
        let wantsShards: Bool
        switch sharded {
        case .on: wantsShards = true
        case .off: wantsShards = false
        case .auto: wantsShards = allreduce == .single && (optimizer.kind != .sgd || optimizer.momentum != 0)
        }
        switch (allreduce, chunkRows) {
        case (.overlap, _): self = .overlappedAllreduce
        case (.shared, let chunkRows), (.auto, let chunkRows): self = .nodeShared(chunkRows: chunkRows)
        case (.single, let chunkRows?): self = .exactSums(chunkRows: chunkRows, sharded: wantsShards)
        case (.single, nil): self = wantsShards ? .reduceScatter : .allreduce
        }
    }

    /// Refuses the combinations no exchange is: per-layer reductions are allreduces of floating-
    /// point sums, so neither sharded nor exact. The command lines call it before MPI starts.
    public static func check(allreduce: AllreduceMode, sharded: ShardedUpdateMode, reproducible: Bool) throws {
        if allreduce == .auto { return }
        if allreduce == .shared {
            if sharded == .off {
                throw InputError("--allreduce shared updates each rank's slice of the node's one θ: "
                                 + "it cannot be combined with --sharded-update off")
            }
            return
        }
        guard allreduce == .overlap else { return }
        if reproducible {
            throw InputError("--reproducible combines the gradient its own way: it cannot be combined with --allreduce overlap")
        }
        if sharded == .on {
            throw InputError("--sharded-update on reduce-scatters the gradient: it cannot be combined with --allreduce overlap")
        }
    }

    /// Each rank updates only its slice of θ.
    public var isSharded: Bool {
        switch self {
        case .reduceScatter, .nodeShared: return true
        case .exactSums(_, let sharded): return sharded
        case .allreduce, .overlappedAllreduce: return false
        }
    }

    /// What `.nodeShared` becomes where the ranks cannot share memory (one rank, ranks on
    /// several nodes, no window): what `--allreduce single --sharded-update auto` makes.
    public func fallback(optimizer: OptimizerSettings) -> GradientExchange {
        guard case .nodeShared(let chunkRows) = self else { return self }
        return (try? GradientExchange(allreduce: .single, sharded: .auto, chunkRows: chunkRows, optimizer: optimizer)) ?? .reduceScatter
    }

    /// `--allreduce shared`, reproducible or not.
    public var isNodeShared: Bool {
        if case .nodeShared = self { return true }
        return false
    }

    /// `--reproducible`'s chunk rows; nil for the other exchanges.
    public var chunkRows: Int? {
        switch self {
        case .exactSums(let chunkRows, _): return chunkRows
        case .nodeShared(let chunkRows): return chunkRows
        case .allreduce, .overlappedAllreduce, .reduceScatter: return nil
        }
    }
}

/// `--allreduce`: how a step's sums travel: `single` and `overlap` by MPI collectives (sharded
/// or not), `shared` through the node's shared memory; `auto`, `shared` where it can be had.
public enum AllreduceMode: String, CaseIterable, Sendable {
    case auto, single, overlap, shared
}

/// `--sharded-update`: whether each rank updates only its slice of θ.
public enum ShardedUpdateMode: String, CaseIterable, Sendable {
    case auto, on, off
}

extension GradientExchange {
    /// The most rows a rank holds of a batch of `batchRows` rows: ⌈n_b / P⌉, or with chunks
    /// ⌈chunks / P⌉ whole chunks.
    func largestShard(batchRows: Int, ranks: Int) -> Int {
        guard let chunkRows else { return (batchRows + ranks - 1) / ranks }
        let chunks = ChunkGrid(rows: batchRows, chunkRows: chunkRows).count
        return min((chunks + ranks - 1) / ranks * chunkRows, batchRows)
    }
}

/// The rows of a mini-batch one rank computes, and the pieces forward and backward run on: one
/// piece, its contiguous shard of rows; with `--reproducible`, its whole chunks, one each.
struct BatchShard {
    /// The batch's rows this rank holds, counted from the batch's first row.
    let rows: Range<Int>
    /// The chunk grid and this rank's chunks of it; nil: one piece.
    let grid: ChunkGrid?
    let chunks: Range<Int>

    init(batchRows: Int, exchange: GradientExchange, rank: Int, size: Int) {
        if let chunkRows = exchange.chunkRows {
            let grid = ChunkGrid(rows: batchRows, chunkRows: chunkRows)
            self.grid = grid
            chunks = grid.chunks(rank: rank, size: size)
            rows = grid.rows(of: chunks)
        } else {
            grid = nil
            chunks = 0 ..< 1
            rows = shardRange(count: batchRows, rank: rank, size: size)
        }
    }

    var pieceCount: Int { chunks.count }

    /// Piece `i`'s rows in the workspace (which holds `rows` from its first row on).
    func piece(_ i: Int) -> Range<Int> {
        guard let grid else { return 0 ..< rows.count }
        let range = grid.rows(of: chunks.lowerBound + i)
        return range.lowerBound - rows.lowerBound ..< range.upperBound - rows.lowerBound
    }
}
