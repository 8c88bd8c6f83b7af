// The MPI glue is this target: MPICommunicator.swift (the collectives training uses) and this
// file (the watchdog's point-to-point messages), the two Swift files that import CMPI.
import CMPI
import Foundation
import MLP
import Synchronization

/// One rank's collective watchdog: a thread that reads this rank's `CollectiveRecord` and, once
/// the rank has waited in one collective longer than its phase allows
/// (`CollectiveTimeout.budget`), asks every other rank for its record, point to point, once,
/// then ends the job (`MPI_Abort`, exit status `ExitStatus.rankLost`) with one line naming the
/// ranks it waited for (`StallReport`). A stopped rank answers nothing: that is its answer.
/// The thread also answers the other ranks' questions, whatever this rank's main thread is
/// doing (computing, blocked in a collective, stuck in I/O).
///
/// It watches the ranks of one communicator (the world, or a group split from it); its messages
/// travel on a duplicate of that communicator, so they never match training's. It
/// never blocks in MPI (OpenMPI's blocking calls spin a core, which training needs): it tests
/// its requests every `pollInterval`. Training's collectives are untouched: no MPI call is
/// added to a step.
///
/// Messages (int64): a question carries the asker's round; an answer, to tag `answerTag(round)`,
/// carries the round and the record (`CollectiveRecord.Snapshot.encoded`).
// @unchecked Sendable: after `init` (on the main thread, before the thread starts) the MPI
// handles and buffers belong to the watchdog thread alone until `stop` has joined it; the record
// is atomics; `stopping` is atomic.
final class CollectiveWatchdog: @unchecked Sendable {
    /// Every rank's host and pid, gathered at start: a stopped rank is named without asking it.
    let identities: [StallReport.Identity]
    private let world: MPI_Comm
    private var channel: MPI_Comm?
    private let rank: Int, size: Int
    private var record: CollectiveRecord?
    private var timeout = CollectiveTimeout(seconds: CollectiveTimeout.defaultSeconds)
    private let stopping = Atomic<Bool>(false)
    /// Signalled by `stop`, so the thread need not finish its sleep.
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// How often the thread looks at the record and at its messages.
    static let pollInterval = 0.1
    /// How long an asking rank waits for answers: a live rank answers within a poll interval or two.
    static let answerWindow = 3.0
    /// How long a rank that left the report to a lower rank waits before reporting itself (the
    /// lower rank ends the job long before, unless it cannot).
    static let deferralGrace = 10.0

    private static let questionTag: Int32 = 1
    private static func answerTag(_ round: Int) -> Int32 { Int32(2 + round % 30_000) }   // MPI_TAG_UB ≥ 32767
    private static let answerCount = 1 + CollectiveRecord.Snapshot.encodedCount

    // Buffers and requests, allocated once. Questions in: one posted receive from any rank.
    private let question = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    private var questionRequest: MPI_Request?
    // Per other rank: the question sent to it, the answer sent to it, the answer from it.
    private let questionsOut: UnsafeMutablePointer<Int64>
    private let questionsOutRequests: UnsafeMutablePointer<MPI_Request?>
    private let answersOut: UnsafeMutablePointer<Int64>
    private let answersOutRequests: UnsafeMutablePointer<MPI_Request?>
    private let answersIn: UnsafeMutablePointer<Int64>
    private let answersInRequests: UnsafeMutablePointer<MPI_Request?>

    /// Duplicates `world` for the watchdog's messages and gathers every rank's host and pid.
    /// Collective: every rank calls it, whether or not its thread will run, so that ranks
    /// started with different `--collective-timeout` values still agree on the collectives.
    init(world: MPI_Comm, rank: Int, size: Int) {
        self.world = world
        self.rank = rank
        self.size = size
        var channel: MPI_Comm?
        Self.check(MPI_Comm_dup(world, &channel), "MPI_Comm_dup", rank)
        Self.check(MPI_Comm_set_errhandler(channel, cmpi_errors_return()), "MPI_Comm_set_errhandler", rank)
        self.channel = channel
        identities = Self.gatherIdentities(channel, rank: rank, size: size)
        func requests() -> UnsafeMutablePointer<MPI_Request?> {
            let pointer = UnsafeMutablePointer<MPI_Request?>.allocate(capacity: size)
            pointer.initialize(repeating: cmpi_request_null(), count: size)
            return pointer
        }
        questionsOut = .allocate(capacity: size)
        answersOut = .allocate(capacity: size * Self.answerCount)
        answersIn = .allocate(capacity: size * Self.answerCount)
        questionsOutRequests = requests()
        answersOutRequests = requests()
        answersInRequests = requests()
        questionRequest = cmpi_request_null()
    }

    /// Starts the thread, watching `record` against `timeout`.
    func start(record: CollectiveRecord, timeout: CollectiveTimeout) {
        self.record = record
        self.timeout = timeout
        postQuestionReceive()
        let thread = Thread { [self] in
            run(record)
            finished.signal()
        }
        thread.name = "mlp collective watchdog"
        self.thread = thread
        thread.start()
    }

