import Foundation
import XCTest
@testable import MLP
import TestSupport

/// Inputs a hostile (or unlucky) user gives `mlp`, one case per test, each a real process: it
/// must end by itself within a liveness limit, with the expected status and one `mlp: error:`
/// line naming the cause, and leave the folder as it found it (nothing written, nothing
/// replaced, no temporary file). The classes: endless loops and unbounded
/// memory, crashes, silently wrong results, unclear or late messages. Every case is a row of
/// docs/failure-behaviour.md.
final class AdversarialInputTests: ScratchFolderTestCase {
    func write(_ name: String, _ text: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }
    func write(_ name: String, bytes: [UInt8]) throws { try Data(bytes).write(to: directory.appendingPathComponent(name)) }

    /// A liveness limit: every case here ends in a second or two; only a hang reaches it.
    static let timeLimit: Double = 60

    override func setUpWithError() throws {
        try super.setUpWithError()
        try write("good.csv", "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    }

    /// Runs `mlp arguments…` (under `mpirun -n ranks` for ranks > 1) and checks that it is
    /// refused with `status` and one error line holding each of `parts`, leaving the folder as
    /// it was. Returns the error line.
    @discardableResult
    func assertRefusedRun(_ arguments: [String], ranks: Int = 1, status: Int32 = ExitStatus.badInput, _ parts: [String],
                          file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = try FolderSnapshot(directory)
        let output = try MLPProcess.run(ranks: ranks, arguments, environment: MLPProcess.refusalEnvironment, timeLimit: Self.timeLimit)
        return try check(output, status: status, parts, before: before, file: file, line: line)
    }

    @discardableResult
    func check(_ output: MLPProcess.Output, status: Int32, _ parts: [String], before: FolderSnapshot,
               file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let message = assertRefused(output, status: status, file: file, line: line)
        for part in parts { XCTAssertTrue(message.contains(part), "'\(part)' not in: \(message)", file: file, line: line) }
        let after = try FolderSnapshot(directory)
        XCTAssertEqual(after, before, "the folder changed: \(after.changes(since: before))", file: file, line: line)
        print("[\(String(format: "%.2f", output.seconds)) s, status \(output.status)] \(message)")
        return message
    }

    /// `mlp train` on `data` for one epoch, saving to model.safetensors (which must not appear).
    func train(_ data: String, _ extra: [String] = []) -> [String] {
        ["train", "--train", data, "--epochs", "1", "--hidden", "3", "--save", path("model.safetensors")] + extra
    }

    /// Runs `mlp arguments…` to success (to make a model or checkpoint to break).
    func succeed(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let output = try MLPProcess.run(arguments, timeLimit: Self.timeLimit)
        XCTAssertEqual(output.status, 0, output.stderr, file: file, line: line)
    }

    func npy(_ values: [Double], _ type: NPYHeader.ElementType, shape: [Int]) -> [UInt8] { npyBytes(values, type, shape: shape) }

    /// An `.npy` pair of `rows` rows of 3 float32 features and 3 classes.
    func writeNPYPair(_ prefix: String, rows: Int, poison: (row: Int, column: Int, value: Double)? = nil) throws -> (features: String, labels: String) {
        var features = (0 ..< rows * 3).map { Double($0 % 7) / 7 }
        if let poison { features[poison.row * 3 + poison.column] = poison.value }
        try write("\(prefix).X.npy", bytes: npy(features, .float32, shape: [rows, 3]))
        try write("\(prefix).y.npy", bytes: npy((0 ..< rows).map { Double($0 % 3) }, .int64, shape: [rows]))
        return (path("\(prefix).X.npy"), path("\(prefix).y.npy"))
    }

    /// A checkpoint of good.csv (4 rows, batch 2: 2 batches per epoch) after `--max-steps 3`
    /// (epoch 2, batch 1, step 3), with `edit` applied to its file.
    func editedCheckpoint(_ extra: [String] = [], _ edit: (inout ModelFile) -> Void) throws -> String {
        let checkpoint = path("c.checkpoint")
        try succeed(["train", "--train", path("good.csv"), "--hidden", "3", "--batch-size", "2", "--epochs", "3", "--max-steps", "3",
                     "--checkpoint", checkpoint] + extra)
        var file = try ModelFile.read(path: checkpoint)
        edit(&file)
        try file.write(to: checkpoint)
        return checkpoint
    }

    // MARK: Endless loops, unbounded memory

    /// A checkpoint whose batch position lies past the epoch's batches looped forever, printing epochs.
    func testCheckpointPositionPastTheEpochsBatches() throws {
        let checkpoint = try editedCheckpoint { file in
            file.extraMetadata["checkpoint.batch_in_epoch"] = "7"
            file.extraMetadata["checkpoint.step"] = "9"
        }
        try assertRefusedRun(["train", "--resume", checkpoint, "--epochs", "3"],
                             ["c.checkpoint", "checkpoint position (epoch 2, batch 7, step 9) does not fit the data", "2 batches of 2"])
        try assertRefusedRun(["train", "--resume", checkpoint, "--epochs", "3"], ranks: 2, ["does not fit the data"])
    }

    /// A step count that does not follow from the epoch and batch (an edited checkpoint).
    func testCheckpointStepInconsistentWithItsPosition() throws {
        let checkpoint = try editedCheckpoint { $0.extraMetadata["checkpoint.step"] = "1000" }
        try assertRefusedRun(["train", "--resume", checkpoint, "--epochs", "3"],
                             ["does not fit the data", "(epoch − 1) × 2 + batch"])
    }

    /// `--train /dev/zero` grew memory without bound (no line break ever comes).
    func testTrainOnDevZero() throws {
        try assertRefusedRun(train("/dev/zero"), ["/dev/zero", "NUL byte", "not CSV text"])
    }

    /// Any stream without a line break: refused at the record bound, not at the end of memory.
    func testStreamWithoutALineBreak() throws {
        let mlp = try MLPProcess.executable().path
        let before = try FolderSnapshot(directory)
        let output = try MLPProcess.launch("bash", ["-c", "exec '\(mlp)' train --train <(yes | tr -d '\\n') --epochs 1"], timeLimit: Self.timeLimit)
        try check(output, status: ExitStatus.badInput, ["more than 64 MiB without a line break", "at most 64 MiB"], before: before)
    }

    /// A gzipped CSV (80 KiB) that inflates to a line without breaks: refused at the record
    /// bound as it is inflated, not inflated to its end. (Endless blank lines likewise, at
    /// 64 MiB of them: `GzipCSVTests.testRecordBoundsOnAStream`.)
    func testGzippedCSVWithoutALineBreak() throws {
        try write("line.csv.gz", bytes: gzip(Array("a,b,label\n".utf8) + [UInt8](repeating: UInt8(ascii: "7"), count: 80 << 20)))
        try assertRefusedRun(train(path("line.csv.gz")), ["line.csv.gz:2: a record longer than 64 MiB (no line break)", "at most 64 MiB"])
    }

    /// A model or labels "file" that never ends: refused at its first bytes.
    func testModelAndLabelsFromDevZero() throws {
        try assertRefusedRun(train(path("good.csv"), ["--init-from", "/dev/zero"]), ["/dev/zero", "not a valid safetensors file"])
        let pair = try writeNPYPair("d", rows: 6)
        try FileManager.default.createSymbolicLink(atPath: path("zero.y.npy"), withDestinationPath: "/dev/zero")
        try assertRefusedRun(train(pair.features, ["--train-labels", path("zero.y.npy")]), ["zero.y.npy", "not a .npy file"])
    }

    /// MNIST files that are devices: refused at the magic number.
    func testMNISTFileThatIsADevice() throws {
        let folder = directory.appendingPathComponent("mnist")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("train-images-idx3-ubyte").path,
                                                   withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("train-labels-idx1-ubyte").path,
                                                   withDestinationPath: "/dev/zero")
        try assertRefusedRun(train("mnist:" + folder.path), ["train-images-idx3-ubyte", "magic number 0"])
    }

    // MARK: Crashes

    /// `evaluate --json` trapped in the JSON writer when the loss is not finite.
    func testEvaluateJSONWithANonFiniteLoss() throws {
        try succeed(train(path("good.csv")))
        try write("huge.csv", "a,b,label\n3e38,3e38,0\n-3e38,3e38,1\n")
        let output = try MLPProcess.run(["evaluate", "--model", path("model.safetensors"), "--data", path("huge.csv"), "--json"],
                                        timeLimit: Self.timeLimit)
        XCTAssertFalse(output.timedOut)
        XCTAssertEqual(output.reason, .exit, output.stderr)
        XCTAssertEqual(output.status, 0, output.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], output.stdout)
        XCTAssertTrue(object["loss"] is NSNull, "JSON has no NaN or infinity: \(output.stdout)")
        XCTAssertEqual(object["rows"] as? Int, 2)
    }

