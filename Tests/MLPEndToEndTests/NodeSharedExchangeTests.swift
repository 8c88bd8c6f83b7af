import XCTest
@testable import MLP
import TestSupport

/// `--allreduce shared` under real mpirun on one machine: the ranks hold one θ in a shared
/// window, each adds its slice of the sums from every rank's slot in rank order and updates it
/// in place. The 5-64-48-3 network of `ShardedUpdateEndToEndTests`: θ has 3,651 values, four
/// blocks of 1,024, so 2 ranks update two blocks each and 3 ranks two, one and one.
final class NodeSharedExchangeTests: ScratchFolderTestCase {
    static let network = ["--hidden", "64,48", "--activation", "tanh", "--seed", "4"]

    /// On 2 ranks each sum is s₀ + s₁, what the allreduce gives: the model, the checkpoint
    /// (optimizer state gathered from the slices) and the metrics' numbers are `--allreduce
    /// single`'s, byte for byte, for each update rule and both precisions. Batches of 7 rows:
    /// shards of 4 and 3, and a partial last batch.
    func testTwoRanksSharedIsByteIdenticalToSingle() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 300, seed: 1)
        for (index, (name, options)) in ShardedUpdateEndToEndTests.recipes.enumerated() {
            for precision in ["float32", "float64"] {
                var files: [String: (model: Data, checkpoint: Data, metrics: String)] = [:]
                for mode in ["single", "shared"] {
                    let tag = "\(index)-\(precision)-\(mode)"
                    let output = try MLPProcess.mpirun(ranks: 2, ["train", "--train", train, "--batch-size", "7", "--epochs", "2",
                                                                  "--precision", precision, "--allreduce", mode,
                                                                  "--save", path("\(tag).safetensors"), "--checkpoint", path("\(tag).checkpoint"),
                                                                  "--metrics", path("\(tag).jsonl")] + Self.network + options)
                    XCTAssertEqual(output.status, 0, "\(name), \(precision), --allreduce \(mode): \(output.stderr)")
                    XCTAssertFalse(output.stdout.contains("note: --allreduce shared"), output.stdout)
                    files[mode] = (try Data(contentsOf: URL(fileURLWithPath: path("\(tag).safetensors"))),
                                   try Data(contentsOf: URL(fileURLWithPath: path("\(tag).checkpoint"))),
                                   ReproducibilityTests.numbers(try String(contentsOfFile: path("\(tag).jsonl"), encoding: .utf8)))
                }
                let label = "\(name), \(precision)"
                XCTAssertEqual(files["shared"]?.model, files["single"]?.model, "\(label): the shared exchange's model differs")
                XCTAssertEqual(files["shared"]?.checkpoint, files["single"]?.checkpoint, "\(label): its checkpoint differs")
                XCTAssertEqual(files["shared"]?.metrics, files["single"]?.metrics, "\(label): its metrics differ")
            }
        }
    }

    /// Steps whose loss overflows (ReLU, a learning rate of 10³⁶) are skipped alike: the agreement on
    /// finiteness comes before any rank writes the shared θ, so a skipped step changes nothing.
    func testSkippedStepsAreSingle() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 100, seed: 1)
        var models: [Data] = [], metrics: [String] = []
        for mode in ["single", "shared"] {
            let output = try MLPProcess.mpirun(ranks: 2, ["train", "--train", train, "--batch-size", "7", "--epochs", "1",
                                                          "--learning-rate", "1e36", "--on-nonfinite", "skip-step", "--allreduce", mode,
                                                          "--save", path(mode), "--metrics", path("\(mode).jsonl"),
                                                          "--hidden", "64,48", "--seed", "4"])
            XCTAssertEqual(output.status, 0, output.stderr)
            XCTAssertTrue(output.stdout.contains("non-finite step"), output.stdout)
            models.append(try Data(contentsOf: URL(fileURLWithPath: path(mode))))
            metrics.append(ReproducibilityTests.numbers(try String(contentsOfFile: path("\(mode).jsonl"), encoding: .utf8)))
        }
        XCTAssertEqual(models[0], models[1], "the skipped steps' model differs")
        XCTAssertEqual(metrics[0], metrics[1], "the skipped steps' metrics differ")
    }

    /// Float64 with clipping: 3 ranks (two slots added in a second pass) within 1e-12 of one
    /// process; a 2-rank checkpoint at step 7 resumes on 2 ranks into the uninterrupted 2-rank
    /// model byte for byte, and on 3 ranks and on one process within 1e-12 of it.
    func testThreeRanksAndResumeAcrossRankCounts() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 2)
        let common = ["train", "--train", train, "--batch-size", "50", "--epochs", "3", "--precision", "float64",
                      "--optimizer", "adam", "--learning-rate", "0.01", "--clip-grad-norm", "0.3"] + Self.network
        XCTAssertEqual(try MLPProcess.run(common + ["--save", path("one")]).status, 0)
        let one = try ModelFile.read(path: path("one")).parameters
        func assertClose(_ file: String, _ label: String) throws {
            let parameters = try ModelFile.read(path: path(file)).parameters
            let difference = zip(parameters, one).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(difference, 1e-12, "\(label): differs from one process by \(difference)")
        }
        for ranks in [2, 3] {
            let output = try MLPProcess.mpirun(ranks: ranks, common + ["--allreduce", "shared", "--save", path("\(ranks)")])
            XCTAssertEqual(output.status, 0, output.stderr)
            try assertClose("\(ranks)", "\(ranks) ranks")
        }
        let stopped = try MLPProcess.mpirun(ranks: 2, common + ["--allreduce", "shared", "--max-steps", "7",
                                                                "--checkpoint", path("stopped.checkpoint")])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        for ranks in [1, 2, 3] {
            let resumed = try MLPProcess.run(ranks: ranks, ["train", "--resume", path("stopped.checkpoint"), "--allreduce", "shared",
                                                            "--save", path("resumed-\(ranks)")])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            try assertClose("resumed-\(ranks)", "stopped on 2 ranks at step 7, resumed on \(ranks)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed-2"))), try Data(contentsOf: URL(fileURLWithPath: path("2"))),
                       "stopped on 2 ranks at step 7, resumed on 2: not the uninterrupted model")
    }

    /// One rank killed (SIGKILL) or stopped (SIGSTOP) mid-epoch: the other rank waits in the
    /// shared exchange's barrier, a watched collective, so a killed rank ends the job as mpirun
    /// sees it die and a stopped one is named by the watchdog (exit 75).
    func testKilledOrStoppedRankEndsTheJob() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 3000, seed: 1)
        let recipe = ["train", "--train", train, "--hidden", "256,256", "--batch-size", "8", "--epochs", "8", "--seed", "3",
                      "--allreduce", "shared", "--checkpoint-every", "10", "--collective-timeout", "10"]
        for signal in [SIGKILL, SIGSTOP] {
            let checkpoint = path("c-\(signal)")
            let run = try MLPProcess.start(ranks: 2, recipe + ["--checkpoint", checkpoint])
            try run.waitForFile(checkpoint)
            let processes = run.rankProcessesByRank()
            XCTAssertEqual(processes.count, 2, "one process per rank: \(processes)")
            let pid = try XCTUnwrap(processes[1])
            kill(pid, signal)
            let signalled = Date()
            let output = run.wait(timeLimit: 60)
            let seconds = Date().timeIntervalSince(signalled)
            XCTAssertFalse(output.timedOut, "still running 60 s after rank 1 got signal \(signal): \(output.stderr)")
            XCTAssertNotEqual(output.status, 0)
            if signal == SIGSTOP {
                XCTAssertLessThan(seconds, 30, "the job ended \(seconds) s after rank 1 was stopped: \(output.stderr)")
                assertRefused(output, status: ExitStatus.rankLost, "rank 1 (pid \(pid) on host ", "did not answer")
            }
            XCTAssertEqual(MLPProcess.waitUntilGone(Array(processes.values)), [], "rank processes left after the job ended")
            print("[signal \(signal) to rank 1 with --allreduce shared: \(String(format: "%.1f", seconds)) s to exit]")
        }
    }

    /// With `--reproducible` the slots hold the chunks' integer grid sums, added exactly: 2 and 3
    /// ranks save one process's model bytes (Adam with clipping, float32), and a run stopped on
    /// 3 ranks at step 7 resumes on 2 into the same bytes.
    func testReproducibleSharedMatchesOneProcessAndResumes() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 2)
        let common = ["train", "--train", train, "--batch-size", "50", "--epochs", "3", "--reproducible", "--chunk-rows", "8",
                      "--optimizer", "adam", "--learning-rate", "0.01", "--clip-grad-norm", "0.3"] + Self.network
        try assertExactOnAnyRanksAndResumedOnFewer(common, exchange: ["--allreduce", "shared"], named: "shared")
    }

    /// Several nodes, pretended on one machine (`mlp-faults` with MLP_TEST_NODES: no window over
    /// the world, one per pretended node): each local rank adds its slice from its node's slots
    /// and allreduces it with its peers on the other nodes. With `--reproducible`, 4 ranks on 2
    /// nodes and 6 on 3 save one process's bytes and a run stopped on 3 nodes resumes on 2
    /// ranks into them; float64 without it within 1e-12 of one process; one rank per node falls
    /// back to today's exchange, with a note, and the same bytes.
    func testSeveralNodes() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 2)
        let common = ["train", "--train", train, "--batch-size", "50", "--epochs", "3", "--reproducible", "--chunk-rows", "8",
                      "--optimizer", "adam", "--learning-rate", "0.01", "--clip-grad-norm", "0.3"] + Self.network
        XCTAssertEqual(try MLPProcess.run(common + ["--save", path("one")]).status, 0)
        let expected = try Data(contentsOf: URL(fileURLWithPath: path("one")))
        for (ranks, nodes) in [(4, 2), (6, 3), (4, 4)] {
            let output = try MLPProcess.mpirun(ranks: ranks, common + ["--allreduce", "shared", "--save", path("\(ranks)-\(nodes)")],
                                               executable: "mlp-faults", environment: ["MLP_TEST_NODES": "\(nodes)"])
            XCTAssertEqual(output.status, 0, output.stderr)
            XCTAssertEqual(output.stdout.contains("note: --allreduce shared"), ranks == nodes, output.stdout)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("\(ranks)-\(nodes)"))), expected,
                           "\(ranks) ranks on \(nodes) nodes: the model's bytes differ from one process's")
        }
        let stopped = try MLPProcess.mpirun(ranks: 6, common + ["--allreduce", "shared", "--max-steps", "7", "--checkpoint", path("c")],
                                            executable: "mlp-faults", environment: ["MLP_TEST_NODES": "3"])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        let resumed = try MLPProcess.mpirun(ranks: 2, ["train", "--resume", path("c"), "--reproducible", "--allreduce", "shared",
                                                       "--save", path("resumed")])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed"))), expected, "stopped on 3 nodes, resumed on 2 ranks")

        let plain = ["train", "--train", train, "--batch-size", "50", "--epochs", "3", "--precision", "float64",
                     "--optimizer", "adam", "--learning-rate", "0.01"] + Self.network
        XCTAssertEqual(try MLPProcess.run(plain + ["--save", path("plain-one")]).status, 0)
        let output = try MLPProcess.mpirun(ranks: 4, plain + ["--allreduce", "shared", "--save", path("plain-4")],
                                           executable: "mlp-faults", environment: ["MLP_TEST_NODES": "2"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let one = try ModelFile.read(path: path("plain-one")).parameters, four = try ModelFile.read(path: path("plain-4")).parameters
        let difference = zip(one, four).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(difference, 1e-12, "4 ranks on 2 nodes: differs from one process by \(difference)")
    }

    /// `--allreduce shared` refuses what it cannot do, in one line; on one process there is
    /// nothing to share and it trains as `--allreduce single` does, without a note.
    func testRefusalsAndOneProcess() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 40, seed: 3)
        let base = ["train", "--train", train, "--epochs", "1", "--batch-size", "8"] + Self.network
        assertRefused(try MLPProcess.run(base + ["--allreduce", "shared", "--sharded-update", "off"]), status: ExitStatus.usage,
                      "--allreduce shared", "--sharded-update off")
        let shared = try MLPProcess.run(base + ["--allreduce", "shared", "--save", path("shared")])
        XCTAssertEqual(shared.status, 0, shared.stderr)
        XCTAssertFalse(shared.stdout.contains("note:"), shared.stdout)
        XCTAssertEqual(try MLPProcess.run(base + ["--save", path("single")]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("shared"))), try Data(contentsOf: URL(fileURLWithPath: path("single"))))
    }

    /// Where /dev/shm has less room than the window (a container's small /dev/shm), the run falls
    /// back to `--allreduce single`: with `shared` asked for, saying so in one line; with `auto`
    /// (the default), silently. Never a rank killed by SIGBUS, which is what OpenMPI's window
    /// gives when a store passes the room. The ranks run in a private mount namespace with a
    /// 6 MiB /dev/shm, and θ (2-1000-1000-3) takes 4 MB: the window of θ and two slots, 12 MB.
    func testTooSmallDevShmFallsBackToSingle() throws {
        let namespace = ["-m", "sh", "-c", "mount -t tmpfs -o size=6m tmpfs /dev/shm && exec \"$@\"", "sh"]
        guard MLPProcess.isRoot, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              try MLPProcess.launch("/usr/bin/unshare", namespace + ["true"]).status == 0 else {
            throw XCTSkip("needs root and unshare to give the ranks a small /dev/shm of their own")
        }
        let base = ["train", "--train", "synthetic:spirals", "--hidden", "1000,1000", "--epochs", "1", "--max-steps", "3", "--seed", "2"]
        var models: [String: Data] = [:]
        for mode in ["shared", "auto", "single"] {
            let arguments = base + ["--allreduce", mode, "--save", path(mode)]
            let output: MLPProcess.Output
            if mode == "single" {
                output = try MLPProcess.mpirun(ranks: 2, arguments)
            } else {
                let mpirun = try MLPProcess.mpirunCommand([MLPProcess.MPIProgram(ranks: 2, arguments)])
                output = try MLPProcess.launch("/usr/bin/unshare", namespace + [mpirun.path] + mpirun.arguments)
            }
            XCTAssertEqual(output.status, 0, "--allreduce \(mode): \(output.reason) \(output.stderr)")
            XCTAssertEqual(output.stdout.contains("note: --allreduce shared needs"), mode == "shared", output.stdout)
            if mode == "shared" { XCTAssertTrue(output.stdout.contains("room in /dev/shm"), output.stdout) }
            models[mode] = try Data(contentsOf: URL(fileURLWithPath: path(mode)))
        }
        XCTAssertEqual(models["shared"], models["single"], "the fallback's model is --allreduce single's")
        XCTAssertEqual(models["auto"], models["single"], "the fallback's model is --allreduce single's")
    }
}
