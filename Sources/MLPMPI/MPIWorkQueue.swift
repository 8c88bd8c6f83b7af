// The third Swift file that talks to MPI (with MPICommunicator.swift and CollectiveWatchdog.swift):
// `mlp sweep`'s shared queue of trials.
import CMPI
import Foundation
import MLP
import Synchronization

/// `WorkQueue` over MPI: rank 0 holds the items and answers on a thread of its own, so it
/// trains in a group like any other rank; a group's leader asks point to point. Its messages
/// travel on a duplicate of the communicator, never matching training's. Nothing blocks in MPI
/// (OpenMPI's blocking calls spin a core, which training needs): the thread probes every
/// `pollInterval`, an asker tests its two requests as often. Rank 0's own group takes items
/// without a message.
///
/// Messages: a question is the bytes of the record it reports (none: nothing finished yet); an
/// answer is one int64, the next item or −1 for none left.
// @unchecked Sendable: after `init` the channel and the answer slots belong to the thread alone
// until `close` has joined it; `stopping` is atomic; the state is locked.
final class MPIWorkQueue: WorkQueue, @unchecked Sendable {
    private let communicator: MPICommunicator
    private var channel: MPI_Comm?
    private let state: WorkQueueState?
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    /// The answer to each rank and its send, reused once that send has completed.
    private let answers: UnsafeMutablePointer<Int64>
    private let answerRequests: UnsafeMutablePointer<MPI_Request?>

    static let questionTag: Int32 = 1
    static let answerTag: Int32 = 2
    /// How often the thread looks for questions and an asker for its answer (seconds): small
    /// against a trial, and the thread sleeps in between.
    static let pollInterval = 0.002

    /// Collective over `communicator`: duplicates it, and on rank 0 starts the thread.
    init(_ communicator: MPICommunicator, world: MPI_Comm, items: [Int], receive: @escaping @Sendable ([UInt8]) -> Void) {
        self.communicator = communicator
        var channel: MPI_Comm?
        communicator.check(MPI_Comm_dup(world, &channel), "MPI_Comm_dup")
        communicator.check(MPI_Comm_set_errhandler(channel, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        self.channel = channel
        answers = .allocate(capacity: communicator.size)
        answerRequests = .allocate(capacity: communicator.size)
        answerRequests.initialize(repeating: cmpi_request_null(), count: communicator.size)
        guard communicator.rank == 0 else { state = nil; return }
        state = WorkQueueState(items: items, receive: receive)
        let thread = Thread { [self] in
            serve()
            finished.signal()
        }
        thread.name = "mlp sweep queue"
        thread.start()
    }

    deinit {
        answers.deallocate()
        answerRequests.deallocate()
    }

    func next(reporting record: [UInt8]?) -> Int? {
        if let state { return state.take(reporting: record) }
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(record?.count ?? 0, 1))
        let answer = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        let requests = UnsafeMutablePointer<MPI_Request?>.allocate(capacity: 2)
        defer { bytes.deallocate(); answer.deallocate(); requests.deallocate() }
        _ = bytes.initialize(from: record ?? [])
        requests.initialize(repeating: cmpi_request_null(), count: 2)
        check(MPI_Irecv(answer, 1, cmpi_int64(), 0, Self.answerTag, channel, requests + 1), "MPI_Irecv")
        check(MPI_Isend(bytes.baseAddress, Int32(record?.count ?? 0), cmpi_byte(), 0, Self.questionTag, channel, requests), "MPI_Isend")
        while true {
            var done: Int32 = 0
            check(MPI_Testall(2, requests, &done, nil), "MPI_Testall")
            if done != 0 { break }
            usleep(UInt32(Self.pollInterval * 1e6))
        }
        return answer.pointee >= 0 ? Int(answer.pointee) : nil
    }

    func close() {
        // Every rank's group has asked its last before it gets here: after this collective rank 0
        // has answered them all.
        communicator.recordPhase(.idle, step: 0)
        var flag = [0.0]
        flag.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
        communicator.recordPhase(.startUp, step: 0)
        if state != nil {
            stopping.store(true, ordering: .relaxed)
            finished.wait()
            check(MPI_Waitall(Int32(communicator.size), answerRequests, nil), "MPI_Waitall")
        }
        if channel != nil { check(MPI_Comm_free(&channel), "MPI_Comm_free") }
    }

    /// Rank 0's thread: answers each question with the next item until `close`.
    private func serve() {
        while !stopping.load(ordering: .relaxed) {
            var found: Int32 = 0
            var status = MPI_Status()
            check(MPI_Iprobe(cmpi_any_source(), Self.questionTag, channel, &found, &status), "MPI_Iprobe")
            guard found != 0 else { usleep(UInt32(Self.pollInterval * 1e6)); continue }
            let asker = Int(status.MPI_SOURCE)
            var count: Int32 = 0
            check(MPI_Get_count(&status, cmpi_byte(), &count), "MPI_Get_count")
            var record = [UInt8](repeating: 0, count: Int(count))
            check(MPI_Recv(&record, count, cmpi_byte(), Int32(asker), Self.questionTag, channel, cmpi_status_ignore()), "MPI_Recv")
            let item = state!.take(reporting: count > 0 ? record : nil)
            // The previous answer to this asker was received before it asked again.
            check(MPI_Wait(answerRequests + asker, cmpi_status_ignore()), "MPI_Wait")
            answers[asker] = Int64(item ?? -1)
            check(MPI_Isend(answers + asker, 1, cmpi_int64(), Int32(asker), Self.answerTag, channel, answerRequests + asker),
                  "MPI_Isend")
        }
    }

    private func check(_ code: Int32, _ call: String, file: StaticString = #fileID, line: UInt = #line) {
        communicator.check(code, call, file: file, line: line)
    }
}
