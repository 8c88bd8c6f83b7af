/// What data-parallel training needs from MPI, and nothing more.
///
/// Training depends on this protocol, not on MPI: `MPICommunicator` (module MLPMPI) runs
/// under `mpirun`; `SingleProcessCommunicator` is a world of size 1, so the single-node
/// fallback is the same code path.
public protocol Communicator: AnyObject {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// The number of ranks P.
    var size: Int { get }
    /// Element-wise sum over all ranks, in place; every rank receives the result.
    /// The corresponding MPI function is `MPI_Allreduce` with `MPI_SUM` and `MPI_IN_PLACE`.
    func allreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>)
    /// Element-wise sum of 64-bit integers over all ranks, in place: exact whatever the
    /// algorithm's order, which `--reproducible` relies on (`MPI_INT64_T`, `MPI_SUM`).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>)
    /// Element-wise sum over all ranks of the whole buffer, of which rank r receives only the
    /// `counts[r]` values from `displacements[r]` on, at the start of `buffer`
    /// (`MPI_Reduce_scatter` with `MPI_IN_PLACE`); the rest of `buffer` is left undefined.
    func reduceScatterSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32])
    /// `reduceScatterSum` of 64-bit integers: exact, like `allreduceSum(_:)` of them.
    func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Int64>, counts: [Int32])
    /// Every rank's `counts[rank]` values from `displacements[rank]` on, to every rank, in place
    /// (`MPI_Allgatherv` with `MPI_IN_PLACE`).
    func allgather<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32], displacements: [Int32])
    /// Element-wise maximum over all ranks, in place (`MPI_Allreduce` with `MPI_MAX`).
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Starts an element-wise sum over all ranks, in place, and returns at once
    /// (`MPI_Iallreduce`). Every rank starts the same sequence of them; `waitForReductions`
    /// finishes them all. The buffer must not be touched until then.
    func startAllreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>)
    /// Waits for every started reduction (`MPI_Waitall`).
    func waitForReductions()
    /// Copies rank 0's buffer to every rank (`MPI_Bcast`).
    func broadcast<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>)
    /// The ranks that pass the same `color` (≥ 0) as a communicator of their own, ranked by
    /// `key` then by rank here (`MPI_Comm_split`): a collective, every rank calls it. A group
    /// trains on its own: its agreements, watchdog and checksums are the group's, and a failure
    /// it agrees on is its result alone; `abort` still ends the whole job.
    func split(color: Int, key: Int) -> Communicator
    /// A queue of `items` (rank 0's; the other ranks pass any) that the leaders of this
    /// communicator's groups take from until it is empty, rank 0 receiving every record they
    /// report (`WorkQueue`); a collective. Under MPI it needs `MPI_THREAD_MULTIPLE`: rank 0
    /// answers on a thread of its own while it trains.
    func workQueue(items: [Int], receive: @escaping @Sendable ([UInt8]) -> Void) throws -> WorkQueue
    /// Ends every rank of the job at once (`MPI_Abort`): for failures that cannot be agreed on.
    func abort(exitCode: Int32) -> Never
    /// What this rank's collective watchdog reads (phase, step, the collective it waits in);
    /// nil when nothing watches (one process, or `--collective-timeout 0`).
    var collectiveRecord: CollectiveRecord? { get }
    /// This rank's node: the ranks sharing its memory and its cores (`NodeLayout`).
    var node: NodeLayout { get }
    /// A collective: `byteCount` bytes that every rank of this communicator reads and writes
    /// directly, when they all run on one node and the memory can be had; nil on every rank
    /// otherwise. It lives as long as the communicator. The corresponding MPI function is
    /// `MPI_Win_allocate_shared`.
    func allocateSharedMemory(byteCount: Int) -> SharedMemory?
    /// A collective: the ranks of this communicator that share this rank's node, as a group of
    /// their own ranked as here (`MPI_Comm_split_type` shared); nil without one (one process).
    func splitByNode() -> Communicator?
}

