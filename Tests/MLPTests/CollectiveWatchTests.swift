import XCTest
@testable import MLP
import TestSupport

/// The watchdog's parts that need no MPI: the record, the phases' budgets, the answers'
/// encoding, and the report's choice of culprits, reporter and words. (The watchdog itself
/// runs under mpirun in `WatchdogTests`.)
final class CollectiveWatchTests: XCTestCase {
    typealias Snapshot = CollectiveRecord.Snapshot

    func testRecordCountsCollectivesAndKnowsWhetherItWaits() {
        let record = CollectiveRecord()
        XCTAssertEqual(record.snapshot().sequence, 0)
        XCTAssertEqual(record.snapshot().phase, .startUp)
        record.recordPhase(.training, step: 57)
        record.enterCollective()
        var snapshot = record.snapshot()
        XCTAssertEqual([snapshot.sequence, snapshot.step], [1, 57])
        XCTAssertTrue(snapshot.waiting)
        XCTAssertEqual(snapshot.phase, .training)
        record.leaveCollective()
        record.enterCollective()
        record.leaveCollective()
        snapshot = record.snapshot()
        XCTAssertEqual(snapshot.sequence, 2)
        XCTAssertFalse(snapshot.waiting)
        XCTAssertGreaterThanOrEqual(snapshot.seconds, 0)
        XCTAssertLessThan(snapshot.seconds, 60)
    }

    func testBudgets() throws {
        let timeout = try XCTUnwrap(CollectiveTimeout.fromOption(15))
        XCTAssertEqual(timeout.budget(for: .training, rank: 1), 15)
        XCTAssertEqual(timeout.budget(for: .startUp, rank: 0), 150)
        XCTAssertEqual(timeout.budget(for: .evaluation, rank: 0), 150)
        // Rank 0 writes; the others wait for it. Rank 0 then waits only for ranks with nothing to do.
        XCTAssertEqual(timeout.budget(for: .checkpoint, rank: 1), 150)
        XCTAssertEqual(timeout.budget(for: .checkpoint, rank: 0), 15)
        XCTAssertEqual(timeout.budget(for: .output, rank: 2), 150)
        XCTAssertEqual(timeout.budget(for: .output, rank: 0), 15)
        XCTAssertNil(try CollectiveTimeout.fromOption(0))
        for bad in [-1, Double.nan, .infinity] {
            assertInputError(try CollectiveTimeout.fromOption(bad), contains: ["--collective-timeout must be a number of seconds ≥ 0"])
        }
    }

    func testSnapshotEncodingRoundTripsAndRefusesForeignValues() {
        let snapshot = Snapshot(sequence: 123, waiting: true, phase: .checkpoint, step: 50, seconds: 16.25)
        XCTAssertEqual(Snapshot(encoded: snapshot.encoded), snapshot)
        XCTAssertNil(Snapshot(encoded: [1, 2, 0, 0, 0]), "waiting is 0 or 1")
        XCTAssertNil(Snapshot(encoded: [1, 0, 99, 0, 0]), "no such phase")
        XCTAssertNil(Snapshot(encoded: [1, 0, 0, 0]), "too few values")
    }

    let identities = (0 ..< 3).map { StallReport.Identity(host: "node\($0)", pid: 4240 + $0) }
    let timeout = CollectiveTimeout(seconds: 15)
    let resumable = StallRecovery(isTraining: true, checkpoint: CheckpointFile(path: "/runs/c.st", step: 50))

    /// Rank 1 stopped: ranks 0 and 2 wait in step 57's collective; both pick rank 0 to report.
    func testStoppedRankIsNamedOnceByTheLowestWaitingRank() {
        let waiting = Snapshot(sequence: 60, waiting: true, phase: .training, step: 57, seconds: 18.1)
        let fromZero = StallReport(rank: 0, records: [waiting, nil, waiting], timeout: timeout, identities: identities,
                                   recovery: resumable)
        let fromTwo = StallReport(rank: 2, records: [waiting, nil, waiting], timeout: timeout, identities: identities,
                                  recovery: resumable)
        XCTAssertEqual(fromZero.behindRanks, [1])
        XCTAssertEqual(fromZero.reportingRank, 0)
        XCTAssertEqual(fromTwo.reportingRank, 0)
        XCTAssertEqual(fromZero.message, "collective timeout: rank 1 (pid 4241 on host node1) did not answer (stopped, hung or unreachable) "
                       + "and never finished training step 57; ranks 0, 2 waited 18 s for it in training step 57 (limit --collective-timeout 15 s); "
                       + "newest checkpoint: /runs/c.st (after step 50); continue with: mlp train --resume /runs/c.st")
    }

    /// Rank 0 busy writing (answers from outside any collective, an earlier sequence number):
    /// named with its phase; rank 1 waits with the writing phase's budget; rank 2, held up in
    /// an earlier collective, waits too and is not blamed.
    func testBusyRankIsNamedWithItsPhaseAndWaitingRanksAreNotBlamed() {
        let own = Snapshot(sequence: 61, waiting: true, phase: .checkpoint, step: 50, seconds: 151)
        let busy = Snapshot(sequence: 60, waiting: false, phase: .checkpoint, step: 50, seconds: 152.4)
        let heldUp = Snapshot(sequence: 60, waiting: true, phase: .training, step: 50, seconds: 152)
        let report = StallReport(rank: 1, records: [busy, own, heldUp], timeout: timeout, identities: identities, recovery: StallRecovery(isTraining: true))
        XCTAssertEqual(report.behindRanks, [0])
        XCTAssertEqual(report.waitingRanks, [1, 2])
        XCTAssertEqual(report.reportingRank, 1)
        XCTAssertEqual(report.message, "collective timeout: rank 0 (pid 4240 on host node0) is alive but has been busy for 152 s in writing the checkpoint after step 50; "
                       + "ranks 1, 2 waited 151 s for it in writing the checkpoint after step 50 (limit 150 s, 10 × --collective-timeout in this phase); "
                       + "no checkpoint was written (--checkpoint FILE keeps one): start again")
    }

