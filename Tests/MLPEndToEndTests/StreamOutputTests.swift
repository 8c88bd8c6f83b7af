import XCTest
@testable import MLP
import TestSupport

/// Outputs that are streams (`-`, a FIFO, a character device) are written in place, never
/// replaced; a reader that has gone never costs a trained model: SIGPIPE is ignored, lines stop
/// on EPIPE and training writes its outputs with status 0; `predict` to a closed pipe stops
/// quietly with status 0. Real processes; a closed pipe is made deterministic by closing its
/// read end before `mlp` starts (`closedPipe`), so every write meets EPIPE.
final class StreamOutputTests: ScratchFolderTestCase {
    var data: String { path("d.csv") }
    let quick = ["--hidden", "2", "--batch-size", "16"]

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeClassificationCSV(URL(fileURLWithPath: data), rows: 50, seed: 1)
        let trained = try MLPProcess.run(["train", "--train", data, "--epochs", "1", "--save", path("m")] + quick)
        XCTAssertEqual(trained.status, 0, trained.stderr)
    }

    /// Runs `mlp arguments…` with stdout (and stderr too, with `both`) the write end of a pipe
    /// whose read end is closed, and SIGPIPE at its default, as under a shell.
    func closedPipe(_ arguments: [String], both: Bool = false) throws -> MLPProcess.Output {
        let script = """
            import os, subprocess, sys
            r, w = os.pipe(); os.close(r)
            p = subprocess.run(sys.argv[2:], stdout=w, stderr=w if sys.argv[1] == "both" else None)
            sys.exit(p.returncode if p.returncode >= 0 else 128 - p.returncode)
            """
        return try MLPProcess.launch("python3", ["-c", script, both ? "both" : "stdout", try MLPProcess.executable().path] + arguments)
    }

    /// Reads the FIFO at `path` to its end while `body` runs; afterwards releases a reader still
    /// waiting for a writer (if `mlp` never opened it), so the test cannot hang.
    func readingFIFO(_ path: String, while body: () throws -> Void) throws -> Data {
        XCTAssertEqual(mkfifo(path, 0o644), 0)
        let received = Received()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            received.data = FileHandle(forReadingAtPath: path)?.readDataToEndOfFile() ?? Data()
            done.signal()
        }
        try body()
        if done.wait(timeout: .now() + 1) == .timedOut {
            let writer = open(path, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            done.wait()
        }
        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO, not replaced by a file")
        return received.data
    }

    /// What the reading thread got; read only after the semaphore says it is done.
    final class Received: @unchecked Sendable { var data = Data() }

    func testPredictExportAndMetricsWriteThroughAFIFO() throws {
        let predictions = try readingFIFO(path("p")) {
            let output = try MLPProcess.run(["predict", "--model", path("m"), "--input", data, "--output", path("p")])
            XCTAssertEqual(output.status, 0, output.stderr)
        }
        XCTAssertEqual(String(decoding: predictions, as: UTF8.self).split(separator: "\n").count, 51)
        let model = try readingFIFO(path("x")) {
            let output = try MLPProcess.run(["export", "--model", path("m"), "--output", path("x")])
            XCTAssertEqual(output.status, 0, output.stderr)
        }
        XCTAssertGreaterThan(model.count, 100)
        let metrics = try readingFIFO(path("k")) {
            let output = try MLPProcess.run(["train", "--train", data, "--epochs", "3", "--metrics", path("k")] + quick)
            XCTAssertEqual(output.status, 0, output.stderr)
        }
        XCTAssertEqual(String(decoding: metrics, as: UTF8.self).split(separator: "\n").count, 3)
    }

    /// `-` is standard output: the product alone goes there, status lines go to stderr.
    func testDashIsStandardOutputAndLinesGoToStandardError() throws {
        let predicted = try MLPProcess.run(["predict", "--model", path("m"), "--input", data, "--output", "-"])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        XCTAssertTrue(predicted.stdout.hasPrefix("label,probability_"), predicted.stdout)
        XCTAssertEqual(predicted.stdout.split(separator: "\n").count, 51)
        XCTAssertTrue(predicted.stderr.contains("wrote 50 predictions to -"), predicted.stderr)

        let trained = try MLPProcess.run(["train", "--train", data, "--epochs", "2", "--metrics", "-", "--save", path("m2")] + quick)
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let lines = trained.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, trained.stdout)
        for line in lines { XCTAssertTrue(line.hasPrefix("{\"epoch\":"), String(line)) }
        XCTAssertTrue(trained.stderr.contains("epoch 2/2"), trained.stderr)
        XCTAssertTrue(trained.stderr.contains("saved \(path("m2"))"), trained.stderr)

        try trained.stdout.write(toFile: path("k.jsonl"), atomically: true, encoding: .utf8)
        let plotted = try MLPProcess.run(["plot", "--metrics", path("k.jsonl"), "--output", "-"])
        XCTAssertEqual(plotted.status, 0, plotted.stderr)
        XCTAssertTrue(plotted.stdout.contains("<svg"), plotted.stdout)
        XCTAssertTrue(plotted.stderr.contains("wrote -"), plotted.stderr)
        let devices = try MLPProcess.run(["predict", "--model", path("m"), "--input", data, "--output", "/dev/null"])
        XCTAssertEqual(devices.status, 0, devices.stderr)
        var info = stat()
        XCTAssertEqual(stat("/dev/null", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR, "/dev/null is still the device")
    }

    /// `mlp train … | head -1` was killed by SIGPIPE at its next line: no model, no checkpoint,
    /// no message. Now the lines stop and training finishes and writes everything.
    func testClosedStandardOutputNeverEndsTraining() throws {
        for both in [false, true] {
            let outputs = ["--save", path("s"), "--checkpoint", path("c"), "--metrics", path("k")]
            let output = try closedPipe(["train", "--train", data, "--epochs", "3"] + quick + outputs, both: both)
            XCTAssertEqual(output.status, 0, "stderr closed too: \(both): \(output.stderr)")
            XCTAssertEqual(try Checkpoint.read(path: path("c")).position.epoch, 4)
            XCTAssertEqual(try ModelFile.read(path: path("s")).layerSizes, [5, 2, 3])
            XCTAssertEqual(try String(contentsOfFile: path("k"), encoding: .utf8).split(separator: "\n").count, 3)
            XCTAssertFalse(output.stderr.contains("mlp: error"), output.stderr)
            for name in ["s", "c", "k"] { unlink(path(name)) }
        }
        // --metrics - to the closed pipe: the metrics stop, the model is still written.
        let metrics = try closedPipe(["train", "--train", data, "--epochs", "2", "--metrics", "-", "--save", path("s")] + quick)
        XCTAssertEqual(metrics.status, 0, metrics.stderr)
        XCTAssertEqual(try ModelFile.read(path: path("s")).layerSizes, [5, 2, 3])
    }

    /// `predict --output -` to a reader that has gone stops quietly with status 0, as `head`'s
    /// producers do: the reader took what it wanted.
    func testPredictToAClosedPipeStopsQuietly() throws {
        let output = try closedPipe(["predict", "--model", path("m"), "--input", data, "--output", "-"])
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertEqual(output.stderr, "", "quiet: no error line")
        let export = try closedPipe(["export", "--model", path("m"), "--output", "-"])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertEqual(export.stderr, "")
    }
}