/// Memory the ranks of one node share (`Communicator.allocateSharedMemory`).
public protocol SharedMemory: AnyObject {
    /// The first shared byte, on a page boundary; `byteCount` bytes follow.
    var base: UnsafeMutableRawPointer { get }
    var byteCount: Int { get }
    /// Waits for every rank, and makes every store a rank made to the memory before it visible
    /// to every load after it (`MPI_Win_sync`, `MPI_Barrier`, `MPI_Win_sync`): a collective,
    /// watched like the others.
    func barrier()
    /// Orders this rank's accesses to the memory around a collective that is not `barrier`
    /// (`MPI_Win_sync`): the loads before it happen before the other ranks' stores after it.
    func synchronize()
}

extension Communicator {
    public var collectiveRecord: CollectiveRecord? { nil }
    public var node: NodeLayout { .singleProcess }
    /// No shared memory unless the communicator has it.
    public func allocateSharedMemory(byteCount: Int) -> SharedMemory? { nil }
    /// No nodes to tell apart unless the communicator can.
    public func splitByNode() -> Communicator? { nil }

    /// Tells the collective watchdog, if any, that the collectives that follow belong to `phase`
    /// at `step`: a local store, nothing is sent.
    @inline(__always)
    public func recordPhase(_ phase: CollectivePhase, step: Int) {
        collectiveRecord?.recordPhase(phase, step: step)
    }
}

/// A world of one process: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) {}
    public func startAllreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {}
    public func waitForReductions() {}
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func reduceScatterSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32]) {}
    public func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Int64>, counts: [Int32]) {}
    public func allgather<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32], displacements: [Int32]) {}
    public func broadcast<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {}
    public func abort(exitCode: Int32) -> Never { exit(exitCode) }
    /// One process is its only group.
    public func split(color: Int, key: Int) -> Communicator { self }
}

/// A failure that every rank has agreed on; `message` was printed (or is to be printed) by
/// `reportingRank` only, so the job shows one line, not P copies.
public struct AgreedFailure: Error, CustomStringConvertible {
    public var message: String
    public var reportingRank: Int
    /// The process's exit status (`ExitStatus`).
    public var exitCode: Int32 = ExitStatus.badInput
    public var description: String { message }
    public init(message: String, reportingRank: Int, exitCode: Int32 = ExitStatus.badInput) {
        self.message = message
        self.reportingRank = reportingRank
        self.exitCode = exitCode
    }
}

extension Communicator {
    /// Runs `body` on every rank and agrees on whether it failed anywhere, so a rank that failed
    /// never leaves the others waiting in the next collective.
    ///
    /// Throws `AgreedFailure` on every rank if any rank threw; its message is the error of the
    /// lowest failing rank, prefixed with that rank when some ranks did not fail (when all
    /// failed, they failed alike), and `reportingRank` is that rank.
    public func agree<Result>(_ body: () throws -> Result) throws -> Result {
        var result: Result?
        var message = ""
        do { result = try body() } catch { message = "\(error)" }
        let failed = result == nil
        // max over ranks of (P − rank) for failing ranks: 0 if none failed, else the lowest one;
        // max of (failed ? −1 : 0): −1 only if every rank failed.
        var flags: [Double] = [failed ? Double(size - rank) : 0, failed ? -1 : 0]
        flags.withUnsafeMutableBufferPointer { allreduceMax($0) }
        if flags[0] == 0, let result { return result }
        let failingRank = size - Int(flags[0]), allFailed = flags[1] < 0
        let prefix = !allFailed && failingRank == rank ? "rank \(rank): " : ""
        Interruption.exiting()   // a signal from here on is mpirun ending this failed job
        throw AgreedFailure(message: prefix + message, reportingRank: failingRank)
    }
}

#if canImport(Glibc)
import Glibc
#endif
