import XCTest
@testable import MLP
import TestSupport

/// Writes that cannot complete: a small tmpfs that is, or becomes, full. Every writer (a
/// checkpoint, `--save`, a metrics line, `predict`, `convert`, `plot`, `export`) stops with one line naming
/// the file and "No space left on device", exit status 5, the file it was replacing as it was and
/// no temporary file.
extension OutputSafetyTests {
    /// A tmpfs of `bytes` (rounded up to pages) on a new folder, unmounted when the test ends.
    /// Root only: a skip, saying why, for anyone else or if the mount fails.
    func smallDisk(bytes: Int) throws -> URL {
        guard MLPProcess.isRoot else {
            throw XCTSkip("the disk-full cases mount a small tmpfs, which needs root (bash .ci/run runs the tests as root)")
        }
        let mountPoint = directory.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let mount = try MLPProcess.launch("mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", mountPoint.path])
        guard mount.status == 0 else {
            throw XCTSkip("mount -t tmpfs -o size=\(bytes) failed (\(mount.stderr.trimmingCharacters(in: .whitespacesAndNewlines))): "
                + "skipping the disk-full case")
        }
        // Teardown blocks run last-in first-out: unmounted before the scratch folder is removed.
        addTeardownBlock { _ = try? MLPProcess.launch("umount", [mountPoint.path]) }
        return mountPoint
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    func pages(_ bytes: Int) -> Int { (bytes + Self.pageSize - 1) / Self.pageSize }

    /// Names in `folder` that look like temporary files.
    func temporaryFiles(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp") }
    }

    /// Checks a run that hit a full disk: status 5 and one line naming `file` and the cause.
    @discardableResult
    func assertDiskFull(_ output: MLPProcess.Output, _ file: String, _ parts: String..., line: UInt = #line) -> String {
        let message = assertRefused(output, status: ExitStatus.writeFailed, "cannot write \(file)", "No space left on device", line: line)
        for part in parts { XCTAssertTrue(message.contains(part), "'\(part)' not in: \(message)", line: line) }
        print("[\(String(format: "%.2f", output.seconds)) s, status \(output.status)] \(message.replacingOccurrences(of: directory.path, with: "DIR"))")
        return message
    }

    /// The recipe of the checkpoint cases: 3,000 rows, 375 steps per epoch, a 72 KB checkpoint.
    var checkpointRecipe: [String] {
        ["--train", path("big.csv"), "--hidden", "128,128", "--batch-size", "8", "--epochs", "2", "--seed", "5"]
    }

    /// A disk with room for one checkpoint but not for the next beside it (replacing a file
    /// atomically needs both at once): the first checkpoint (step 10) is written, the second
    /// (step 20) fails. One line, status 5, the step-10 checkpoint intact (its parameters are
    /// those of an independent run stopped at step 10) and resumable, no temporary file.
    func testDiskFullDuringACheckpointKeepsThePreviousOne() throws {
        try diskFullDuringACheckpoint(ranks: 1)
    }

    /// The same under mpirun: rank 0 fails the write, every rank agrees, one line, status 5.
    func testDiskFullDuringACheckpointUnderMPIRun() throws {
        try diskFullDuringACheckpoint(ranks: 2)
    }