    /// `--hidden 100000,100000` aborted on a failed allocation with a backtrace.
    func testNetworkTooLargeForMemory() throws {
        try XCTSkipIf(MemoryEstimate.physicalMemory > 200 << 30, "this host has memory for the network: "
            + "the case needs a host under 200 GiB")
        try assertRefusedRun(train(path("good.csv"), ["--hidden", "100000,100000"]),
                             ["2-100000-100000-2 has 10000600002 parameters", "more than this host's", "use smaller --hidden widths"])
    }

    /// A width past any sensible size overflowed the parameter count.
    func testHiddenWidthPastTheIndexRange() throws {
        try assertRefusedRun(train(path("good.csv"), ["--hidden", "9223372036854775807"]), status: ExitStatus.usage,
                             ["--hidden must be at most 16777216 (got 9223372036854775807)"])
    }

    /// A memory-mapped `.npy` truncated while training read it killed the rank with SIGBUS.
    func testNPYTruncatedWhileTraining() throws {
        let pair = try writeNPYPair("t", rows: 2000)
        let run = try MLPProcess.start(["train", "--train", pair.features, "--train-labels", pair.labels, "--hidden", "3",
                                        "--epochs", "1000000"])
        try run.waitUntil("the first epochs", timeLimit: Self.timeLimit) { run.stdout.contains("epoch 3/") }
        XCTAssertEqual(truncate(pair.features, 128), 0)
        let before = try FolderSnapshot(directory)
        try check(run.wait(timeLimit: Self.timeLimit), status: ExitStatus.badInput,
                  ["t.X.npy: the file became shorter while mlp was reading it"], before: before)
    }

