import Foundation
import MLP
import TestSupport
import XCTest

/// `./launch --restarts K` under real `mpirun` on this machine: a job that loses a rank (status
/// 75 or 137) starts again from the newest checkpoint and ends where an uninterrupted run ends;
/// every other status, and a signal to `launch`, ends it at once with that status.
///
/// `launch` runs the debug build given in `MLP_BINARY` (`mlp-faults` for the faults, `mlp`
/// otherwise), so nothing is built here.
final class LaunchRestartTests: ScratchFolderTestCase {
    var data: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 400, seed: 5)
    }

    /// 400 rows, batch 20: 20 steps per epoch, 60 in all, a checkpoint every 5 steps.
    func recipe(_ name: String) -> [String] {
        ["train", "--train", data.path, "--hidden", "8", "--batch-size", "20", "--epochs", "3", "--seed", "3",
         "--save", path("\(name).safetensors"), "--metrics", path("\(name).jsonl")]
    }

    var launchScript: String { packageRoot.appendingPathComponent("launch").path }

    /// `./launch arguments…` with `executable` as its mlp and `environment` for the ranks.
    func launch(_ arguments: [String], executable: String = "mlp-faults", environment: [String: String] = [:]) throws -> MLPProcess.Output {
        try skipWithoutMPIRun()
        let binary = try MLPProcess.executable(executable).path
        return try MLPProcess.launch(launchScript, arguments, environment: environment.merging(["MLP_BINARY": binary]) { a, _ in a })
    }

    func skipWithoutMPIRun() throws {
        guard (try? MLPProcess.which("mpirun")) != nil else {
            throw XCTSkip("mpirun is not on PATH: launch --restarts needs it (install openmpi-bin; bash .ci/run does)")
        }
    }

    /// launch's lines about restarting (it may print others, such as the OpenBLAS core type it chose).
    func restartLines(_ output: MLPProcess.Output) -> [Substring] {
        output.stderr.split(separator: "\n").filter { $0.hasPrefix("launch: restart ") || $0.contains("no restart left") }
    }

    /// The metrics lines without the columns that depend on time.
    func metricsWithoutTimes(_ name: String) throws -> [[String: String]] {
        let text = try String(contentsOfFile: path("\(name).jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            var values: [String: String] = [:]
            for (key, value) in object where key != "seconds" && key != "samples_per_second" { values[key] = "\(value)" }
            return values
        }
    }

    func bytes(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path("\(name).safetensors"))) }

    /// The uninterrupted run the restarted ones must equal: `./launch -n 2` with `mlp`.
    func reference() throws -> (model: Data, metrics: [[String: String]]) {
        let output = try launch(["-n", "2"] + recipe("reference"), executable: "mlp")
        XCTAssertEqual(output.status, 0, output.stderr)
        return (try bytes("reference"), try metricsWithoutTimes("reference"))
    }

    /// Rank 1 SIGKILLs itself once, before step 33's reduction (the newest checkpoint is step
    /// 30's), or before step 3's (no checkpoint yet): launch prints one restart line, resumes
    /// from step 30 or starts again from the beginning, and the job ends with status 0, the
    /// uninterrupted run's model byte for byte, and its metrics (time columns aside), each
    /// epoch once.
    func testKilledRankRestartsFromTheCheckpointAndKeepsTheTrajectory() throws {
        let expected = try reference()
        XCTAssertEqual(expected.metrics.count, 3)
        for (killStep, resumed) in [(33, "resuming from step 30 of checkpoint "), (3, "no checkpoint written yet: starting again")] {
            let name = "killed-\(killStep)", checkpoint = path("\(name).checkpoint")
            let output = try launch(["--restarts", "1", "-n", "2"] + recipe(name) + ["--checkpoint", checkpoint, "--checkpoint-every", "5"],
                                    environment: ["MLP_TEST_KILL_AT_STEP": "\(killStep)", "MLP_TEST_KILL_RANK": "1",
                                                  "MLP_TEST_KILL_ONCE_FILE": path("\(name).killed")])
            XCTAssertFalse(output.timedOut)
            XCTAssertEqual(output.status, 0, output.stderr)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("\(name).killed")), "rank 1 was killed")
            let lines = restartLines(output)
            XCTAssertEqual(lines.count, 1, output.stderr)
            let line = String(lines.first ?? "")
            for part in ["launch: restart 1 of 1: the job ended with status 137 (a rank was killed)", "; 2 ranks now; ", resumed] {
                XCTAssertTrue(line.contains(part), "\"\(line)\" does not contain \"\(part)\"")
            }
            if killStep == 33 { XCTAssertTrue(line.hasSuffix("step 30 of checkpoint \(checkpoint)"), line) }
            XCTAssertEqual(try bytes(name), expected.model, "kill at step \(killStep): "
                + "the restarted model differs from the uninterrupted one")
            let metrics = try metricsWithoutTimes(name)
            XCTAssertEqual(metrics, expected.metrics, "kill at step \(killStep): metrics")
            XCTAssertEqual(Set(metrics.compactMap { $0["step"] }).count, metrics.count, "a step's line appears twice")
            print("[launch --restarts 1, rank 1 killed at step \(killStep)] \(line)")
        }
    }

    /// With `--hostfile` (this machine only: `localhost slots=2`) the ranks default to its slots,
    /// and a restart asks its hosts first: here every host answers, the same 2 ranks resume.
    func testHostfileGivesTheRanksAndIsAskedBeforeARestart() throws {
        let hostfile = path("hosts")
        try "# this machine\nlocalhost slots=2\n".write(toFile: hostfile, atomically: true, encoding: .utf8)
        let blas = try launch(["--hostfile", hostfile, "blas"], executable: "mlp")
        XCTAssertEqual(blas.status, 0, blas.stderr)
        XCTAssertEqual(blas.stdout.split(separator: "\n").count, 2, "one line per slot: \(blas.stdout)")
        let checkpoint = path("hosts.checkpoint")
        let arguments = ["--restarts", "1", "--hostfile", hostfile] + recipe("hosts")
            + ["--checkpoint", checkpoint, "--checkpoint-every", "5"]
        let output = try launch(arguments, environment: ["MLP_TEST_KILL_AT_STEP": "33", "MLP_TEST_KILL_RANK": "1",
                                                         "MLP_TEST_KILL_ONCE_FILE": path("hosts.killed")])
        XCTAssertFalse(output.timedOut)
        XCTAssertEqual(output.status, 0, output.stderr)
        let expected = "launch: restart 1 of 1: the job ended with status 137 (a rank was killed); every host answers; "
            + "2 ranks now; resuming from step 30 of checkpoint \(checkpoint)"
        XCTAssertEqual(restartLines(output), [Substring(expected)], output.stderr)
    }

    /// Inside a Slurm allocation `-n` defaults to `SLURM_NTASKS` (here without a running Slurm:
    /// only the variable is set); a malformed value is one note and the default of no Slurm.
    func testSlurmTaskCountGivesTheRanks() throws {
        try skipInsideSlurmJob()
        let plain = try launch(["blas"], executable: "mlp")
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let defaultRanks = plain.stdout.split(separator: "\n").count
        XCTAssertGreaterThan(defaultRanks, 0)
        let three = try launch(["blas"], executable: "mlp", environment: ["SLURM_NTASKS": "3"])
        XCTAssertEqual(three.status, 0, three.stderr)
        XCTAssertEqual(three.stdout.split(separator: "\n").count, 3, "one line per rank: \(three.stdout)")
        XCTAssertFalse(three.stderr.contains("launch: note:"), three.stderr)
        let given = try launch(["-n", "1", "blas"], executable: "mlp", environment: ["SLURM_NTASKS": "abc"])
        XCTAssertEqual(given.stdout.split(separator: "\n").count, 1, "-n wins, and SLURM_NTASKS is not read: \(given.stderr)")
        XCTAssertFalse(given.stderr.contains("launch: note:"), given.stderr)
        for value in ["abc", "0", "-1", "", "99999999999999999999", "3 ", "1e3"] {
            let output = try launch(["blas"], executable: "mlp", environment: ["SLURM_NTASKS": value])
            XCTAssertEqual(output.status, 0, "\(value): \(output.stderr)")
            XCTAssertEqual(output.stdout.split(separator: "\n").count, defaultRanks, "\(value): the default ranks")
            let notes = output.stderr.split(separator: "\n").filter { $0.hasPrefix("launch: note:") }
            XCTAssertEqual(notes, ["launch: note: ignoring SLURM_NTASKS='\(value)' (not a task count)"], output.stderr)
        }
    }

    /// `--restarts` inside an allocation: its nodes are the hosts, probed before a restart like a
    /// hostfile's. Here the allocation is this machine (`localhost`, 2 tasks) and `ghost01` (1
    /// task), which does not exist: the ranks default to the 3 tasks, and after rank 1 is
    /// killed, ghost01 does not answer and the job resumes on this machine's 2 slots.
    func testAllocationNodesAreTheHostsOfARestart() throws {
        try skipInsideSlurmJob()
        let checkpoint = path("allocation.checkpoint")
        let output = try launch(["--restarts", "1"] + recipe("allocation") + ["--checkpoint", checkpoint, "--checkpoint-every", "5"],
                                environment: ["SLURM_JOB_NODELIST": "localhost,ghost01", "SLURM_TASKS_PER_NODE": "2,1",
                                              "MLP_TEST_KILL_AT_STEP": "33", "MLP_TEST_KILL_RANK": "1",
                                              "MLP_TEST_KILL_ONCE_FILE": path("allocation.killed")])
        XCTAssertFalse(output.timedOut)
        XCTAssertEqual(output.status, 0, output.stderr)
        let lines = restartLines(output)
        XCTAssertEqual(lines.count, 1, output.stderr)
        let line = String(lines.first ?? "")
        for part in ["launch: restart 1 of 1: the job ended with status 137 (a rank was killed); host ghost01 dropped (no answer: ",
                     "; 2 ranks now; resuming from step 30 of checkpoint \(checkpoint)"] {
            XCTAssertTrue(line.contains(part), "\"\(line)\" does not contain \"\(part)\"")
        }
        XCTAssertFalse(line.contains("localhost dropped"), line)
        // A malformed node list: one note, and the job runs as without an allocation (no restart probe).
        let malformed = try launch(["--restarts", "1", "-n", "2"] + recipe("malformed") + ["--checkpoint", path("m.checkpoint")],
                                   executable: "mlp", environment: ["SLURM_JOB_NODELIST": "node[01-", "SLURM_TASKS_PER_NODE": "1"])
        XCTAssertEqual(malformed.status, 0, malformed.stderr)
        XCTAssertEqual(malformed.stderr.split(separator: "\n").filter { $0.hasPrefix("launch: note:") },
                       ["launch: note: ignoring SLURM_JOB_NODELIST='node[01-' (not a Slurm host list such as node[01-03,7],gpu5); "
                        + "running as without an allocation"], malformed.stderr)
    }

    /// These tests set Slurm's variables themselves; inside a real job mpirun would read its allocation.
    func skipInsideSlurmJob() throws {
        if ProcessInfo.processInfo.environment["SLURM_JOBID"] != nil {
            throw XCTSkip("runs inside a Slurm job: mpirun would take that job's allocation")
        }
    }

    /// A rank that stalls (75, from the collective watchdog) is restartable too: with
    /// `--restarts 1` and a stall in every run, launch restarts once, then gives up with 75.
    func testStalledRankRestartsUpToK() throws {
        let checkpoint = path("stalled.checkpoint")
        let output = try launch(["--restarts", "1", "-n", "2"] + recipe("stalled")
                                + ["--checkpoint", checkpoint, "--checkpoint-every", "5", "--collective-timeout", "1"],
                                environment: ["MLP_TEST_STALL_AT_STEP": "8"])
        XCTAssertFalse(output.timedOut)
        XCTAssertEqual(output.status, ExitStatus.rankLost, output.stderr)
        let lines = restartLines(output).filter { $0.hasPrefix("launch: restart ") }
        XCTAssertEqual(lines.count, 1, output.stderr)
        XCTAssertTrue(lines.first?.contains("status 75 (a rank died or stalled)") ?? false, output.stderr)
        XCTAssertTrue(lines.first?.contains("resuming from step 5 of checkpoint \(checkpoint)") ?? false, output.stderr)
        XCTAssertTrue(output.stderr.contains("launch: the job ended with status 75 (a rank died or stalled); "
            + "no restart left (--restarts 1)"),
                      output.stderr)
        XCTAssertEqual(output.stderr.components(separatedBy: "mlp: error: collective timeout").count - 1, 2, "two runs: \(output.stderr)")
    }

    /// Without restarts (`--restarts 0`, or none) the job's status passes through: 75 from a
    /// stalled rank, 137 from a killed one; no restart line.
    func testWithoutRestartsTheStatusPassesThrough() throws {
        let stalled = try launch(["--restarts", "0", "-n", "2"] + recipe("stalled")
                                 + ["--checkpoint", path("stalled.checkpoint"), "--collective-timeout", "1"],
                                 environment: ["MLP_TEST_STALL_AT_STEP": "8"])
        XCTAssertEqual(stalled.status, ExitStatus.rankLost, stalled.stderr)
        XCTAssertEqual(restartLines(stalled), [], stalled.stderr)
        let killed = try launch(["-n", "2"] + recipe("killed"), environment: ["MLP_TEST_KILL_AT_STEP": "8"])
        XCTAssertEqual(killed.status, 137, killed.stderr)
        XCTAssertEqual(restartLines(killed), [], killed.stderr)
    }

    /// Bad input (1), a usage error (64) and divergence (3) are never restarted: one run, its
    /// status, one `mlp: error:` line and no launch line.
    func testOtherFailuresAreNeverRestarted() throws {
        let checkpoint = ["--checkpoint", path("c.checkpoint")]
        let cases: [(String, [String], Int32)] = [
            ("bad input", ["train", "--train", path("missing.csv")] + checkpoint, ExitStatus.badInput),
            ("usage", recipe("usage") + checkpoint + ["--batch-size", "0"], ExitStatus.usage),
            ("diverged", recipe("diverged") + checkpoint + ["--learning-rate", "1e30"], ExitStatus.diverged),
        ]
        for (what, arguments, status) in cases {
            let output = try launch(["--restarts", "3", "-n", "2"] + arguments, executable: "mlp")
            XCTAssertFalse(output.timedOut)
            XCTAssertEqual(output.status, status, "\(what): \(output.stderr)")
            XCTAssertEqual(output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }.count, 1,
                           "\(what): one run: \(output.stderr)")
            XCTAssertEqual(restartLines(output), [], "\(what): \(output.stderr)")
        }
    }

    /// `--restarts` needs `train … --checkpoint FILE`: refused in one line, exit 2, before any
    /// build or run.
    func testRestartsWithoutCheckpointIsRefused() throws {
        for arguments in [["--restarts", "1", "-n", "2"] + recipe("a"), ["--restarts", "1", "evaluate", "--model", "m", "--data", data.path],
                          ["--restarts", "1"], ["--restarts", "-1", "train", "--train", data.path, "--checkpoint", "c"]] {
            let output = try MLPProcess.launch(launchScript, arguments, environment: ["MLP_BINARY": "/nonexistent/mlp"])
            XCTAssertEqual(output.status, 2, output.stderr)
            let lines = output.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, output.stderr)
            XCTAssertTrue(lines.first?.hasPrefix("launch: --restarts ") ?? false, output.stderr)
        }
    }

    /// Every launch argument and environment value is checked: one `launch:` line, exit 2, no
    /// job; a hostfile is read whole or refused (empty, only comments, slots=0 or abc, a directory).
    func testBadArgumentsAndHostfilesAreOneLaunchLine() throws {
        let files = ["empty": "", "comments": "# none\n\n", "zero": "localhost slots=0\n", "abc": "localhost slots=abc\n"]
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: path(name))) }
        let train = ["train", "--train", data.path, "--epochs", "1"]
        let cases: [([String], [String: String], String)] = [
            (["-n", ""] + train, [:], "launch: -n needs a value"),
            (["--restarts", ""] + train, [:], "launch: --restarts needs a value"),
            (["--restarts", "9223372036854775808"] + train, [:], "launch: --restarts must be a whole number from 0 to 1000"),
            (["-n", "0"] + train, [:], "launch: -n must be a whole number"),
            (["--hostfile", directory.path] + train, [:], "is a directory, not a hostfile"),
            (["--hostfile", path("empty")] + train, [:], "no hosts"),
            (["--hostfile", path("comments")] + train, [:], "no hosts"),
            (["--hostfile", path("zero")] + train, [:], ":1: slots=0: slots must be a positive integer"),
            (["--hostfile", path("abc")] + train, [:], ":1: slots=abc: slots must be a positive integer"),
            (["--restarts", "1"] + train + ["--checkpoint", path("c")], ["MLP_LAUNCH_ABORT_GRACE": "1e3"], "MLP_LAUNCH_ABORT_GRACE must be seconds"),
        ]
        for (arguments, environment, message) in cases {
            let output = try MLPProcess.launch(launchScript, arguments,
                                               environment: environment.merging(["MLP_BINARY": try MLPProcess.executable("mlp").path]) { a, _ in a })
            XCTAssertEqual(output.status, 2, "\(arguments): \(output.stderr)")
            let lines = output.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(output.stderr)")
            XCTAssertTrue(lines.first?.hasPrefix("launch: ") ?? false, output.stderr)
            XCTAssertTrue(output.stderr.contains(message), "\(arguments): '\(message)' not in \(output.stderr)")
        }
    }

    /// SIGTERM to launch while the job trains: launch forwards it to mpirun once, the ranks
    /// write their checkpoint and stop, and launch exits 128 + SIGTERM without restarting.
    func testSignalToLaunchIsForwardedAndNotRestarted() throws {
        try skipWithoutMPIRun()
        let checkpoint = path("signalled.checkpoint")
        let arguments = ["--restarts", "2", "-n", "2", "train", "--train", data.path, "--hidden", "256,256", "--batch-size", "8",
                         "--epochs", "20", "--checkpoint", checkpoint, "--checkpoint-every", "10"]
        let run = try MLPProcess.start(program: launchScript, arguments, ranksRun: "mlp",
                                       environment: ["MLP_BINARY": try MLPProcess.executable("mlp").path])
        try run.waitForFile(checkpoint)
        let ranks = run.rankProcesses()
        XCTAssertEqual(ranks.count, 2, "two rank processes under launch's mpirun")
        run.signal(SIGTERM)
        let output = run.wait(timeLimit: 60)
        XCTAssertFalse(output.timedOut)
        XCTAssertEqual(output.status, 128 + SIGTERM, output.stderr)
        XCTAssertTrue(output.stderr.contains("mlp: error: interrupted by SIGTERM after step"), output.stderr)
        XCTAssertEqual(restartLines(output), [], output.stderr)
        XCTAssertEqual(MLPProcess.waitUntilGone(ranks), [], "rank processes left")
        XCTAssertGreaterThan(try Checkpoint.read(path: checkpoint).position.step, 0)
    }

    /// SIGUSR1 to launch (a batch script passes on Slurm's warning before the time limit with
    /// it, docs/slurm.md) goes to mpirun like SIGTERM: no restart, launch exits 128 + SIGUSR1, and
    /// no rank is left behind.
    func testSIGUSR1ToLaunchIsForwardedAndNotRestarted() throws {
        try skipWithoutMPIRun()
        let checkpoint = path("usr1.checkpoint")
        let arguments = ["--restarts", "2", "-n", "2", "train", "--train", data.path, "--hidden", "256,256", "--batch-size", "8",
                         "--epochs", "20", "--checkpoint", checkpoint, "--checkpoint-every", "10"]
        let run = try MLPProcess.start(program: launchScript, arguments, ranksRun: "mlp",
                                       environment: ["MLP_BINARY": try MLPProcess.executable("mlp").path])
        try run.waitForFile(checkpoint)
        let ranks = run.rankProcesses()
        XCTAssertEqual(ranks.count, 2, "two rank processes under launch's mpirun")
        run.signal(SIGUSR1)
        let output = run.wait(timeLimit: 60)
        XCTAssertFalse(output.timedOut)
        XCTAssertEqual(output.status, 128 + SIGUSR1, output.stderr)
        XCTAssertEqual(restartLines(output), [], output.stderr)
        XCTAssertEqual(MLPProcess.waitUntilGone(ranks), [], "rank processes left")
    }
}
