import CMPI
import Foundation
import MLP

/// The `Communicator` over MPI's `MPI_COMM_WORLD`, or over a group of its ranks (`split`). With
/// `CollectiveWatchdog` (the watchdog's messages), the only Swift code that talks to MPI.
///
/// MPI lives as long as the world's scope: its `init` calls `MPI_Init_thread`, its `finalize()`
/// stops the watchdog and calls `MPI_Finalize` once (the command line calls it on every exit
/// path but `abort`); a group's `finalize()` frees the group's communicator only.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// What the watchdog reads; nil without one (`--collective-timeout 0`, one rank).
    public let collectiveRecord: CollectiveRecord?
    /// The ranks on this rank's node and those sharing its cores (a group keeps the world's).
    public let node: NodeLayout
    /// MPI_COMM_WORLD, or a group's communicator.
    private var world: MPI_Comm
    private let isGroup: Bool
    private let watchdog: CollectiveWatchdog?
    private let collectiveTimeout: CollectiveTimeout?
    /// Whether MPI lets several threads call it (`MPI_THREAD_MULTIPLE`).
    private let threadsAllowed: Bool
    private var finalized = false
    /// The groups split from this communicator: finalized before it.
    private var groups: [MPICommunicator] = []
    /// Its shared windows: freed when it is finalized (θ may live in one until then).
    private var windows: [MPISharedMemory] = []
    /// Requests of started reductions: a fixed pool, so a step allocates nothing.
    private let requests = UnsafeMutablePointer<MPI_Request?>.allocate(capacity: MPICommunicator.maximumPendingReductions)
    private var pendingReductions = 0
    static let maximumPendingReductions = 256

    /// True when this process was started by an MPI launcher (`mpirun`, `srun`, …); without one,
    /// `mlp` runs as a single process and never initializes MPI (no daemon, no MPI noise).
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"].contains { environment[$0] != nil }
    }

    /// Initializes MPI; with a `collectiveTimeout` and more than one rank, starts this rank's
    /// collective watchdog (which needs `MPI_THREAD_MULTIPLE`: without it, rank 0 says the
    /// watchdog is off and training goes on without one). `multipleThreads`: ask for
    /// `MPI_THREAD_MULTIPLE` without a watchdog too (`mlp sweep`'s queue answers on a thread).
    public convenience init(collectiveTimeout: CollectiveTimeout? = nil, multipleThreads: Bool = false) {
        var initialized: Int32 = 0, provided: Int32 = 0
        Self.check(MPI_Initialized(&initialized), "MPI_Initialized", rank: nil)
        if initialized == 0 {
            // Only the watchdog's thread calls MPI besides the main thread; without it, MPI's
            // single-threaded mode (no locks).
            let required = collectiveTimeout == nil && !multipleThreads ? cmpi_thread_single() : cmpi_thread_multiple()
            Self.check(MPI_Init_thread(nil, nil, required, &provided), "MPI_Init_thread", rank: nil)
        } else {
            Self.check(MPI_Query_thread(&provided), "MPI_Query_thread", rank: nil)
        }
        let world: MPI_Comm = cmpi_comm_world()
        // Return error codes instead of aborting inside MPI, so `check` can say what failed.
        Self.check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler", rank: nil)
        self.init(world, isGroup: false, node: Self.nodeLayout(world), collectiveTimeout: collectiveTimeout, threadLevel: provided)
    }

    /// The communicator over `communicator`'s ranks, with a watchdog of its own.
    private init(_ communicator: MPI_Comm, isGroup: Bool, node: NodeLayout, collectiveTimeout: CollectiveTimeout?,
                 threadLevel provided: Int32) {
        world = communicator
        threadsAllowed = provided >= cmpi_thread_multiple()
        self.node = node
        self.isGroup = isGroup
        self.collectiveTimeout = collectiveTimeout
        var rank: Int32 = 0, size: Int32 = 0
        Self.check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank", rank: nil)
        Self.check(MPI_Comm_size(world, &size), "MPI_Comm_size", rank: Int(rank))
        self.rank = Int(rank)
        self.size = Int(size)

        // One process has nothing to wait for.
        let watchdog = size > 1 ? CollectiveWatchdog(world: world, rank: Int(rank), size: Int(size)) : nil
        var record: CollectiveRecord?
        if let watchdog, let collectiveTimeout {
            if provided >= cmpi_thread_multiple() {
                record = CollectiveRecord()
                watchdog.start(record: record!, timeout: collectiveTimeout)
            } else if rank == 0, !isGroup {
                FileHandle.standardError.write(Data(("mlp: warning: this MPI library provides thread level \(provided), "
                    + "not MPI_THREAD_MULTIPLE (\(cmpi_thread_multiple())): the collective watchdog (--collective-timeout) is off\n").utf8))
            }
        }
        self.watchdog = watchdog
        collectiveRecord = record
    }

    /// The ranks that pass the same `color` form one group, ranked by `key` (then by rank here):
    /// `MPI_Comm_split`, a collective of this communicator. The group gets a watchdog of its own;
    /// an abort in it still ends the whole job (`abort` is the world's).
    public func split(color: Int, key: Int) -> Communicator {
        precondition(color >= 0 && color <= Int(Int32.max) && key >= 0 && key <= Int(Int32.max))
        var group: MPI_Comm?
        check(watched { MPI_Comm_split(world, Int32(color), Int32(key), &group) }, "MPI_Comm_split")
        return adoptGroup(group!)
    }

    /// A group split from this communicator as a communicator of its own, with its own watchdog,
    /// finalized before this one.
    private func adoptGroup(_ group: MPI_Comm) -> MPICommunicator {
        var provided: Int32 = 0
        check(MPI_Query_thread(&provided), "MPI_Query_thread")
        let communicator = MPICommunicator(group, isGroup: true, node: node, collectiveTimeout: collectiveTimeout,
                                           threadLevel: provided)
        groups.append(communicator)
        return communicator
    }

    /// `mlp sweep`'s queue over this communicator's ranks (`MPIWorkQueue`); a collective.
    public func workQueue(items: [Int], receive: @escaping @Sendable ([UInt8]) -> Void) throws -> WorkQueue {
        guard threadsAllowed || size == 1 else {
            throw InputError("this MPI library does not provide MPI_THREAD_MULTIPLE, which the sweep's queue needs "
                + "(rank 0 answers the groups on a thread while it trains)")
        }
        return MPIWorkQueue(self, world: world, items: items, receive: receive)
    }

    /// The node-local communicator (`MPI_Comm_split_type` shared) and the ranks' affinity masks
    /// over it: how many ranks share this node, and how many of them share this rank's cores.
    private static func nodeLayout(_ world: MPI_Comm) -> NodeLayout {
        var worldRank: Int32 = 0
        check(MPI_Comm_rank(world, &worldRank), "MPI_Comm_rank", rank: nil)
        var node: MPI_Comm?
        check(MPI_Comm_split_type(world, cmpi_comm_type_shared(), worldRank, cmpi_info_null(), &node), "MPI_Comm_split_type",
              rank: Int(worldRank))
        defer { check(MPI_Comm_free(&node), "MPI_Comm_free", rank: Int(worldRank)) }
        var size: Int32 = 0
        check(MPI_Comm_size(node, &size), "MPI_Comm_size", rank: Int(worldRank))
        let mine = CoreAffinity.current, width = CoreAffinity.byteCount
        var all = [UInt8](repeating: 0, count: width * Int(size))
        check(MPI_Allgather(mine.mask, Int32(width), cmpi_byte(), &all, Int32(width), cmpi_byte(), node), "MPI_Allgather",
              rank: Int(worldRank))
        let sharing = (0 ..< Int(size)).count { CoreAffinity(mask: Array(all[$0 * width ..< ($0 + 1) * width])).overlaps(mine) }
        return NodeLayout(ranksOnNode: Int(size), ranksSharingCores: sharing, cores: mine.count)
    }

    public func finalize() {
        guard !finalized else { return }
        finalized = true
        groups.forEach { $0.finalize() }
        windows.forEach { $0.free() }
        watchdog?.stop()
        if isGroup {
            var group: MPI_Comm? = world
            check(MPI_Comm_free(&group), "MPI_Comm_free")
        } else {
            check(MPI_Finalize(), "MPI_Finalize")
        }
    }

    /// One window of `byteCount` bytes (plus a page, to start on a page boundary), allocated by
    /// rank 0 and mapped by every rank, when this communicator's ranks are all on one node
    /// (`MPI_Comm_split_type` shared gives them all); every rank then holds a passive-target
    /// epoch on it for its whole life (`MPI_Win_lock_all`), so loads and stores need only
    /// `MPI_Win_sync` and a barrier. If the allocation fails on any rank, every rank frees
    /// what it got and returns nil.
    public func allocateSharedMemory(byteCount: Int) -> SharedMemory? {
        guard size > 1, byteCount > 0 else { return nil }
        var node: MPI_Comm?
        check(watched { MPI_Comm_split_type(world, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &node) },
              "MPI_Comm_split_type")
        var nodeSize: Int32 = 0
        check(MPI_Comm_size(node, &nodeSize), "MPI_Comm_size")
        check(MPI_Comm_free(&node), "MPI_Comm_free")
        // Every rank sees the same answer: all on one node, or each node smaller than the communicator.
        guard nodeSize == Int32(size) else { return nil }
        let page = 4096, bytes = rank == 0 ? byteCount + page : 0
        // OpenMPI backs the window with a file in its shmem directory, /dev/shm; where that has
        // less room, it warns and maps the file all the same, and the first store past the room
        // kills the rank (SIGBUS). Rank 0, which allocates the window, checks first.
        var noRoom: [Double] = [rank == 0 && !Self.sharedMemoryHasRoom(for: bytes) ? 1 : 0]
        noRoom.withUnsafeMutableBufferPointer { allreduceMax($0) }
        guard noRoom[0] == 0 else { return nil }
        var window: MPI_Win? = cmpi_win_null()
        var mine: UnsafeMutableRawPointer?
        let allocated = watched { MPI_Win_allocate_shared(MPI_Aint(bytes), 1, cmpi_info_null(), world, &mine, &window) }
        var base: UnsafeMutableRawPointer?
        if allocated == cmpi_success() {
            var length: MPI_Aint = 0, unit: Int32 = 0
            if MPI_Win_shared_query(window, 0, &length, &unit, &base) != cmpi_success() || Int(length) < byteCount + page { base = nil }
        }
        var failed: [Double] = [base == nil ? 1 : 0]
        failed.withUnsafeMutableBufferPointer { allreduceMax($0) }
        guard failed[0] == 0, let base else {
            if allocated == cmpi_success() { check(watched { MPI_Win_free(&window) }, "MPI_Win_free") }
            return nil
        }
        check(MPI_Win_lock_all(cmpi_mode_nocheck(), window), "MPI_Win_lock_all")
        let aligned = UnsafeMutableRawPointer(bitPattern: (UInt(bitPattern: base) + UInt(page - 1)) & ~UInt(page - 1))!
        let memory = MPISharedMemory(window: window!, base: aligned, byteCount: byteCount, communicator: self)
        windows.append(memory)
        return memory
    }

    /// Whether OpenMPI's shared-memory directory (`shmem_mmap_backing_file_base_dir`, /dev/shm
    /// by default) has `bytes` free, and a mebibyte for its own segments' headers; true where
    /// it cannot be told (no such directory: OpenMPI then uses its session directory).
    static func sharedMemoryHasRoom(for bytes: Int) -> Bool {
        let directory = ProcessInfo.processInfo.environment["OMPI_MCA_shmem_mmap_backing_file_base_dir"] ?? "/dev/shm"
        var status = statvfs()
        guard statvfs(directory, &status) == 0 else { return true }
        return Int(status.f_bavail) * Int(status.f_frsize) >= bytes + (1 << 20)
    }

    /// The ranks on this rank's node as a group (`MPI_Comm_split_type` shared, ranked by rank
    /// here), with a watchdog of its own, like `split`'s.
    public func splitByNode() -> Communicator? {
        var group: MPI_Comm?
        check(watched { MPI_Comm_split_type(world, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &group) },
              "MPI_Comm_split_type")
        return adoptGroup(group!)
    }

    /// `MPI_Barrier`, watched.
    func barrier() {
        check(watched { MPI_Barrier(world) }, "MPI_Barrier")
    }

    public func allreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        check(watched { MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, count(buffer), datatype(T.self), cmpi_sum(), world) },
              "MPI_Allreduce")
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) {
        check(watched { MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, count(buffer), cmpi_int64(), cmpi_sum(), world) },
              "MPI_Allreduce")
    }

    public func reduceScatterSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32]) {
        check(watched { MPI_Reduce_scatter(cmpi_in_place(), buffer.baseAddress, counts, datatype(T.self), cmpi_sum(), world) },
              "MPI_Reduce_scatter")
    }

    public func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Int64>, counts: [Int32]) {
        check(watched { MPI_Reduce_scatter(cmpi_in_place(), buffer.baseAddress, counts, cmpi_int64(), cmpi_sum(), world) },
              "MPI_Reduce_scatter")
    }

    public func allgather<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32], displacements: [Int32]) {
        check(watched {
            MPI_Allgatherv(cmpi_in_place(), 0, cmpi_datatype_null(), buffer.baseAddress, counts, displacements, datatype(T.self), world)
        }, "MPI_Allgatherv")
    }

    public func startAllreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        precondition(pendingReductions < Self.maximumPendingReductions, "too many reductions in flight")
        check(MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress, count(buffer), datatype(T.self), cmpi_sum(), world,
                             requests + pendingReductions), "MPI_Iallreduce")
        pendingReductions += 1
    }

    public func waitForReductions() {
        guard pendingReductions > 0 else { return }
        check(watched { MPI_Waitall(Int32(pendingReductions), requests, nil) }, "MPI_Waitall")
        pendingReductions = 0
    }

    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {
        check(watched { MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, count(buffer), cmpi_double(), cmpi_max(), world) },
              "MPI_Allreduce")
    }

    public func broadcast<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        check(watched { MPI_Bcast(buffer.baseAddress, count(buffer), datatype(T.self), 0, world) }, "MPI_Bcast")
    }

    /// A blocking collective, recorded for the watchdog: entered before, left after (local
    /// stores; a closure passed straight in, so nothing is allocated).
    @inline(__always)
    private func watched(_ collective: () -> Int32) -> Int32 {
        collectiveRecord?.enterCollective()
        let code = collective()
        collectiveRecord?.leaveCollective()
        return code
    }

    public func abort(exitCode: Int32) -> Never {
        Self.abort(cmpi_comm_world(), exitCode: exitCode)
    }

    /// `MPI_Abort` on `communicator`, which ends every rank of the job; should it return (it
    /// does not, unless MPI is broken), this process exits with the same code.
    static func abort(_ communicator: MPI_Comm, exitCode: Int32) -> Never {
        _ = MPI_Abort(communicator, exitCode)
        exit(exitCode)
    }

    private func datatype<T: Scalar>(_: T.Type) -> MPI_Datatype {
        switch T.precision {
        case .float32: return cmpi_float()
        case .float64: return cmpi_double()
        }
    }

    private func count<T>(_ buffer: UnsafeMutableBufferPointer<T>) -> Int32 {
        precondition(buffer.count <= Int(Int32.max), "buffer too large for one MPI call")
        return Int32(buffer.count)
    }

    /// Every MPI return code goes through here: on failure, say which call on which rank, then
    /// end the whole job (a rank that returned early would leave the others waiting).
    func check(_ code: Int32, _ call: String, file: StaticString = #fileID, line: UInt = #line) {
        Self.check(code, call, rank: rank, file: file, line: line)
    }

    /// `check` for code that runs before the rank is known (start-up) or off the main thread.
    /// Before `MPI_Init` has succeeded and after `MPI_Finalize`, `MPI_Abort` is not allowed:
    /// the process exits by itself (mpirun then ends the others, as for a rank that died).
    static func check(_ code: Int32, _ call: String, rank: Int?, file: StaticString = #fileID, line: UInt = #line) {
        guard code != cmpi_success() else { return }
        let who = rank.map { "rank \($0)" } ?? "rank \(MPICommunicator.launcherRank.map(String.init) ?? "?")"
        FileHandle.standardError.write(Data("mlp: error: \(who): \(call) failed: \(errorText(code)) (\(file):\(line))\n".utf8))
        var initialized: Int32 = 0, finalized: Int32 = 0
        // Both may be called at any time, before MPI_Init and after MPI_Finalize; if either
        // fails, MPI is unusable and exiting is all that is left.
        let usable = MPI_Initialized(&initialized) == cmpi_success() && MPI_Finalized(&finalized) == cmpi_success()
        if usable, initialized != 0, finalized == 0 { abort(cmpi_comm_world(), exitCode: ExitStatus.mpiFailed) }
        exit(ExitStatus.mpiFailed)
    }

    /// MPI's text for an error code (`MPI_Error_string`), or the bare code if it has none.
    static func errorText(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: 1024)
        var length: Int32 = 0
        guard MPI_Error_string(code, &text, &length) == cmpi_success() else { return "MPI error \(code)" }
        return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// This process's rank as the launcher set it, for messages before MPI can say; nil without a launcher.
    public static var launcherRank: Int? {
        let environment = ProcessInfo.processInfo.environment
        // Else srun's task index (the rank when srun starts the ranks), if Slurm's variables make sense.
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { environment[$0].flatMap(Int.init) }.first
            ?? SlurmStep.from(environment).step?.taskIndex
    }
}


/// A shared window of an `MPICommunicator`'s ranks (`allocateSharedMemory`).
final class MPISharedMemory: SharedMemory {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    private var window: MPI_Win?
    private unowned let communicator: MPICommunicator

    init(window: MPI_Win, base: UnsafeMutableRawPointer, byteCount: Int, communicator: MPICommunicator) {
        self.window = window
        self.base = base
        self.byteCount = byteCount
        self.communicator = communicator
    }

    func barrier() {
        synchronize()
        communicator.barrier()
        synchronize()
    }

    func synchronize() {
        communicator.check(MPI_Win_sync(window), "MPI_Win_sync")
    }

    /// Ends the epoch and frees the window (a collective), when the communicator is finalized.
    func free() {
        guard window != nil else { return }
        communicator.check(MPI_Win_unlock_all(window), "MPI_Win_unlock_all")
        communicator.check(MPI_Win_free(&window), "MPI_Win_free")
        window = nil
    }
}