    /// uint64 class indices past Int64 trapped while the error message was formatted.
    func testNPYLabelPastTheIntegerRange() throws {
        let pair = try writeNPYPair("u", rows: 4)
        try write("u.y.npy", bytes: npy([0, 1, 0x1p64, 2], .uint64, shape: [4]))
        try assertRefusedRun(train(pair.features, ["--train-labels", pair.labels]), ["u.y.npy", "class index 18446744073709551616 is too large"])
    }

    // MARK: Silently wrong results

    /// NaN in `.npy` features was trained on (the CSV reader refuses it).
    func testNPYFeaturesWithNaN() throws {
        let pair = try writeNPYPair("n", rows: 6, poison: (row: 4, column: 1, value: .nan))
        try assertRefusedRun(train(pair.features, ["--train-labels", pair.labels]),
                             ["n.X.npy: row 4, column 1 (feature 'x1'): nan is not finite"])
    }

    /// Infinity in the rows rank 1 checks: the job ends with rank 1's line.
    func testNPYFeaturesWithInfinityUnderMPI() throws {
        let pair = try writeNPYPair("i", rows: 6, poison: (row: 5, column: 2, value: .infinity))
        try assertRefusedRun(train(pair.features, ["--train-labels", pair.labels]), ranks: 2,
                             ["rank 1: ", "i.X.npy: row 5, column 2", "inf is not finite"])
    }