    func diskFullDuringACheckpoint(ranks: Int) throws {
        try writeClassificationCSV(directory.appendingPathComponent("big.csv"), rows: 3000, seed: 3)
        let probe = path("probe.safetensors")
        try train(checkpointRecipe + ["--max-steps", "10", "--checkpoint", probe], ranks: ranks)
        let size = try FileManager.default.attributesOfItem(atPath: probe)[.size] as! Int
        let disk = try smallDisk(bytes: (pages(size) * 3 / 2) * Self.pageSize)

        let checkpoint = disk.appendingPathComponent("c.safetensors").path
        let output = try MLPProcess.run(ranks: ranks, ["train"] + checkpointRecipe + ["--checkpoint", checkpoint, "--checkpoint-every", "10",
                                                                                    "--save", path("model.safetensors")])
        assertDiskFull(output, checkpoint, "checkpoint at step 20", "\(checkpoint) (step 10) is intact", "mlp train --resume \(checkpoint)")
        XCTAssertEqual(try temporaryFiles(in: disk), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("model.safetensors")))
        let kept = try Checkpoint.read(path: checkpoint)
        XCTAssertEqual(kept.position.step, 10)
        XCTAssertEqual(kept.model.parameters, try Checkpoint.read(path: probe).model.parameters)
        // Space freed (here: the checkpoint moved to a larger disk), the run continues.
        try FileManager.default.copyItem(atPath: checkpoint, toPath: path("c.safetensors"))
        try train(["--resume", path("c.safetensors"), "--checkpoint", path("c.safetensors"), "--max-steps", "30"], ranks: ranks)
        XCTAssertEqual(try Checkpoint.read(path: path("c.safetensors")).position.step, 30)
    }

    /// `--save` on a disk without room for the new model: the earlier model stays byte for byte.
    func testDiskFullWritingTheModelKeepsTheEarlierOne() throws {
        try writeClassificationCSV(directory.appendingPathComponent("big.csv"), rows: 3000, seed: 3)
        try train(checkpointRecipe + ["--max-steps", "5", "--save", path("earlier.safetensors")])
        let size = try FileManager.default.attributesOfItem(atPath: path("earlier.safetensors"))[.size] as! Int
        let disk = try smallDisk(bytes: (pages(size) * 3 / 2) * Self.pageSize)
        let model = disk.appendingPathComponent("model.safetensors").path
        try FileManager.default.copyItem(atPath: path("earlier.safetensors"), toPath: model)
        let before = try FolderSnapshot(disk)
        let output = try MLPProcess.run(["train"] + checkpointRecipe + ["--max-steps", "10", "--save", model])
        assertDiskFull(output, model, "--save", "the trained model is not saved")
        XCTAssertEqual(try FolderSnapshot(disk), before)
    }

    /// Metrics lines on a disk of one page: the first epoch replaces the file, later epochs
    /// append until the page is full; the line that does not fit is cut back, so the file holds
    /// complete lines only (about a dozen ~330-byte lines fit in 4 KiB).
    func testDiskFullWritingMetricsLeavesCompleteLinesOnly() throws {
        let disk = try smallDisk(bytes: Self.pageSize)
        let metrics = disk.appendingPathComponent("m.jsonl").path
        let output = try MLPProcess.run(["train", "--train", data.path, "--hidden", "4", "--batch-size", "64", "--epochs", "100",
                                         "--metrics", metrics])
        assertDiskFull(output, metrics, "--metrics")
        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("}\n"), "ends with a complete line")
        let lines = text.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 1)
        for (index, line) in lines.enumerated() {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertEqual(object?["epoch"] as? Int, index + 1)
        }
        XCTAssertEqual(try temporaryFiles(in: disk), [])
    }

    /// The first metrics line does not fit beside an earlier metrics file: that file stays.
    func testDiskFullReplacingMetricsKeepsTheEarlierFile() throws {
        let disk = try smallDisk(bytes: Self.pageSize)
        let metrics = disk.appendingPathComponent("m.jsonl").path
        try Data("{\"epoch\":1,\"step\":1}\n".utf8).write(to: URL(fileURLWithPath: metrics))
        let before = try FolderSnapshot(disk)
        let output = try MLPProcess.run(["train", "--train", data.path] + quick + ["--metrics", metrics])
        assertDiskFull(output, metrics, "--metrics", "epoch 1")
        XCTAssertEqual(try FolderSnapshot(disk), before)
    }

    /// `predict`, `plot`, `convert` and `export` on a full disk: earlier outputs stay, nothing is added.
    func testDiskFullInPredictPlotConvertAndExportKeepsEarlierOutputs() throws {
        try train(["--train", data.path, "--save", path("model.safetensors"), "--metrics", path("m.jsonl")] + quick)
        let disk = try smallDisk(bytes: 2 * Self.pageSize)
        // Two one-page files fill it.
        let predictions = disk.appendingPathComponent("p.csv").path, curves = disk.appendingPathComponent("curves.svg").path
        try Data("label\nearlier\n".utf8).write(to: URL(fileURLWithPath: predictions))
        try Data("<svg/>".utf8).write(to: URL(fileURLWithPath: curves))
        let before = try FolderSnapshot(disk)

        let predict = try MLPProcess.run(["predict", "--model", path("model.safetensors"), "--input", data.path, "--output", predictions])
        assertDiskFull(predict, predictions)
        let plot = try MLPProcess.run(["plot", "--metrics", path("m.jsonl"), "--output", curves])
        assertDiskFull(plot, curves)
        let convert = try MLPProcess.run(["convert", "--input", data.path, "--output", disk.appendingPathComponent("d").path])
        // d.X.npy or d.y.npy: whichever reaches the disk first.
        assertDiskFull(convert, disk.appendingPathComponent("d.").path)
        let onnx = disk.appendingPathComponent("model.onnx").path
        let export = try MLPProcess.run(["export", "--model", path("model.safetensors"), "--output", onnx])
        assertDiskFull(export, onnx)
        XCTAssertEqual(try FolderSnapshot(disk), before, "earlier outputs as they were, no temporary file")
    }
}
