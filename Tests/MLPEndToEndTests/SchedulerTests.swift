import Foundation
import MLP
import TestSupport
import XCTest

/// What a batch scheduler needs, without one running (Tests/slurm/run-slurm.sh runs a real
/// Slurm): srun's separate one-rank worlds refused, the thread layout stated, `--resume auto`
/// for a job's first and requeued runs, SIGUSR1 (Slurm's `--signal` warning) as 138.
final class SchedulerTests: ScratchFolderTestCase {
    /// What srun without PMIx gives each task: Slurm's variables, no MPI launcher's.
    func srunTask(_ index: Int, of tasks: Int) -> [String: String] {
        ["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "\(tasks)", "SLURM_NTASKS": "\(tasks)", "SLURM_PROCID": "\(index)",
         "SLURM_JOB_ID": "17"]
    }

    func testTasksOfOneStepWithoutMPIAreRefusedBeforeReadingAnything() throws {
        let save = path("s.st")
        // The data does not exist: the refusal comes before anything is read.
        let arguments = ["train", "--train", path("missing.csv"), "--save", save]
        let first = try MLPProcess.run(arguments, environment: srunTask(0, of: 2))
        assertRefused(first, status: ExitStatus.usage, "srun started 2 tasks", "srun --mpi=pmix", "MpiDefault=pmix")
        // The other tasks say nothing: the step shows one line.
        let second = try MLPProcess.run(arguments, environment: srunTask(1, of: 2))
        XCTAssertEqual(second.status, ExitStatus.usage, second.stderr)
        XCTAssertEqual(second.stderr, "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: save))
    }

    func testOneTaskStepsAndMalformedValuesTrain() throws {
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 60, seed: 4)
        let arguments = ["train", "--train", data.path, "--hidden", "8", "--epochs", "1"]
        XCTAssertEqual(try MLPProcess.run(arguments, environment: srunTask(0, of: 1)).status, 0)
        var environment = srunTask(0, of: 2)
        environment["SLURM_STEP_NUM_TASKS"] = "two"
        environment["SLURM_NTASKS"] = "-2"
        let output = try MLPProcess.run(arguments, environment: environment)
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertEqual(output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: note:") }, ["mlp: note: ignoring SLURM_STEP_NUM_TASKS='two' (not a task count)",
                                                              "mlp: note: ignoring SLURM_NTASKS='-2' (not a task count)"])
    }

    /// Without OPENBLAS_NUM_THREADS, unbound ranks divide the cores among themselves.
    func testFirstLineStatesRanksAndThreads() throws {
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 60, seed: 4)
        let cores = CoreAffinity.current.count
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        for ranks in [1, 2] {
            let output = try MLPProcess.run(ranks: ranks, ["train", "--train", data.path, "--hidden", "8", "--epochs", "1"],
                                            environment: ["OPENBLAS_NUM_THREADS": ""])
            XCTAssertEqual(output.status, 0, output.stderr)
            let first = output.stdout.split(separator: "\n").first.map(String.init) ?? ""
            XCTAssertTrue(first.contains(", \(plural(ranks, "rank")) × \(plural(max(cores / ranks, 1), "thread")); "), first)
        }
        // The environment's count is kept.
        let output = try MLPProcess.run(["train", "--train", data.path, "--hidden", "8", "--epochs", "1"],
                                        environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertTrue(output.stdout.hasPrefix("mlp: 5-8-3 relu, cross-entropy, float32, 1 rank × 1 thread; "), output.stdout)
    }

    func testResumeAutoStartsFreshThenContinuesToTheUninterruptedBytes() throws {
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 200, seed: 5)
        let common = ["train", "--train", data.path, "--hidden", "16", "--batch-size", "16", "--epochs", "4", "--precision", "float64"]
        let whole = try MLPProcess.run(ranks: 2, common + ["--save", path("whole.st")])
        XCTAssertEqual(whole.status, 0, whole.stderr)

        let checkpoint = path("ck.st"), auto = ["--resume", "auto", "--checkpoint", checkpoint, "--save", path("m.st")]
        let first = try MLPProcess.run(ranks: 2, common + auto + ["--max-steps", "20"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("--resume auto: no checkpoint \(checkpoint) yet; training from the start"), first.stdout)
        let second = try MLPProcess.run(ranks: 2, common + auto)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("resuming from \(checkpoint) at epoch 2, step 20"), second.stdout)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("m.st"))), try Data(contentsOf: URL(fileURLWithPath: path("whole.st"))))

        // A checkpoint of another run is refused as --resume FILE would be.
        let other = try MLPProcess.run(["train", "--train", data.path, "--hidden", "32", "--epochs", "4"] + auto)
        assertRefused(other, status: ExitStatus.badInput, "--hidden")
    }

    func testResumeAutoRefusals() throws {
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 60, seed: 4)
        assertRefused(try MLPProcess.run(["train", "--train", data.path, "--resume", "auto"]), status: ExitStatus.usage,
                      "--resume auto needs --checkpoint FILE", "./auto")
        assertRefused(try MLPProcess.run(["train", "--resume", "auto", "--checkpoint", path("c")]), status: ExitStatus.usage,
                      "--resume auto needs --train")
        // A directory as the checkpoint: refused as an output, before it could be taken for one.
        let folder = directory.appendingPathComponent("folder")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        assertRefused(try MLPProcess.run(["train", "--train", data.path, "--resume", "auto", "--checkpoint", folder.path]),
                      status: ExitStatus.badInput, "--checkpoint")
    }

    /// SIGUSR1 mid-training, as Slurm's `--signal=USR1@T` sends it to every task: the ranks
    /// stop after the same step, rank 0 writes the checkpoint, the status is 138; resuming
    /// gives the uninterrupted model's bytes.
    func testSIGUSR1WritesTheCheckpointAndExits138() throws {
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 400, seed: 2)
        let common = ["train", "--train", data.path, "--hidden", "128,128", "--batch-size", "8", "--epochs", "6",
                      "--precision", "float64", "--save", path("m.st")]
        let whole = try MLPProcess.run(ranks: 2, common.dropLast(2) + ["--save", path("whole.st")])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let checkpoint = path("c.st")
        let run = try MLPProcess.start(ranks: 2, common + ["--checkpoint", checkpoint, "--checkpoint-every", "10", "--resume", "auto"])
        try run.waitForFile(checkpoint)
        for rank in run.rankProcesses() { kill(rank, SIGUSR1) }
        let output = run.wait()
        assertRefused(output, status: 128 + SIGUSR1, "interrupted by SIGUSR1 after step", "checkpoint written to \(checkpoint)")
        let resumed = try MLPProcess.run(ranks: 2, common + ["--checkpoint", checkpoint, "--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from \(checkpoint)"), resumed.stdout)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("m.st"))), try Data(contentsOf: URL(fileURLWithPath: path("whole.st"))))
    }

    func testSIGUSR1BeforeTrainingEndsAtOnce() throws {
        let fifo = path("train.csv")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0, "mkfifo")
        let run = try MLPProcess.start(["train", "--train", fifo, "--save", path("m.st")])
        var writer: Int32 = -1
        try run.waitUntil("mlp opened the FIFO") {
            writer = open(fifo, O_WRONLY | O_NONBLOCK)
            return writer >= 0
        }
        defer { close(writer) }
        kill(run.pid, SIGUSR1)
        assertRefused(run.wait(), status: 128 + SIGUSR1, "interrupted by SIGUSR1 before training started", "nothing was written")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.st")))
    }
}