    /// A NaN weight in a model file was used (every output NaN).
    func testModelWeightsWithNaN() throws {
        try succeed(train(path("good.csv")))
        var model = try ModelFile.read(path: path("model.safetensors"))
        model.parameters[4] = .nan
        try model.write(to: path("nan.safetensors"))
        try FileManager.default.removeItem(atPath: path("model.safetensors"))
        try assertRefusedRun(train(path("good.csv"), ["--init-from", path("nan.safetensors")]),
                             ["nan.safetensors: tensor layers.0.weight holds nan at row 2, column 0", "must be finite"])
        try assertRefusedRun(["evaluate", "--model", path("nan.safetensors"), "--data", path("good.csv")], ["holds nan"])
    }

    /// Class labels that are not UTF-8 were decoded to U+FFFD and merged into one class.
    func testLabelsThatAreNotUTF8() throws {
        try write("latin1.csv", bytes: Array("a,b,label\n1,2,caf".utf8) + [0xE9] + Array("\n3,4,na".utf8) + [0xEF, 0x76, 0x65] + Array("\n".utf8))
        try assertRefusedRun(train(path("latin1.csv")), ["latin1.csv:2: class label is not valid UTF-8", "save the file as UTF-8"])
    }

    /// `--batch-size 9223372036854775807` trained 0 steps and saved the untrained model, status 0.
    func testBatchSizePastTheIndexRange() throws {
        try assertRefusedRun(train(path("good.csv"), ["--batch-size", "9223372036854775807"]), status: ExitStatus.usage,
                             ["--batch-size must be at most 2147483647"])
    }

    /// Every integer count is bounded the same way.
    func testOtherCountsPastTheIndexRange() throws {
        for option in ["--epochs", "--max-steps", "--checksum-every", "--warmup-steps"] {
            try assertRefusedRun(train(path("good.csv"), [option, "9223372036854775807"]), status: ExitStatus.usage,
                                 ["\(option) must be", "2147483647"])
        }
    }

    /// A negative learning rate edited into a checkpoint was used.
    func testCheckpointWithANegativeLearningRate() throws {
        let checkpoint = try editedCheckpoint { $0.extraMetadata["checkpoint.learning_rate"] = "-0.1" }
        try assertRefusedRun(["train", "--resume", checkpoint], ["checkpoint metadata 'checkpoint.learning_rate' is not valid: -0.1"])
    }

    /// Optimizer settings edited out of range (a β₂ of 1.5).
    func testCheckpointWithAnInvalidOptimizerSetting() throws {
        let checkpoint = try editedCheckpoint(["--optimizer", "adam"]) { $0.extraMetadata["checkpoint.optimizer.beta2"] = "1.5" }
        try assertRefusedRun(["train", "--resume", checkpoint], ["checkpoint metadata 'checkpoint.optimizer.beta2' is not valid: "
            + "1.5 (from 0 up to (not including) 1)"])
    }

    /// A NaN in the optimizer's state (Adam's second moment).
    func testCheckpointWithNaNOptimizerState() throws {
        let checkpoint = try editedCheckpoint(["--optimizer", "adam"]) { file in
            let index = file.extraTensors.firstIndex { $0.name == "optimizer.exp_avg_sq" }!
            withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { file.extraTensors[index].bytes.replaceSubrange(0 ..< 4, with: $0) }
        }
        try assertRefusedRun(["train", "--resume", checkpoint], ["checkpoint tensor optimizer.exp_avg_sq holds nan at element 0"])
    }

