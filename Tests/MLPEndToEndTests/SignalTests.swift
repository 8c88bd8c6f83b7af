import Foundation
import MLP
import TestSupport
import XCTest

/// SIGINT and SIGTERM work at every point of a run: while it loads (even blocked in a system
/// call, here reading a FIFO nobody writes to) the process ends at once with one line and
/// nothing written; during training every rank stops after the same step and names the signal,
/// also on the ranks that did not receive it.
final class SignalTests: ScratchFolderTestCase {

    /// A FIFO as `--train`, and a writer that opens it (without blocking) once a reader has:
    /// the rank that opened it then waits in read(2) for data that never comes.
    func blockedReader(_ ranks: Int, signal: Int32) throws -> (MLPProcess.Output, FolderSnapshot) {
        let fifo = path("train.csv")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0, "mkfifo")
        let outputs = directory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        let before = try FolderSnapshot(outputs)
        let run = try MLPProcess.start(ranks: ranks, ["train", "--train", fifo, "--save", outputs.appendingPathComponent("m").path,
                                                      "--metrics", outputs.appendingPathComponent("metrics.jsonl").path])
        var writer: Int32 = -1
        try run.waitUntil("a rank opened the FIFO") {
            writer = open(fifo, O_WRONLY | O_NONBLOCK)
            return writer >= 0
        }
        defer { close(writer) }
        let processes = ranks == 1 ? [run.pid] : run.rankProcesses()
        XCTAssertEqual(processes.count, ranks)
        for process in processes { kill(process, signal) }
        return (run.wait(), before)
    }

    func testSignalWhileLoadingEndsAtOnceAndWritesNothing() throws {
        let (output, before) = try blockedReader(1, signal: SIGINT)
        assertRefused(output, status: 128 + SIGINT, "interrupted by SIGINT before training started", "nothing was written")
        XCTAssertEqual(try FolderSnapshot(directory.appendingPathComponent("out")), before)
    }

    func testSignalWhileLoadingUnderMPIRunEndsEveryRank() throws {
        let (output, before) = try blockedReader(2, signal: SIGTERM)
        XCTAssertFalse(output.timedOut)
        XCTAssertNotEqual(output.status, 0)
        let errors = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }
        XCTAssertEqual(errors.count, 1, output.stderr)
        XCTAssertTrue(errors.first?.contains("interrupted by SIGTERM before training started") ?? false, output.stderr)
        XCTAssertEqual(try FolderSnapshot(directory.appendingPathComponent("out")), before)
    }

    /// SIGTERM to rank 1 only, mid-training: rank 0, which prints, names it too.
    func testSignalToOneRankIsNamedByAll() throws {
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 400, seed: 2)
        let checkpoint = path("c")
        let run = try MLPProcess.start(ranks: 2, ["train", "--train", data.path, "--hidden", "256,256", "--batch-size", "8",
                                                  "--epochs", "8", "--checkpoint", checkpoint, "--checkpoint-every", "10"])
        try run.waitForFile(checkpoint)
        let ranks = run.rankProcesses()
        XCTAssertEqual(ranks.count, 2)
        // /proc tells the rank of each process through its environment.
        let rank1 = ranks.first { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)) ?? "").split(separator: "\0").contains("OMPI_COMM_WORLD_RANK=1")
        }
        XCTAssertNotNil(rank1, "rank 1's process")
        kill(rank1 ?? ranks[1], SIGTERM)
        let output = run.wait()
        assertRefused(output, status: 128 + SIGTERM, "interrupted by SIGTERM after step", "--resume \(checkpoint)")
    }
}
