import XCTest
@testable import MLP
import TestSupport

/// No command writes over a file it reads or over another of its outputs (compared by device
/// and inode, whatever the spelling), a file the user did not name is never replaced, a failed
/// run leaves earlier outputs byte for byte, and a write that cannot complete (a full disk) stops
/// the job with one line and exit status 5, the previous checkpoint intact and no temporary
/// file left. Each case is a real `mlp` process (or an `mpirun` job) with the liveness limit of
/// `MLPProcess`; its folder is compared before and after with `FolderSnapshot`.
///
/// The disk-full cases mount a small tmpfs, as root only (they skip otherwise, saying so).
final class OutputSafetyTests: ScratchFolderTestCase {
    var data: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 60, seed: 1)
    }

    /// A few steps of a small model: each run takes well under a second.
    var quick: [String] { ["--hidden", "4", "--batch-size", "16", "--epochs", "2", "--seed", "1"] }

    /// Runs `mlp arguments…` (under `mpirun -n ranks` for more than one), which must be refused
    /// with `status` and one line holding `parts`, leaving `directory` byte for byte as it was.
    @discardableResult
    func assertRefusedLeavingFilesAlone(_ arguments: [String], ranks: Int = 1, status: Int32 = ExitStatus.badInput,
                                        executable: String = "mlp", environment: [String: String] = [:], _ parts: String...,
                                        file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = try FolderSnapshot(directory)
        let output = try MLPProcess.run(ranks: ranks, arguments, executable: executable, environment: environment)
        var message = assertRefused(output, status: status, file: file, line: line)
        for part in parts { XCTAssertTrue(message.contains(part), "'\(part)' not in: \(message)", file: file, line: line) }
        let after = try FolderSnapshot(directory)
        XCTAssertEqual(after, before, "files changed: \(after.changes(since: before))", file: file, line: line)
        message = message.replacingOccurrences(of: directory.path, with: "DIR")
        print("[\(ranks) rank(s), \(String(format: "%.2f", output.seconds)) s, status \(output.status)] \(message)")
        return message
    }

    func train(_ arguments: [String], ranks: Int = 1) throws {
        let output = try MLPProcess.run(ranks: ranks, ["train"] + arguments)
        XCTAssertEqual(output.status, 0, output.stderr)
    }

    // MARK: - train: an output that is an input, by another spelling or a link

    func testSaveThatIsTheTrainingDataByAnotherSpellingIsRefused() throws {
        try FileManager.default.createDirectory(atPath: path("sub"), withIntermediateDirectories: true)
        for spelling in [path("./train.csv"), path("sub/../train.csv"), directory.path + "//train.csv"] {
            try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--save", spelling] + quick,
                                               "--save \(spelling) is the same file as --train \(data.path)")
        }
    }

    func testCheckpointThatIsASymbolicLinkToTheTrainingDataIsRefused() throws {
        try FileManager.default.createSymbolicLink(atPath: path("link.safetensors"), withDestinationPath: data.path)
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--checkpoint", path("link.safetensors")] + quick,
                                           "--checkpoint", "is the same file as --train")
    }

    func testMetricsThatIsAHardLinkToTheTestDataIsRefused() throws {
        let test = directory.appendingPathComponent("test.csv")
        try writeClassificationCSV(test, rows: 30, seed: 2)
        try FileManager.default.linkItem(atPath: test.path, toPath: path("metrics.jsonl"))
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--test", test.path, "--metrics", path("metrics.jsonl")] + quick,
                                           "--metrics", "is the same file as --test")
    }

    /// `.npy` features: their labels file and its names file are inputs too.
    func testOutputsThatAreNPYLabelsOrTheirNamesAreRefused() throws {
        let converted = try MLPProcess.run(["convert", "--input", data.path, "--output", path("d")])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        let source = ["train", "--train", path("d.X.npy"), "--train-labels", path("d.y.npy")] + quick
        try assertRefusedLeavingFilesAlone(source + ["--checkpoint", path("./d.y.npy")], "--checkpoint", "--train-labels")
        try assertRefusedLeavingFilesAlone(source + ["--metrics", path("d.y.json")], "--metrics", "--train-labels", "d.y.json")
        try assertRefusedLeavingFilesAlone(source + ["--save", path("d.X.npy")], "--save", "is the same file as --train")
    }

    /// `mnist:DIR` reads the directory's IDX files: none of them may be an output.
    func testSaveThatIsAnMNISTFileIsRefused() throws {
        let mnist = directory.appendingPathComponent("mnist")
        try FileManager.default.createDirectory(at: mnist, withIntermediateDirectories: true)
        for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try Data("not read: refused before".utf8).write(to: mnist.appendingPathComponent(name))
        }
        try assertRefusedLeavingFilesAlone(["train", "--train", "mnist:" + mnist.path, "--save", mnist.path + "/./train-labels-idx1-ubyte.gz"] + quick,
                                           "--save", "--train mnist:\(mnist.path)")
    }

    func testOutputsThatAreTheStartingModelOrTheResumedCheckpointAreRefused() throws {
        try train(["--train", data.path, "--save", path("start.safetensors"), "--checkpoint", path("c.safetensors")] + quick)
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--init-from", path("start.safetensors"),
                                            "--save", path("./start.safetensors")] + quick, "--save", "--init-from")
        try assertRefusedLeavingFilesAlone(["train", "--resume", path("c.safetensors"), "--epochs", "3", "--save", path("c.safetensors")],
                                           "--save", "is the same file as --resume")
        try assertRefusedLeavingFilesAlone(["train", "--resume", path("c.safetensors"), "--epochs", "3", "--metrics", path("c.safetensors")],
                                           "--metrics", "is the same file as --resume")
    }

    /// Continuing a checkpoint in place is the normal use: `--checkpoint` may be `--resume`.
    func testCheckpointThatIsTheResumedCheckpointIsAllowed() throws {
        try train(["--train", data.path, "--checkpoint", path("c.safetensors")] + quick)
        try train(["--resume", path("c.safetensors"), "--checkpoint", path("./c.safetensors"), "--epochs", "3"])
        XCTAssertEqual(try Checkpoint.read(path: path("c.safetensors")).position.epoch, 4, "continued to the end of epoch 3")
    }

    // MARK: - train: two outputs that are one file

    func testCheckpointThatIsTheSaveFileIsRefused() throws {
        // Neither exists yet: the same name in the same directory, spelled two ways.
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--save", path("model.safetensors"),
                                            "--checkpoint", path("./model.safetensors")] + quick,
                                           "--checkpoint \(path("./model.safetensors")) is the same file as --save \(path("model.safetensors"))")
    }

    func testMetricsThatIsTheSaveOrCheckpointFileIsRefused() throws {
        try Data("earlier".utf8).write(to: directory.appendingPathComponent("out"))
        try FileManager.default.createSymbolicLink(atPath: path("out-link"), withDestinationPath: path("out"))
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--save", path("out"), "--metrics", path("out-link")] + quick,
                                           "--metrics", "is the same file as --save")
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--checkpoint", path("out"), "--metrics", path("out-link")] + quick,
                                           "--metrics", "is the same file as --checkpoint")
    }

    /// Under mpirun: every rank finds it, one line for the job, nothing written.
    func testCollisionUnderMPIRunIsOneLine() throws {
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--save", path("./train.csv")] + quick, ranks: 2,
                                           "--save", "is the same file as --train")
    }

    // MARK: - predict, plot, convert

    func testPredictOutputThatIsItsInputOrItsModelIsRefused() throws {
        try train(["--train", data.path, "--save", path("model.safetensors")] + quick)
        try FileManager.default.createSymbolicLink(atPath: path("model-link"), withDestinationPath: path("model.safetensors"))
        try assertRefusedLeavingFilesAlone(["predict", "--model", path("model.safetensors"), "--input", data.path, "--output", path("./train.csv")],
                                           "--output \(path("./train.csv")) is the same file as --input")
        try assertRefusedLeavingFilesAlone(["predict", "--model", path("model.safetensors"), "--input", data.path, "--output", path("model-link")],
                                           "--output \(path("model-link")) is the same file as --model")
    }

    func testPlotOutputThatIsItsMetricsIsRefused() throws {
        try train(["--train", data.path, "--metrics", path("m.jsonl")] + quick)
        try assertRefusedLeavingFilesAlone(["plot", "--metrics", path("m.jsonl"), "--output", path("./m.jsonl")],
                                           "--output", "is the same file as --metrics")
    }

    func testConvertOutputsThatAreItsInputOrOneAnotherAreRefused() throws {
        // The input as the features file: `--output train.csv.X` would not do it, a link does.
        try FileManager.default.createSymbolicLink(atPath: path("p.X.npy"), withDestinationPath: data.path)
        try assertRefusedLeavingFilesAlone(["convert", "--input", data.path, "--output", path("p")],
                                           "--output \(path("p")) (\(path("p.X.npy"))) is the same file as --input")
        // Two outputs that are one file (a hard link left from elsewhere).
        try Data("earlier".utf8).write(to: directory.appendingPathComponent("q.X.npy"))
        try FileManager.default.linkItem(atPath: path("q.X.npy"), toPath: path("q.y.npy"))
        try assertRefusedLeavingFilesAlone(["convert", "--input", data.path, "--output", path("q")],
                                           "q.y.npy", "is the same file as --output", "q.X.npy")
        // --classes-from is read: the output's names file may not be it.
        let converted = try MLPProcess.run(["convert", "--input", data.path, "--output", path("r")])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        try assertRefusedLeavingFilesAlone(["convert", "--input", data.path, "--output", path("./r"), "--classes-from", path("r.y.json")],
                                           "is the same file as --classes-from")
    }

    // MARK: - a file the user did not name

    /// SIGINT without `--checkpoint` writes `mlp-interrupted.safetensors` beside `--save`; a
    /// file of that name is kept and the checkpoint gets a fresh name, printed.
    func testInterruptedRunDoesNotReplaceAnExistingDefaultCheckpoint() throws {
        let big = directory.appendingPathComponent("big.csv")
        try writeClassificationCSV(big, rows: 3000, seed: 3)
        let taken = directory.appendingPathComponent("mlp-interrupted.safetensors")
        try Data("someone else's file".utf8).write(to: taken)
        let before = try FolderSnapshot(directory)
        let run = try MLPProcess.start(["train", "--train", big.path, "--hidden", "128,128", "--batch-size", "8", "--epochs", "8",
                                        "--save", path("model.safetensors")])
        try run.waitUntil("training began") { run.stdout.contains("learning rate") }
        run.signal(SIGINT)
        let output = run.wait()
        let fresh = path("mlp-interrupted-1.safetensors")
        assertRefused(output, status: ExitStatus.interrupted(by: SIGINT), "interrupted by SIGINT", "checkpoint written to \(fresh)",
                      "mlp train --resume \(fresh)")
        let after = try FolderSnapshot(directory)
        XCTAssertEqual(after.files["mlp-interrupted.safetensors"], before.files["mlp-interrupted.safetensors"], "the existing file is kept")
        XCTAssertEqual(Set(after.files.keys).subtracting(before.files.keys), ["mlp-interrupted-1.safetensors"], after.changes(since: before))
        XCTAssertGreaterThan(try Checkpoint.read(path: fresh).position.step, 0)
        print("[interrupted, \(String(format: "%.2f", output.seconds)) s] \(output.stderr.replacingOccurrences(of: directory.path, with: "DIR"))")
    }

    // MARK: - a failed run leaves earlier outputs as they were

    /// A run that diverges (a NaN gradient at step 2, injected) stops with status 3 and leaves
    /// the earlier run's model, checkpoint and metrics byte for byte: the metrics file is only
    /// replaced when a run finishes an epoch.
    func testDivergedRunLeavesEarlierModelCheckpointAndMetricsAlone() throws {
        let outputs = ["--save", path("model.safetensors"), "--checkpoint", path("c.safetensors"), "--metrics", path("m.jsonl")]
        try train(["--train", data.path] + quick + outputs)
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path] + quick + outputs, status: ExitStatus.diverged,
                                           executable: "mlp-faults", environment: ["MLP_TEST_NAN_AT_STEP": "2"], "non-finite")
    }

    /// Test data that does not fit the training data, found after the outputs were checked:
    /// refused, earlier outputs untouched (the metrics file was truncated here before).
    func testRefusedTestDataLeavesEarlierMetricsAlone() throws {
        let outputs = ["--save", path("model.safetensors"), "--metrics", path("m.jsonl")]
        try train(["--train", data.path] + quick + outputs)
        let test = directory.appendingPathComponent("test.csv")
        try "f1,f2,f3,f4,f5,label\n0,0,0,0,0,cat\n1,1,1,1,1,yak\n".write(to: test, atomically: true, encoding: .utf8)
        try assertRefusedLeavingFilesAlone(["train", "--train", data.path, "--test", test.path] + quick + outputs, "yak")
    }

    /// A resumed run keeps the metrics lines of the epochs up to its checkpoint, drops later
    /// ones (and half a line) and writes each epoch once: the file then matches an uninterrupted run's.
    func testResumedRunContinuesMetricsWithoutDuplicates() throws {
        let recipe = ["--train", data.path, "--hidden", "4", "--batch-size", "16", "--seed", "1"]
        try train(recipe + ["--epochs", "4", "--metrics", path("full.jsonl")])
        try train(recipe + ["--epochs", "2", "--checkpoint", path("c.safetensors")])
        // An earlier attempt got to epoch 3 and half a line of epoch 4 past the checkpoint.
        let full = try String(contentsOfFile: path("full.jsonl"), encoding: .utf8).split(separator: "\n").map(String.init)
        try (full[0 ..< 3].joined(separator: "\n") + "\n" + full[3].prefix(40)).write(toFile: path("m.jsonl"), atomically: true, encoding: .utf8)
        try train(["--resume", path("c.safetensors"), "--epochs", "4", "--metrics", path("m.jsonl")])
        let resumed = try String(contentsOfFile: path("m.jsonl"), encoding: .utf8)
        XCTAssertTrue(resumed.hasSuffix("}\n"))
        func epochsAndLosses(_ text: String) throws -> [[Double]] {
            try text.split(separator: "\n").map {
                let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                return [Double(object["epoch"] as! Int), Double(object["step"] as! Int), object["train_loss"] as! Double]
            }
        }
        XCTAssertEqual(try epochsAndLosses(resumed), try epochsAndLosses(full.joined(separator: "\n")))
    }
}