    /// Optimizer state of the wrong length: the line names the checkpoint.
    func testCheckpointWithShortOptimizerStateNamesTheFile() throws {
        let checkpoint = try editedCheckpoint(["--optimizer", "adam"]) { file in
            let index = file.extraTensors.firstIndex { $0.name == "optimizer.exp_avg" }!
            file.extraTensors[index].bytes.removeLast(4)
            file.extraTensors[index].shape = [file.extraTensors[index].shape[0] - 1]
        }
        try assertRefusedRun(["train", "--resume", checkpoint], ["\(checkpoint): tensor optimizer.exp_avg holds"])
    }

    /// A version-1 checkpoint carrying a key only version 2 has (its value would be dropped).
    func testCheckpointWhoseVersionCannotHoldASetting() throws {
        let checkpoint = try editedCheckpoint { file in
            file.extraMetadata["checkpoint.version"] = "1"
        }
        try assertRefusedRun(["train", "--resume", checkpoint], ["\(checkpoint): checkpoint version 1 cannot hold 'checkpoint."])
    }

    /// Regression targets in another column order than the model's: evaluate matches them by
    /// name (it paired them by position with `--target y2,y1`).
    func testEvaluateMatchesTargetsByName() throws {
        var text = "a,b,y1,y2\n", reordered = "y2,b,a,y1\n"
        for row in 0 ..< 20 {
            let a = Double(row) / 20, b = Double(row % 7) / 7
            text += "\(a),\(b),\(a + b),\(a - b)\n"
            reordered += "\(a - b),\(b),\(a),\(a + b)\n"
        }
        try write("regression.csv", text)
        try write("reordered.csv", reordered)
        try succeed(["train", "--train", path("regression.csv"), "--target", "y1,y2", "--loss", "squared-error", "--hidden", "3",
                     "--epochs", "2", "--save", path("r.safetensors")])
        func evaluate(_ extra: [String]) throws -> String {
            let output = try MLPProcess.run(["evaluate", "--model", path("r.safetensors"), "--json"] + extra, timeLimit: Self.timeLimit)
            XCTAssertEqual(output.status, 0, output.stderr)
            return output.stdout
        }
        let reference = try evaluate(["--data", path("regression.csv")])
        XCTAssertEqual(try evaluate(["--data", path("reordered.csv")]), reference)
        XCTAssertEqual(try evaluate(["--data", path("regression.csv"), "--target", "y2,y1"]), reference)
        // predict: the features matched by name too.
        for (input, output) in [("regression.csv", "p1.csv"), ("reordered.csv", "p2.csv")] {
            let run = try MLPProcess.run(["predict", "--model", path("r.safetensors"), "--input", path(input), "--output", path(output)])
            XCTAssertEqual(run.status, 0, run.stderr)
        }
        XCTAssertEqual(try String(contentsOfFile: path("p2.csv"), encoding: .utf8), try String(contentsOfFile: path("p1.csv"), encoding: .utf8))
        // Targets that are not the model's are refused.
        try write("renamed.csv", text.replacingOccurrences(of: "y2", with: "z"))
        try assertRefusedRun(["evaluate", "--model", path("r.safetensors"), "--data", path("renamed.csv"), "--target", "y1,z"],
                             ["targets y1, z are not the model's, y1, y2"])
    }

