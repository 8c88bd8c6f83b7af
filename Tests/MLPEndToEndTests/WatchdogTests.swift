import XCTest
@testable import MLP
import TestSupport

/// The collective watchdog under real `mpirun` (2 and 3 ranks): a rank that is stopped, or alive
/// but stuck, ends the job with exit 75 and one line naming it; a healthy run with a tight
/// timeout finishes as it would without one.
///
/// Every time here is a liveness bound (the job ends), never a speed claim: the bound is the
/// timeout plus the watchdog's answer window plus mpirun's teardown, with margin for a loaded
/// machine; healthy runs use a timeout thousands of times a step's length.
final class WatchdogTests: ScratchFolderTestCase {
    var data: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 3000, seed: 1)
    }

    /// 750 steps (seconds in a debug build): when the first checkpoint appears (step 10) the
    /// run is far from its end.
    var recipe: [String] { ["train", "--train", data.path, "--hidden", "256,256", "--batch-size", "8", "--epochs", "2", "--seed", "3"] }

    /// The stopped run is compared at step 400 (`--max-steps` counts from the start of training,
    /// also on resume): the uninterrupted run and the resumed one both stop there.
    static let comparedAtStep = 400
    var untilCompared: [String] { ["--max-steps", "\(Self.comparedAtStep)"] }

    /// One rank SIGSTOPped mid-epoch, as soon as the first checkpoint exists: the job ends
    /// within 30 s with `--collective-timeout 8`, exit 75, one line naming that rank (number
    /// and pid), its step and the checkpoint; no rank process is left (the stopped one
    /// included); resumed from the checkpoint, the run has the uninterrupted model at step 400,
    /// byte for byte.
    ///
    /// The stopped rank is never rank 0: rank 0 writes the checkpoints, and ranks waiting while
    /// it writes may wait 10 × the timeout (by design), so stopping it then would make the
    /// bound depend on when the signal lands; rank 0 itself waits 1 × the timeout in every
    /// phase of this run. With 3 ranks the middle one is stopped, so rank 0 reports and rank 2,
    /// waiting too, leaves the report to it. (`testBusyRankAnswersAndIsNamedWithItsStep` has
    /// rank 0 stuck and another rank report.)
    func testStoppedRankEndsTheJobNamingItAndTheRunResumesExactly() throws {
        for (ranks, stopped) in [(2, 1), (3, 1)] {
            let full = path("full-\(ranks)"), checkpoint = path("c-\(ranks)")
            let reference = try MLPProcess.mpirun(ranks: ranks, recipe + untilCompared + ["--save", full])
            XCTAssertEqual(reference.status, 0, reference.stderr)

            let run = try MLPProcess.start(ranks: ranks, recipe + ["--checkpoint", checkpoint, "--checkpoint-every", "10",
                                                                   "--collective-timeout", "8"])
            try run.waitForFile(checkpoint)
            let processes = run.rankProcessesByRank()
            XCTAssertEqual(processes.count, ranks, "one process per rank: \(processes)")
            let pid = try XCTUnwrap(processes[stopped])
            kill(pid, SIGSTOP)
            let signalled = Date()
            let output = run.wait()
            let seconds = Date().timeIntervalSince(signalled)
            XCTAssertLessThan(seconds, 30, "the job ended \(seconds) s after rank \(stopped) was stopped: \(output.stderr)")
            let line = assertRefused(output, status: ExitStatus.rankLost, "rank \(stopped) (pid \(pid) on host ", "did not answer",
                                     "newest checkpoint: \(checkpoint)", "continue with: mlp train --resume \(checkpoint)")
            // Where it stopped: in a step, or (if the signal landed while rank 0 wrote) in the checkpoint's agreement.
            XCTAssertTrue(line.contains("never finished training step ") || line.contains("never finished writing the checkpoint after step "), line)
            for (rank, other) in processes where rank != stopped {
                XCTAssertFalse(line.contains("pid \(other)"), "rank \(rank) answered and is not behind: \(line)")
            }
            XCTAssertEqual(MLPProcess.waitUntilGone(Array(processes.values)), [], "rank processes left after the job ended")
            let stoppedAt = try Checkpoint.read(path: checkpoint).position.step
            XCTAssertTrue(line.contains("(after step \(stoppedAt))"), line)
            print("[SIGSTOP of rank \(stopped) of \(ranks), \(String(format: "%.1f", seconds)) s to exit, checkpoint at step \(stoppedAt)] \(line)")

            XCTAssertLessThan(stoppedAt, Self.comparedAtStep, "stopped before the step the runs are compared at")
            let resumed = try MLPProcess.mpirun(ranks: ranks, ["train", "--resume", checkpoint, "--save", path("resumed-\(ranks)")] + untilCompared)
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed-\(ranks)"))), try Data(contentsOf: URL(fileURLWithPath: full)),
                           "\(ranks) ranks: resumed ≠ uninterrupted")
        }
    }

    /// Rank 0 blocked at start-up (opening a FIFO nobody writes), rank 1 waiting for it: rank
    /// 1's watchdog ends the job after 10 × the timeout with one line naming rank 0; rank 0,
    /// told the job is ending before mpirun's SIGTERM reaches it, prints no "interrupted" line.
    func testAbortAtStartUpIsOneLine() throws {
        let fifo = path("never-written")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let common = ["train", "--hidden", "4", "--epochs", "1", "--collective-timeout", "0.3"]
        let output = try MLPProcess.mpirun([MLPProcess.MPIProgram(ranks: 1, common + ["--train", fifo]),
                                            MLPProcess.MPIProgram(ranks: 1, common + ["--train", data.path])])
        assertRefused(output, status: ExitStatus.rankLost, "rank 0 (pid ", "start-up", "rank 1 waited")
        XCTAssertFalse(output.stderr.contains("interrupted by"), output.stderr)
    }

    /// A rank busy in its step for longer than the timeout (`mlp-faults`: rank 0 sleeps 4 s
    /// before step 5's allreduce, the timeout is 1 s) that then finishes it: the job goes on and
    /// saves the model an undisturbed run saves.
    func testSlowStepIsNotAStall() throws {
        let arguments = ["train", "--train", data.path, "--hidden", "16", "--batch-size", "30", "--max-steps", "8"]
        let reference = try MLPProcess.mpirun(ranks: 2, arguments + ["--save", path("reference")])
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let slow = try MLPProcess.mpirun(ranks: 2, arguments + ["--save", path("slow"), "--collective-timeout", "1"],
                                         executable: "mlp-faults", environment: ["MLP_TEST_SLOW_AT_STEP": "5:4"])
        XCTAssertEqual(slow.status, 0, slow.stderr)
        XCTAssertFalse(slow.stderr.contains("mlp: error"), slow.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("slow"))), try Data(contentsOf: URL(fileURLWithPath: path("reference"))))
    }

    /// A rank alive but stuck outside any collective (`mlp-faults`: rank 0's main thread sleeps
    /// before step 20's allreduce): its watchdog thread still answers, so it is busy in the step
    /// the others wait in: slow, not stalled, until 10 × the timeout; then the line says it is
    /// busy, in which step, for how long, without finishing it. Ranks 1 and 2 both wait; rank 1
    /// reports, rank 2 leaves it to rank 1: one line.
    func testBusyRankAnswersAndIsNamedWithItsStep() throws {
        let checkpoint = path("busy")
        let arguments = ["train", "--train", data.path, "--hidden", "16", "--batch-size", "30", "--epochs", "2",
                         "--checkpoint", checkpoint, "--checkpoint-every", "10", "--collective-timeout", "1.5"]
        let start = Date()
        let run = try MLPProcess.start(ranks: 3, arguments, executable: "mlp-faults", environment: ["MLP_TEST_STALL_AT_STEP": "20"])
        try run.waitUntil("3 rank processes") { run.rankProcessesByRank().count == 3 }
        let processes = run.rankProcessesByRank()
        let output = run.wait()
        let seconds = Date().timeIntervalSince(start)
        let line = assertRefused(output, status: ExitStatus.rankLost, "rank 0 (pid ", "is alive but has been busy for",
                                 "in training step 20 without finishing it", "ranks 1, 2 waited",
                                 "limit 15 s, 10 × --collective-timeout for a rank that answers but does not finish its step",
                                 "newest checkpoint: \(checkpoint) (after step 10)")
        if let pid = processes[0] { XCTAssertTrue(line.contains("rank 0 (pid \(pid) on host "), line) }
        XCTAssertEqual(MLPProcess.waitUntilGone(Array(processes.values)), [], "rank processes left after the job ended")
        print("[rank 0 stuck at step 20 of 3 ranks, \(String(format: "%.1f", seconds)) s from start to exit] \(line)")
    }

    /// A healthy run with `--test`, a checkpoint every 50 steps and `--collective-timeout 5`
    /// (start-up, evaluation and rank 0's writes inside the phases' budgets) finishes, on 2 and
    /// 3 ranks, with the model of the same run without a watchdog; `mlp evaluate` too.
    func testHealthyRunWithTightTimeoutFinishesWithTheSameModel() throws {
        let test = directory.appendingPathComponent("test.csv")
        try writeClassificationCSV(test, rows: 500, seed: 2)
        let common = ["train", "--train", data.path, "--test", test.path, "--hidden", "32,32", "--batch-size", "32", "--epochs", "2",
                      "--seed", "4", "--checkpoint-every", "50"]
        for ranks in [2, 3] {
            let watched = try MLPProcess.mpirun(ranks: ranks, common + ["--checkpoint", path("c-\(ranks)"), "--save", path("watched-\(ranks)"),
                                                                        "--collective-timeout", "5"])
            XCTAssertEqual(watched.status, 0, watched.stderr)
            XCTAssertFalse(watched.stderr.contains("mlp:"), watched.stderr)
            XCTAssertEqual(watched.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") && $0.contains("test loss") }.count, 2, watched.stdout)
            let unwatched = try MLPProcess.mpirun(ranks: ranks, common + ["--checkpoint", path("u-\(ranks)"), "--save", path("unwatched-\(ranks)"),
                                                                          "--collective-timeout", "0"])
            XCTAssertEqual(unwatched.status, 0, unwatched.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("watched-\(ranks)"))),
                           try Data(contentsOf: URL(fileURLWithPath: path("unwatched-\(ranks)"))), "\(ranks) ranks")
            let evaluation = try MLPProcess.mpirun(ranks: ranks, ["evaluate", "--model", path("watched-\(ranks)"), "--data", test.path,
                                                                  "--collective-timeout", "5"])
            XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
            XCTAssertTrue(evaluation.stdout.contains("accuracy"), evaluation.stdout)
        }
    }

    /// A healthy MNIST run: MNIST with `--test`, a checkpoint every 50 steps and
    /// `--collective-timeout 5` on 2 ranks finishes normally (300 steps; skipped without MNIST).
    func testHealthyMNISTRunWithTightTimeout() throws {
        let mnist = try mnistDirectory()
        let output = try MLPProcess.mpirun(ranks: 2, ["train", "--train", "mnist:\(mnist)", "--test", "mnist:\(mnist)", "--hidden", "64",
                                                      "--batch-size", "64", "--epochs", "1", "--max-steps", "300",
                                                      "--checkpoint", path("mnist"), "--checkpoint-every", "50", "--collective-timeout", "5"])
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertFalse(output.stderr.contains("mlp:"), output.stderr)
        XCTAssertTrue(output.stdout.contains("test loss"), output.stdout)
        XCTAssertEqual(try Checkpoint.read(path: path("mnist")).position.step, 300)
    }

    /// A timeout that is negative or not a number is refused before any work (exit 64, one line).
    func testInvalidTimeoutIsRefused() throws {
        for value in ["-1", "nan", "inf"] {
            let output = try MLPProcess.run(["train", "--train", data.path, "--collective-timeout=\(value)"])
            assertRefused(output, status: ExitStatus.usage, "--collective-timeout must be a number of seconds ≥ 0")
        }
    }
}
