/// The node-shared exchange's memory (`GradientExchange.nodeShared`): in one window that the
/// ranks of the node share, θ, then one slot per rank [gradient sums | `StepExtra` slots],
/// each array from a page boundary. The slices of θ are whole blocks of
/// `ParameterShards.blockLength` values (4 KiB in float32, 8 in float64), so no two ranks ever
/// write one cache line or one page.
///
/// A step, for rank r of P:
///
///     backward          slot_r ← this rank's sums (and loss, counts, Σwᵢ, interrupt flags)
///     barrier           every slot is written
///     addSlots          slot_r[slice_r] ← ((slot_0 + slot_1) + slot_2) + …   (rank order)
///                       totals ← the extras added alike on every rank
///                       (on 2 ranks without clipping, in the same pass as g's finiteness)
///     MAX allreduce     g's finiteness and clipping's block norms, before any rank writes θ
///     update            θ[slice_r] and this slice's optimizer state, in place
///     barrier           θ is whole before the next forward reads it, and every rank has
///                       read the slots before their owners write them again
///
/// On 2 ranks each sum is s₀ + s₁, which is what `MPI_Allreduce` gives (two terms add alike in
/// either order): the models are the allreduce's, bit for bit. With `--reproducible` the slots
/// hold `ExactGradient`'s Int64 grid sums and counts instead, added exactly (`addExactSlots`). No gradient and no θ crosses
/// between the ranks' memories: the adds read the other slots where backward left them, and
/// the next forward reads the updated θ where the update left it.
final class NodeSharedMemory<T: Scalar> {
    let memory: SharedMemory
    let rank: Int, size: Int
    let layout: ParameterLayout
    /// θ in the window (`adopt` moves the network's there).
    let theta: UnsafeMutableBufferPointer<T>
    /// Slot q's first value, q = 0 ..< P: [gradient sums | extras]; empty with exact sums.
    let slots: [UnsafeMutablePointer<T>]
    /// This rank's slot, as the buffer backward writes into; nil with exact sums.
    let slot: FlatBuffer<T>?
    /// The extras added over the slots: this rank's own copy (the slots' extras are read by
    /// every rank, so no rank writes the totals there).
    let totals: UnsafeMutableBufferPointer<T>
    /// With exact sums (`words` Int64 per value of θ): slot q's [grid sums | loss and weight
    /// sums | counts] (`ExactGradient.sums`' layout), and this rank's copy of the tail's totals.
    let exactSlots: [UnsafeMutablePointer<Int64>]
    let exactTotals: UnsafeMutablePointer<Int64>
    let words: Int
    /// One block of sums, with more than 2 ranks (`addSlots`).
    private let scratch: UnsafeMutablePointer<T>

    /// The window for `layout` over `communicator`'s ranks, with slots of gradient sums in T, or
    /// with `exactWords` of `ExactGradient`'s integer sums; nil on every rank when they do not
    /// all share one node or the window cannot be had (a collective).
    init?(layout: ParameterLayout, exactWords: Int?, communicator: Communicator) {
        let page = 4096
        func pageBytes(_ bytes: Int) -> Int { (bytes + page - 1) / page * page }
        let slotLength = layout.count + StepExtra.count
        let exactLength = exactWords.map { $0 * layout.count + ExactGradient<T>.tailCount } ?? 0
        let thetaBytes = pageBytes(layout.count * MemoryLayout<T>.stride)
        let slotBytes = pageBytes(exactWords == nil ? slotLength * MemoryLayout<T>.stride : exactLength * MemoryLayout<Int64>.stride)
        guard let memory = communicator.allocateSharedMemory(byteCount: thetaBytes + communicator.size * slotBytes) else {
            return nil
        }
        self.memory = memory
        self.layout = layout
        rank = communicator.rank
        size = communicator.size
        words = exactWords ?? 0
        let base = memory.base
        theta = UnsafeMutableBufferPointer(start: base.bindMemory(to: T.self, capacity: layout.count), count: layout.count)
        let raw = (0 ..< size).map { base + thetaBytes + $0 * slotBytes }
        if exactWords == nil {
            slots = raw.map { $0.bindMemory(to: T.self, capacity: slotLength) }
            slot = FlatBuffer(layout: layout, extraCount: StepExtra.count,
                              wrapping: UnsafeMutableBufferPointer(start: slots[rank], count: slotLength))
            exactSlots = []
        } else {
            slots = []
            slot = nil
            exactSlots = raw.map { $0.bindMemory(to: Int64.self, capacity: exactLength) }
        }
        totals = .allocate(capacity: StepExtra.count)
        totals.initialize(repeating: 0)
        exactTotals = .allocate(capacity: ExactGradient<T>.tailCount)
        exactTotals.initialize(repeating: 0, count: ExactGradient<T>.tailCount)
        scratch = .allocate(capacity: ParameterShards.blockLength)
    }