    /// `--init-from` a model of targets y1, y2 on data whose targets are given as y2, y1: trained
    /// by name (output k stays the model's target k); features in another order are refused.
    func testInitFromMatchesColumnsByName() throws {
        var text = "a,b,y1,y2\n", reordered = "b,a,y1,y2\n"
        for row in 0 ..< 12 {
            let a = Double(row) / 12, b = Double(row % 5) / 5
            text += "\(a),\(b),\(a + b),\(a - b)\n"
            reordered += "\(b),\(a),\(a + b),\(a - b)\n"
        }
        try write("regression.csv", text)
        try write("reordered.csv", reordered)
        let common = ["--loss", "squared-error", "--hidden", "3", "--epochs", "1", "--seed", "3"]
        try succeed(["train", "--train", path("regression.csv"), "--target", "y1,y2", "--save", path("start.safetensors")] + common)
        try succeed(["train", "--train", path("regression.csv"), "--target", "y1,y2", "--init-from", path("start.safetensors"),
                     "--save", path("same-order.safetensors")] + common)
        try succeed(["train", "--train", path("regression.csv"), "--target", "y2,y1", "--init-from", path("start.safetensors"),
                     "--save", path("other-order.safetensors")] + common)
        let sameOrder = try ModelFile.read(path: path("same-order.safetensors")), otherOrder = try ModelFile.read(path: path("other-order.safetensors"))
        XCTAssertEqual(otherOrder.targetNames, ["y1", "y2"])
        XCTAssertEqual(otherOrder.parameters, sameOrder.parameters, "the same training, whatever order --target lists")
        try assertRefusedRun(["train", "--train", path("reordered.csv"), "--target", "y1,y2", "--init-from", path("start.safetensors"),
                              "--save", path("refused.safetensors")] + common,
                             ["start.safetensors takes the columns a, b, the training data has b, a (the same columns in another order"])
    }