    /// Stops and joins the thread and releases the channel; before `MPI_Finalize`.
    func stop() {
        if thread != nil {
            stopping.store(true, ordering: .relaxed)
            wake.signal()
            finished.wait()
            thread = nil
            cancel(&questionRequest)
            for other in 0 ..< size {
                cancel(&answersInRequests[other])
                // Sends complete by themselves (the buffers are never freed).
                release(&questionsOutRequests[other])
                release(&answersOutRequests[other])
            }
        }
        if channel != nil { Self.check(MPI_Comm_free(&channel), "MPI_Comm_free", rank) }
        channel = nil
    }

    // MARK: The thread

    private enum State {
        case watching
        /// Questions sent for collective `sequence` in `round`, answers collected until `deadline`.
        case asking(round: Int, sequence: Int, deadline: Double)
        /// A lower rank reports; this one reports itself if the job still runs at `deadline`.
        case deferring(report: StallReport, deadline: Double)
    }

    private func run(_ record: CollectiveRecord) {
        var state = State.watching
        var round = 0
        // A collective whose wait was found to be for ranks busy in the same step: asked again
        // once this rank has waited `askAgainAfter` seconds in it.
        var patientIn: (sequence: Int, askAgainAfter: Double)?
        while !stopping.load(ordering: .relaxed) {
            answerQuestions(record)
            let own = record.snapshot()
            switch state {
            case .watching:
                let due = patientIn.flatMap { $0.sequence == own.sequence ? $0.askAgainAfter : nil }
                    ?? timeout.budget(for: own.phase, rank: rank)
                if own.waiting, own.seconds > due {
                    round += 1
                    ask(round: round)
                    state = .asking(round: round, sequence: own.sequence, deadline: Self.now() + Self.answerWindow)
                }
            case let .asking(round, sequence, deadline):
                guard own.waiting, own.sequence == sequence else {
                    // The collective completed after all: back to watching.
                    cancelAnswerReceives()
                    state = .watching
                    break
                }
                guard collectAnswers() || Self.now() >= deadline else { break }
                let report = StallReport(rank: rank, records: records(round: round, own: own), timeout: timeout,
                                         identities: identities, recovery: record.recovery)
                if report.mayWaitLonger {
                    // Slow, not stalled: look again a timeout later, up to the report's limit.
                    cancelAnswerReceives()
                    patientIn = (sequence, min(own.seconds + timeout.seconds, report.limit))
                    state = .watching
                    break
                }
                if report.reportingRank == rank { end(report) }
                cancelAnswerReceives()
                state = .deferring(report: report, deadline: Self.now() + Self.deferralGrace)
            case let .deferring(report, deadline):
                if !own.waiting || own.sequence != report.own.sequence {
                    state = .watching
                } else if Self.now() >= deadline {
                    var late = report
                    late.records[rank] = own
                    end(late)
                }
            }
            _ = wake.wait(timeout: .now() + Self.pollInterval)
        }
    }

    /// Answers every question that has arrived with this rank's record now (nil: no answers, the
    /// job is ending); the question that says the job is ending silences this rank's signal line.
    private func answerQuestions(_ record: CollectiveRecord?) {
        while true {
            var done: Int32 = 0
            var status = MPI_Status()
            check(MPI_Test(&questionRequest, &done, &status), "MPI_Test")
            guard done != 0 else { return }
            let asker = Int(status.MPI_SOURCE), round = Int(question.pointee)
            postQuestionReceive()
            if Int64(round) == Self.endingRound { Interruption.exiting(); continue }
            guard let record else { continue }
            guard (0 ..< size).contains(asker), asker != rank, isComplete(&answersOutRequests[asker]) else { continue }
            let answer = answersOut + asker * Self.answerCount
            answer[0] = Int64(round)
            for (index, value) in record.snapshot().encoded.enumerated() { answer[1 + index] = value }
            check(MPI_Isend(answer, Int32(Self.answerCount), cmpi_int64(), Int32(asker), Self.answerTag(round), channel,
                            &answersOutRequests[asker]), "MPI_Isend")
        }
    }

    /// Sends the question of `round` to every other rank and posts the receives of the answers.
    private func ask(round: Int) {
        for other in 0 ..< size where other != rank {
            // A question still unsent from an earlier round: that rank receives nothing.
            guard isComplete(&questionsOutRequests[other]) else { continue }
            questionsOut[other] = Int64(round)
            check(MPI_Isend(questionsOut + other, 1, cmpi_int64(), Int32(other), Self.questionTag, channel,
                            &questionsOutRequests[other]), "MPI_Isend")
            check(MPI_Irecv(answersIn + other * Self.answerCount, Int32(Self.answerCount), cmpi_int64(), Int32(other),
                            Self.answerTag(round), channel, &answersInRequests[other]), "MPI_Irecv")
        }
    }