    deinit {
        totals.deallocate()
        exactTotals.deallocate()
        scratch.deallocate()
    }

    /// This rank's exact slot: `ExactGradient`'s sums, which its chunks add into.
    var exactSlot: UnsafeMutableBufferPointer<Int64>? {
        exactSlots.isEmpty ? nil : UnsafeMutableBufferPointer(start: exactSlots[rank], count: words * layout.count + ExactGradient<T>.tailCount)
    }

    /// `addSlots` for the exact sums, after the barrier that follows backward: θ[slice]'s grid
    /// sums over every slot, into this rank's own slot (each further slot added in place: integer
    /// sums are exact in any order), and the tail (loss, weight sum, counts) into `exactTotals`.
    func addExactSlots(slice: Range<Int>) {
        let start = words * slice.lowerBound, count = words * slice.count
        let target = exactSlots[rank] + start
        for q in 0 ..< size where q != rank {
            let other = exactSlots[q] + start
            for i in 0 ..< count { target[i] &+= other[i] }
        }
        let tail = words * layout.count
        for e in 0 ..< ExactGradient<T>.tailCount {
            var total: Int64 = 0
            for q in 0 ..< size { total &+= exactSlots[q][tail + e] }
            exactTotals[e] = total
        }
    }

    /// Moves `parameters` (the same values on every rank) into the window: each rank copies
    /// its slice, so its pages are first touched, and placed, by the rank that updates them;
    /// after the barrier every rank's network reads θ there. A collective.
    func adopt(_ parameters: FlatBuffer<T>, slice: Range<Int>) {
        precondition(parameters.layout == layout && parameters.extraCount == 0)
        let source = parameters.values.baseAddress!, target = theta.baseAddress!
        (target + slice.lowerBound).update(from: source + slice.lowerBound, count: slice.count)
        memory.barrier()
        parameters.relocate(to: theta)
    }

    /// After the barrier that follows backward: θ[slice]'s sums over every slot, added in rank
    /// order, into this rank's own slot (no other rank reads that part of it), and the extras,
    /// added in the same order on every rank, into `totals`.
    func addSlots(slice: Range<Int>) {
        let count = slice.count, start = slice.lowerBound
        let target = slots[rank] + start, first = slots[0] + start, second = slots[min(1, size - 1)] + start
        if size == 1 {
            // One rank (an in-process test's window): its slot holds the sums already.
        } else if size == 2 {
            // One pass; the target is one of the two terms, each read before it is written.
            for i in 0 ..< count { target[i] = first[i] + second[i] }
        } else {
            // The target is also a term (slot r, added r-th): a block at a time in `scratch`,
            // each further slot in its own vectorized pass over it, in rank order.
            let scratch = scratch, length = ParameterShards.blockLength
            var low = 0
            while low < count {
                let n = min(length, count - low)
                for i in 0 ..< n { scratch[i] = first[low + i] + second[low + i] }
                for q in 2 ..< size {
                    let next = slots[q] + start + low
                    for i in 0 ..< n { scratch[i] += next[i] }
                }
                (target + low).update(from: scratch, count: n)
                low += n
            }
        }
        addExtras()
    }

    /// The extras over every slot, added in rank order on every rank, into `totals`.
    func addExtras() {
        let extras = layout.count
        for e in 0 ..< StepExtra.count {
            var total = slots[0][extras + e]
            for q in 1 ..< size { total += slots[q][extras + e] }
            totals[e] = total
        }
    }

    /// On 2 ranks, after `addExtras`: `addSlots`' values and the update's check (`UpdateCheck`
    /// without clipping) in one pass: θ[slice]'s sums s₀ + s₁ into this rank's slot, times
    /// `scale` when `scaling` (plain SGD's g), and whether every (s₀ + s₁)·scale is finite.
    func addSlotsAndCheck(slice: Range<Int>, scale: T, scaling: Bool) -> Bool {
        precondition(size == 2)
        let start = slice.lowerBound
        return T.sumsScaledAreFinite(slots[0] + start, slots[1] + start, into: slots[rank] + start, count: slice.count, by: scale,
                                     scaling: scaling)
    }
}