    /// `.npy` targets named in another order (y.json) than the model's are matched by name.
    func testNPYTargetNamesMatchedByName() throws {
        let rows = 8
        let features = (0 ..< rows * 2).map { Double($0) / 16 }
        let targets = (0 ..< rows).flatMap { [Double($0), -Double($0)] }
        try write("r.X.npy", bytes: npy(features, .float32, shape: [rows, 2]))
        try write("r.y.npy", bytes: npy(targets, .float64, shape: [rows, 2]))
        try write("r.y.json", #"{"feature_names": ["a", "b"], "target_names": ["up", "down"]}"#)
        try write("s.X.npy", bytes: npy(features, .float32, shape: [rows, 2]))
        try write("s.y.npy", bytes: npy((0 ..< rows).flatMap { [-Double($0), Double($0)] }, .float64, shape: [rows, 2]))
        try write("s.y.json", #"{"feature_names": ["a", "b"], "target_names": ["down", "up"]}"#)
        try succeed(["train", "--train", path("r.X.npy"), "--train-labels", path("r.y.npy"), "--loss", "squared-error", "--hidden", "3",
                     "--epochs", "2", "--save", path("m.safetensors")])
        func evaluate(_ prefix: String) throws -> String {
            let output = try MLPProcess.run(["evaluate", "--model", path("m.safetensors"), "--data", path("\(prefix).X.npy"),
                                             "--labels", path("\(prefix).y.npy"), "--json"], timeLimit: Self.timeLimit)
            XCTAssertEqual(output.status, 0, output.stderr)
            return output.stdout
        }
        XCTAssertEqual(try evaluate("s"), try evaluate("r"))
    }

    // MARK: Unclear or late messages

    /// Resumed from another directory: the checkpoint's relative path names nothing there; the
    /// message says what to pass, and passing the same data under another path works.
    func testResumeFromAnotherDirectory() throws {
        let mlp = try MLPProcess.executable().path
        let first = directory.appendingPathComponent("first"), second = directory.appendingPathComponent("second")
        for folder in [first, second] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: path("good.csv"), toPath: first.appendingPathComponent("d.csv").path)
        let started = try MLPProcess.launch("bash", ["-c", "cd '\(first.path)' && exec '\(mlp)' train --train d.csv --hidden 3 --batch-size 2 --epochs 1 --checkpoint c.checkpoint"])
        XCTAssertEqual(started.status, 0, started.stderr)
        let before = try FolderSnapshot(directory)
        let refused = try MLPProcess.launch("bash", ["-c", "cd '\(second.path)' && exec '\(mlp)' train --resume ../first/c.checkpoint --epochs 2"],
                                            timeLimit: Self.timeLimit)
        try check(refused, status: ExitStatus.badInput,
                  ["../first/c.checkpoint was trained on d.csv (relative to the directory that run started in",
                   "give its path: --train PATH"],
                  before: before)
        let resumed = try MLPProcess.launch("bash", ["-c", "cd '\(second.path)' && exec '\(mlp)' train --resume ../first/c.checkpoint --epochs 2 --train ../first/d.csv --save m.safetensors"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from ../first/c.checkpoint at epoch 2"), resumed.stdout)
        // Other data under --train is still refused: the data is compared, not its name.
        try assertRefusedRun(["train", "--resume", first.appendingPathComponent("c.checkpoint").path, "--epochs", "2",
                              "--train", path("other.csv")], ["other.csv"])
        try write("other.csv", "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,0\n")
        try assertRefusedRun(["train", "--resume", first.appendingPathComponent("c.checkpoint").path, "--epochs", "2",
                              "--train", path("other.csv")], ["--train \(path("other.csv")) is not the data", "was trained on"])
    }

    /// UTF-16 with a byte order mark (as Windows' "Unicode" text is saved).
    func testUTF16WithAByteOrderMark() throws {
        try write("utf16.csv", bytes: [0xFF, 0xFE] + Array("a,b,label\n1,2,0\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        try assertRefusedRun(train(path("utf16.csv")), ["utf16.csv: looks like UTF-16 (it starts with the byte order mark FF FE): "
            + "save it as UTF-8"])
    }

    /// UTF-16 big-endian without a byte order mark.
    func testUTF16WithoutAByteOrderMark() throws {
        try write("utf16be.csv", bytes: Array("a,b,label\n1,2,0\n".utf16).flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
        try assertRefusedRun(train(path("utf16be.csv")), ["looks like UTF-16 (big-endian, no byte order mark)"])
    }

    /// Semicolons (spreadsheets where the comma is the decimal mark).
    func testSemicolonDelimiter() throws {
        try write("semicolon.csv", "a;b;label\n1,5;2;0\n3;4,25;1\n")
        try assertRefusedRun(train(path("semicolon.csv")), ["semicolon.csv:1: no commas in the header; the file seems to use ';'"])
    }

    /// Tabs.
    func testTabDelimiter() throws {
        try write("tabs.tsv", "a\tb\tlabel\n1\t2\t0\n")
        try assertRefusedRun(train(path("tabs.tsv")), ["the file seems to use tabs as its delimiter"])
    }

    /// A missing target column among 785 listed all 785 names.
    func testLongListOfColumnsIsCut() throws {
        let names = (0 ..< 784).map { "pixel\($0)" } + ["label"]
        try write("wide.csv", names.joined(separator: ",") + "\n" + names.map { _ in "0" }.joined(separator: ",") + "\n")
        let message = try assertRefusedRun(train(path("wide.csv"), ["--target", "digit"]),
                                           ["no target column 'digit'", "pixel0, pixel1", "… and 777 more"])
        XCTAssertLessThan(message.count, 300, message)
    }

    /// A model of 784 inputs on data that lacks most of them: the lists are cut too.
    func testMissingColumnsOfAWideModelAreCut() throws {
        let names = (0 ..< 784).map { "pixel\($0)" } + ["label"]
        try write("wide.csv", names.joined(separator: ",") + "\n" + (0 ..< 4).map { row in
            names.indices.map { $0 == 784 ? "\(row % 2)" : "0" }.joined(separator: ",") }.joined(separator: "\n") + "\n")
        try succeed(["train", "--train", path("wide.csv"), "--hidden", "2", "--epochs", "1", "--save", path("wide.safetensors")])
        try write("narrow.csv", "pixel0,pixel1,label\n0,0,1\n")
        let message = try assertRefusedRun(["evaluate", "--model", path("wide.safetensors"), "--data", path("narrow.csv")],
                                           ["missing columns pixel2, pixel3", "… and 774 more", "784 columns"])
        XCTAssertLessThan(message.count, 400, message)
    }
}
