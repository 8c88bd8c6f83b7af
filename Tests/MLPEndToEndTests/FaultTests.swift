import XCTest
@testable import MLP
import TestSupport

/// Faults during training: signals, a killed rank, non-finite values, drifting ranks. Each
/// ends the job (no hang: every run has a liveness limit) with one line and leaves the last
/// checkpoint usable.
final class FaultTests: ScratchFolderTestCase {
    var data: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 3000, seed: 1)
    }

    /// 3,000 steps (seconds in a debug build): when the first checkpoint appears (step 10) the
    /// run is far from its end, and the test signals it at once.
    var recipe: [String] { ["train", "--train", data.path, "--hidden", "256,256", "--batch-size", "8", "--epochs", "8", "--seed", "3"] }

    /// The interrupted run is compared at step 1,000 (`--max-steps` counts from the start of
    /// training, also on resume): the uninterrupted run and the resumed one both stop there.
    static let comparedAtStep = 1000
    var untilCompared: [String] { ["--max-steps", "\(Self.comparedAtStep)"] }

    /// SIGTERM (as a scheduler preempting the job sends it to every process of the job): every
    /// rank finishes the same step, rank 0 writes a checkpoint, all exit saying how to resume;
    /// at step 1,000 the resumed run has the uninterrupted run's model, byte for byte.
    ///
    /// The test signals the rank processes themselves as soon as the first checkpoint exists.
    /// Signalled instead, mpirun (OpenMPI 4.1) sends the ranks SIGCONT and only a second later
    /// SIGTERM, so whether the run was still going when they saw it would be left to chance.
    func testSIGTERMCheckpointsAndResumesExactly() throws {
        for ranks in [1, 2] {
            let full = path("full-\(ranks)"), checkpoint = path("c-\(ranks)")
            let reference = try MLPProcess.run(ranks: ranks, recipe + untilCompared + ["--save", full])
            XCTAssertEqual(reference.status, 0, reference.stderr)

            let run = try MLPProcess.start(ranks: ranks, recipe + ["--checkpoint", checkpoint, "--checkpoint-every", "10"])
            try run.waitForFile(checkpoint)
            let processes = ranks == 1 ? [run.pid] : run.rankProcesses()
            XCTAssertEqual(processes.count, ranks, "one process per rank")
            for process in processes { kill(process, SIGTERM) }
            let signalled = Date()
            let output = run.wait(timeLimit: 60)
            let seconds = Date().timeIntervalSince(signalled)
            let message = output.stderr
            XCTAssertFalse(output.timedOut, "no exit 60 s after SIGTERM: \(message)")
            XCTAssertNotEqual(output.status, 0)
            if ranks == 1 { XCTAssertEqual(output.status, 128 + SIGTERM) }
            let line = message.split(separator: "\n").first { $0.hasPrefix("mlp:") } ?? ""
            XCTAssertTrue(line.contains("interrupted by SIGTERM") && line.contains("--resume \(checkpoint)"), message)
            let stopped = try Checkpoint.read(path: checkpoint)
            XCTAssertGreaterThan(stopped.position.step, 0)
            XCTAssertLessThan(stopped.position.step, Self.comparedAtStep, "interrupted before the step the runs are compared at")
            print("[SIGTERM, \(ranks) rank(s), \(String(format: "%.2f", seconds)) s to exit, stopped at step \(stopped.position.step)] \(line)")

            let resumed = try MLPProcess.run(ranks: ranks, ["train", "--resume", checkpoint, "--save", path("resumed-\(ranks)")] + untilCompared)
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed-\(ranks)"))), try Data(contentsOf: URL(fileURLWithPath: full)))
        }
    }

    /// One rank killed with SIGKILL mid-epoch (as soon as the first checkpoint exists): mpirun
    /// and the other rank exit (no hang: a 60 s liveness limit), the last checkpoint is intact,
    /// and resuming from it finishes with the uninterrupted model.
    func testSIGKILLOfOneRankLeavesAUsableCheckpoint() throws {
        let full = path("full"), checkpoint = path("c")
        let reference = try MLPProcess.mpirun(ranks: 2, recipe + untilCompared + ["--save", full])
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let run = try MLPProcess.start(ranks: 2, recipe + ["--checkpoint", checkpoint, "--checkpoint-every", "10"])
        try run.waitForFile(checkpoint)
        let ranks = run.rankProcesses()
        XCTAssertEqual(ranks.count, 2, "two rank processes under mpirun")
        kill(ranks.last!, SIGKILL)
        let killed = Date()
        let output = run.wait(timeLimit: 60)
        let seconds = Date().timeIntervalSince(killed)
        XCTAssertFalse(output.timedOut, "mpirun still running 60 s after a rank was killed: \(output.stderr)")
        XCTAssertNotEqual(output.status, 0)
        // The ranks end with mpirun; on a loaded machine the last one may take a moment more.
        let deadline = Date().addingTimeInterval(15)
        while ranks.contains(where: MLPProcess.isAlive), Date() < deadline { usleep(100_000) }
        for rank in ranks { XCTAssertFalse(MLPProcess.isAlive(rank), "rank process \(rank) still running 15 s after mpirun exited") }
        let stopped = try Checkpoint.read(path: checkpoint)
        print("[SIGKILL of one rank, \(String(format: "%.2f", seconds)) s until mpirun exited; "
            + "checkpoint at step \(stopped.position.step)]")
        XCTAssertLessThan(stopped.position.step, Self.comparedAtStep, "killed before the step the runs are compared at")
        let resumed = try MLPProcess.mpirun(ranks: 2, ["train", "--resume", checkpoint, "--save", path("resumed")] + untilCompared)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed"))), try Data(contentsOf: URL(fileURLWithPath: full)))
    }

    /// A NaN on one rank at step 7: training stops at that step before applying it, on every rank,
    /// with one line; the checkpoint of step 5 is intact and no model is written.
    /// With `--on-nonfinite skip-step` the step is skipped and training goes on.
    func testNonFiniteLossStopsOrSkips() throws {
        let small = ["train", "--train", data.path, "--hidden", "8", "--batch-size", "100", "--epochs", "1"]
        for ranks in [1, 2] {
            let checkpoint = path("nan-\(ranks)"), model = path("nan-model-\(ranks)")
            let arguments = small + ["--checkpoint", checkpoint, "--checkpoint-every", "5", "--save", model]
            let start = Date()
            let output = try MLPProcess.run(ranks: ranks, arguments, executable: "mlp-faults", environment: ["MLP_TEST_NAN_AT_STEP": "7"])
            let lines = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp:") }
            XCTAssertNotEqual(output.status, 0)
            XCTAssertEqual(lines.count, 1, output.stderr)
            XCTAssertTrue(lines.first?.contains("non-finite loss or gradient at step 7") ?? false, output.stderr)
            XCTAssertEqual(try Checkpoint.read(path: checkpoint).position.step, 5)
            XCTAssertFalse(FileManager.default.fileExists(atPath: model))
            print("[NaN at step 7, \(ranks) rank(s), \(String(format: "%.2f", Date().timeIntervalSince(start))) s] \(lines.first ?? "")")

            let skipping = try MLPProcess.run(ranks: ranks, small + ["--on-nonfinite", "skip-step", "--save", model],
                                              executable: "mlp-faults", environment: ["MLP_TEST_NAN_AT_STEP": "7"])
            XCTAssertEqual(skipping.status, 0, skipping.stderr)
            XCTAssertTrue(skipping.stdout.contains("(skipped 1 non-finite step)"), skipping.stdout)
            XCTAssertTrue(try ModelFile.read(path: model).parameters.allSatisfy(\.isFinite))
        }
        // Real divergence, no injection: a learning rate far too large.
        let output = try MLPProcess.run(small + ["--learning-rate", "1e30"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("non-finite loss or gradient at step"), output.stderr)
    }

    /// One rank's parameters drift (simulated after step 3): the periodic checksum collective
    /// finds it at step 5 and every rank stops with one line.
    func testParameterDriftIsDetected() throws {
        let arguments = ["train", "--train", data.path, "--hidden", "8", "--batch-size", "100", "--epochs", "1", "--checksum-every", "5"]
        let output = try MLPProcess.mpirun(ranks: 2, arguments, executable: "mlp-faults", environment: ["MLP_TEST_DRIFT_AT_STEP": "3"])
        XCTAssertNotEqual(output.status, 0)
        let lines = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp:") }
        XCTAssertEqual(lines, ["mlp: error: parameters differ between ranks at step 5 (checksum mismatch): "
            + "the ranks drifted apart"], output.stderr)
        // Without the fault the same run passes its checks.
        XCTAssertEqual(try MLPProcess.mpirun(ranks: 2, arguments).status, 0)
    }
}