/// A signal read at an epoch's last step stops training before that epoch's evaluation: the
/// checkpoint stands at batch = batches, and resuming it ends the epoch (its evaluation, its
/// metrics line, the schedule's epoch end) exactly as the uninterrupted run did.
final class EpochEndInterruptionTests: ScratchFolderTestCase {
    func testInterruptedAfterAnEpochsLastStepResumesToTheUninterruptedRun() throws {
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 400, seed: 3)
        // 20 batches per epoch; a plateau schedule and validation, so the epoch's end matters.
        func arguments(_ name: String) -> [String] {
            ["train", "--train", data.path, "--hidden", "16", "--batch-size", "20", "--epochs", "3", "--precision", "float64",
             "--validation-split", "0.2", "--lr-schedule", "plateau", "--plateau-patience", "1",
             "--save", path("\(name).st"), "--metrics", path("\(name).jsonl")]
        }
        let whole = try MLPProcess.run(ranks: 2, arguments("whole"), executable: "mlp-faults")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let checkpoint = path("c.st")
        let stopped = try MLPProcess.run(ranks: 2, arguments("m") + ["--checkpoint", checkpoint], executable: "mlp-faults",
                                         environment: ["MLP_TEST_SIGNAL_AT_STEP": "15:\(SIGUSR1)"])
        assertRefused(stopped, status: 128 + SIGUSR1, "interrupted by SIGUSR1 after step 16")
        let resumed = try MLPProcess.run(ranks: 2, arguments("m") + ["--checkpoint", checkpoint, "--resume", "auto"],
                                         executable: "mlp-faults")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from \(checkpoint) at epoch 1, step 16"), resumed.stdout)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("m.st"))), try Data(contentsOf: URL(fileURLWithPath: path("whole.st"))))
        func epochs(_ name: String) throws -> [String] {
            try String(contentsOfFile: path("\(name).jsonl"), encoding: .utf8).split(separator: "\n").map {
                String($0.replacingOccurrences(of: #","seconds":[^,}]*|,"samples_per_second":[^,}]*"#, with: "",
                                               options: .regularExpression))
            }
        }
        XCTAssertEqual(try epochs("m"), try epochs("whole"))
        XCTAssertEqual(try epochs("m").count, 3)
    }
}