    /// True when every posted answer receive has completed. Tests each one (a receive is
    /// complete for this code only once tested), not only up to the first still pending.
    private func collectAnswers() -> Bool {
        var all = true
        for other in 0 ..< size where other != rank && !isComplete(&answersInRequests[other]) { all = false }
        return all
    }

    /// Every rank's record: the answers of `round` that arrived (nil for the others) and `own`.
    private func records(round: Int, own: CollectiveRecord.Snapshot) -> [CollectiveRecord.Snapshot?] {
        (0 ..< size).map { other in
            if other == rank { return own }
            let answer = answersIn + other * Self.answerCount
            guard isComplete(&answersInRequests[other]), answer[0] == Int64(round) else { return nil }
            return CollectiveRecord.Snapshot(encoded: UnsafeBufferPointer(start: answer + 1, count: Self.answerCount - 1))
        }
    }

    /// Prints the report's line and ends every rank of the job. First it tells every other rank's
    /// watchdog that the job is ending (a question of round `endingRound`), so that a rank the
    /// abort's SIGTERM finds before training prints no line of its own: one line for the job.
    private func end(_ report: StallReport) -> Never {
        for other in 0 ..< size where other != rank && isComplete(&questionsOutRequests[other]) {
            questionsOut[other] = Self.endingRound
            check(MPI_Isend(questionsOut + other, 1, cmpi_int64(), Int32(other), Self.questionTag, channel,
                            &questionsOutRequests[other]), "MPI_Isend")
        }
        // Live watchdogs look at their messages every poll interval; a stopped rank prints nothing anyway.
        let deadline = Self.now() + 3 * Self.pollInterval
        while Self.now() < deadline { answerQuestions(nil); usleep(10_000) }
        FileHandle.standardError.write(Data("mlp: error: \(report.message)\n".utf8))
        MPICommunicator.abort(cmpi_comm_world(), exitCode: ExitStatus.rankLost)
    }

    /// The round of the question that says the job is ending (rounds count from 1).
    private static let endingRound: Int64 = -1

    private func cancelAnswerReceives() {
        for other in 0 ..< size { cancel(&answersInRequests[other]) }
    }

    private func postQuestionReceive() {
        check(MPI_Irecv(question, 1, cmpi_int64(), cmpi_any_source(), Self.questionTag, channel, &questionRequest), "MPI_Irecv")
    }

    // MARK: Requests

    /// True if `request` is null or has completed (then it is null).
    private func isComplete(_ request: UnsafeMutablePointer<MPI_Request?>) -> Bool {
        guard request.pointee != cmpi_request_null() else { return true }
        var done: Int32 = 0
        check(MPI_Test(request, &done, cmpi_status_ignore()), "MPI_Test")
        return done != 0
    }

    /// Cancels a pending receive and completes it.
    private func cancel(_ request: UnsafeMutablePointer<MPI_Request?>) {
        guard request.pointee != cmpi_request_null() else { return }
        check(MPI_Cancel(request), "MPI_Cancel")
        check(MPI_Wait(request, cmpi_status_ignore()), "MPI_Wait")
    }

    /// Lets a pending send complete on its own.
    private func release(_ request: UnsafeMutablePointer<MPI_Request?>) {
        guard request.pointee != cmpi_request_null() else { return }
        check(MPI_Request_free(request), "MPI_Request_free")
    }

    private func check(_ code: Int32, _ call: String, file: StaticString = #fileID, line: UInt = #line) {
        Self.check(code, call, rank, file: file, line: line)
    }

    private static func check(_ code: Int32, _ call: String, _ rank: Int, file: StaticString = #fileID, line: UInt = #line) {
        MPICommunicator.check(code, call, rank: rank, file: file, line: line)
    }

    /// Seconds on CLOCK_MONOTONIC.
    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Every rank's host (`MPI_Get_processor_name`) and pid, by rank: one `MPI_Allgather` at start.
    private static func gatherIdentities(_ channel: MPI_Comm?, rank: Int, size: Int) -> [StallReport.Identity] {
        let hostBytes = 64, recordBytes = 8 + hostBytes
        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        check(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name", rank)
        var mine = [UInt8](repeating: 0, count: recordBytes)
        withUnsafeBytes(of: Int64(getpid()).littleEndian) { mine.replaceSubrange(0 ..< 8, with: $0) }
        let host = name.prefix(min(Int(length), hostBytes)).map { UInt8(bitPattern: $0) }
        mine.replaceSubrange(8 ..< 8 + host.count, with: host)
        var all = [UInt8](repeating: 0, count: recordBytes * size)
        check(MPI_Allgather(mine, Int32(recordBytes), cmpi_byte(), &all, Int32(recordBytes), cmpi_byte(), channel),
              "MPI_Allgather", rank)
        return (0 ..< size).map { other in
            let bytes = all[other * recordBytes ..< (other + 1) * recordBytes]
            let pid = bytes.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
            let host = bytes.dropFirst(8).prefix { $0 != 0 }
            return StallReport.Identity(host: String(decoding: host, as: UTF8.self), pid: pid)
        }
    }
}