    /// A rank that answers from inside the step the others wait in is slow, not stalled: the wait
    /// may last 10 × the timeout; past that it is named as busy in that step without finishing it.
    /// Busy in another step or phase it is named at the phase's budget, as before.
    func testBusyRankInTheSameStepGetsTenTimesTheTimeout() {
        let busy = Snapshot(sequence: 40, waiting: false, phase: .training, step: 7, seconds: 20)
        func report(waited seconds: Double, other: Snapshot = busy) -> StallReport {
            StallReport(rank: 1, records: [other, Snapshot(sequence: 41, waiting: true, phase: .training, step: 7, seconds: seconds)],
                        timeout: timeout, identities: Array(identities.prefix(2)), recovery: StallRecovery(isTraining: true))
        }
        XCTAssertTrue(report(waited: 16).othersAreBusyInThisStep)
        XCTAssertTrue(report(waited: 16).mayWaitLonger)
        XCTAssertEqual(report(waited: 16).limit, 150)
        XCTAssertTrue(report(waited: 149).mayWaitLonger)
        let late = report(waited: 151)
        XCTAssertFalse(late.mayWaitLonger)
        XCTAssertEqual(late.message, "collective timeout: rank 0 (pid 4240 on host node0) is alive but has been busy for 20 s in training step 7 "
                       + "without finishing it; rank 1 waited 151 s for it in training step 7 "
                       + "(limit 150 s, 10 × --collective-timeout for a rank that answers but does not finish its step); "
                       + "no checkpoint was written (--checkpoint FILE keeps one): start again")
        for elsewhere in [Snapshot(sequence: 40, waiting: false, phase: .training, step: 6, seconds: 20),
                          Snapshot(sequence: 40, waiting: false, phase: .evaluation, step: 7, seconds: 20)] {
            let stalled = report(waited: 16, other: elsewhere)
            XCTAssertFalse(stalled.mayWaitLonger, "\(elsewhere)")
            XCTAssertEqual(stalled.limit, 15)
        }
        XCTAssertFalse(report(waited: 16, other: Snapshot(sequence: 41, waiting: true, phase: .training, step: 7, seconds: 16)).mayWaitLonger,
                       "every rank waiting: the collective itself")
    }

    func testEveryRankWaitingBlamesTheCollective() {
        let waiting = Snapshot(sequence: 9, waiting: true, phase: .evaluation, step: 0, seconds: 151)
        let report = StallReport(rank: 1, records: [waiting, waiting], timeout: timeout, identities: Array(identities.prefix(2)), recovery: StallRecovery())
        XCTAssertEqual(report.behindRanks, [])
        XCTAssertEqual(report.reportingRank, 0)
        XCTAssertTrue(report.message.hasPrefix("collective timeout: every rank answered and none is busy elsewhere, yet ranks 0, 1 waited 151 s in the evaluation"), report.message)
        XCTAssertTrue(report.message.hasSuffix("the collective itself does not complete (the network or MPI); run it again once that host is fixed"), report.message)
    }

    /// What the line says about the checkpoint: the one known complete, or, while rank 0 was
    /// writing one this rank does not know finished, both.
    func testCheckpointInTheLineFollowsTheWrites() {
        let record = CollectiveRecord()
        record.recordPhase(.training, step: 57)
        record.enterCollective()
        func next() -> String {
            let line = StallReport(rank: 0, records: [record.snapshot(), nil], timeout: timeout, identities: Array(identities.prefix(2)),
                                   recovery: record.recovery).message
            return String(line[line.range(of: "(limit --collective-timeout 15 s); ")!.upperBound...])
        }
        XCTAssertEqual(next(), "run it again once that host is fixed")
        record.trainingStarted(from: nil)
        XCTAssertEqual(next(), "no checkpoint was written (--checkpoint FILE keeps one): start again")
        record.checkpointStarted(CheckpointFile(path: "c.st", step: 50))
        XCTAssertEqual(next(), "newest checkpoint: c.st (after step 50) if rank 0 finished writing it, else none; continue with: mlp train --resume c.st")
        record.checkpointWritten(CheckpointFile(path: "c.st", step: 50))
        XCTAssertEqual(next(), "newest checkpoint: c.st (after step 50); continue with: mlp train --resume c.st")
        record.checkpointStarted(CheckpointFile(path: "c.st", step: 100))
        XCTAssertEqual(next(), "newest checkpoint: c.st (after step 100 if rank 0 finished writing it, else after step 50); continue with: mlp train --resume c.st")
        record.trainingStarted(from: CheckpointFile(path: "old.st", step: 20))
        XCTAssertEqual(next(), "newest checkpoint: old.st (after step 20); continue with: mlp train --resume old.st")
    }
}
