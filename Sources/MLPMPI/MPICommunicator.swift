import CMPI
import Foundation
import MLP

/// The `Communicator` over MPI's `MPI_COMM_WORLD`. The only Swift code that talks to MPI.
///
/// MPI lives as long as this object's scope: `init` calls `MPI_Init`, `finalize()` calls
/// `MPI_Finalize` once (the command line calls it on every exit path but `abort`).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let world: MPI_Comm
    private var finalized = false
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

    public init() {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 { MPI_Init(nil, nil) }
        world = cmpi_comm_world()
        // Return error codes instead of aborting inside MPI, so `check` can say what failed.
        MPI_Comm_set_errhandler(world, cmpi_errors_return())
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(world, &rank)
        MPI_Comm_size(world, &size)
        self.rank = Int(rank)
        self.size = Int(size)
    }

    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    public func allreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        check(MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, count(buffer), datatype(T.self), cmpi_sum(), world), "MPI_Allreduce")
    }

    public func startAllreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        precondition(pendingReductions < Self.maximumPendingReductions, "too many reductions in flight")
        check(MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress, count(buffer), datatype(T.self), cmpi_sum(), world,
                             requests + pendingReductions), "MPI_Iallreduce")
        pendingReductions += 1
    }

    public func waitForReductions() {
        guard pendingReductions > 0 else { return }
        check(MPI_Waitall(Int32(pendingReductions), requests, nil), "MPI_Waitall")
        pendingReductions = 0
    }

    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {
        check(MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, count(buffer), cmpi_double(), cmpi_max(), world), "MPI_Allreduce")
    }

    public func broadcast<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        check(MPI_Bcast(buffer.baseAddress, count(buffer), datatype(T.self), 0, world), "MPI_Bcast")
    }

    public func abort(exitCode: Int32) -> Never {
        MPI_Abort(world, exitCode)
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
    private func check(_ code: Int32, _ call: String, file: StaticString = #fileID, line: UInt = #line) {
        guard code != cmpi_success() else { return }
        var text = [CChar](repeating: 0, count: 1024)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        FileHandle.standardError.write(Data("mlp: rank \(rank): \(call) failed: \(message) (\(file):\(line))\n".utf8))
        abort(exitCode: ExitStatus.mpiFailed)
    }
}
