import XCTest
@testable import MLP
import TestSupport

/// Ranks started differently (MPMD: `mpirun -n 1 mlp … a.csv : -n 1 mlp … b.csv`) are caught
/// before any work: one line for the job naming the rank, its host and what differs, exit status
/// `ExitStatus.ranksDisagree`, and nothing written (the output folder unchanged byte for byte:
/// no model, no checkpoint, an earlier metrics file not truncated). Ranks started alike train.
final class StartAgreementTests: ScratchFolderTestCase {
    var output: URL!
    func outputPath(_ name: String) -> String { output.appendingPathComponent(name).path }

    override func setUpWithError() throws {
        try super.setUpWithError()
        output = directory.appendingPathComponent("output")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try writeClassificationCSV(directory.appendingPathComponent("a.csv"), rows: 60, seed: 1)
        // b.csv: a.csv with one value changed in its last digit (line 31, the first feature).
        var lines = try String(contentsOfFile: path("a.csv"), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var fields = lines[30].split(separator: ",").map(String.init)
        fields[0] = String(fields[0].dropLast()) + (fields[0].hasSuffix("1") ? "2" : "1")
        lines[30] = fields.joined(separator: ",")
        try lines.joined(separator: "\n").write(toFile: path("b.csv"), atomically: true, encoding: .utf8)
        // Earlier outputs that a refused run must leave exactly as they were.
        try "{\"epoch\":1}\n".write(toFile: outputPath("metrics.jsonl"), atomically: true, encoding: .utf8)
        try "previous model".write(toFile: outputPath("model.safetensors"), atomically: true, encoding: .utf8)
    }

    /// `mlp train` on `data` with every output in the output folder, and `extra` options.
    func train(_ data: String, _ extra: [String] = []) -> [String] {
        ["train", "--train", path(data), "--hidden", "8", "--epochs", "2", "--batch-size", "8",
         "--save", outputPath("model.safetensors"), "--checkpoint", outputPath("checkpoint.safetensors"),
         "--metrics", outputPath("metrics.jsonl")] + extra
    }

    /// Runs the MPMD job and checks that it was refused with one line containing `parts`, status
    /// 4, within the time limit, and without touching the output folder.
    @discardableResult
    func assertRefusedWithoutWriting(_ programs: [MLPProcess.MPIProgram], _ parts: String...,
                                     file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = try FolderSnapshot(output)
        let result = try MLPProcess.mpirun(programs, environment: MLPProcess.refusalEnvironment, timeLimit: 60)
        let message = assertRefused(result, status: ExitStatus.ranksDisagree, file: file, line: line)
        for part in parts { XCTAssertTrue(message.contains(part), "'\(part)' not in: \(message)", file: file, line: line) }
        let after = try FolderSnapshot(output)
        XCTAssertEqual(after, before, "the output folder changed: \(after.changes(since: before))", file: file, line: line)
        print("[\(programs.map { "\($0.ranks)" }.joined(separator: "+")) ranks, \(String(format: "%.2f", result.seconds)) s] \(message)")
        return message
    }

    func testTrainingDataDifferingInOneValueOnOneRank() throws {
        try assertRefusedWithoutWriting([.init(ranks: 1, train("a.csv")), .init(ranks: 1, train("b.csv"))],
                                        "rank 1 (host ", "was started with different training data than rank 0 (host ",
                                        path("b.csv"), "where rank 0 has \(path("a.csv"))", "fingerprint")
        // The lowest rank that differs from rank 0 is named, whichever program it is in.
        try assertRefusedWithoutWriting([.init(ranks: 2, train("a.csv")), .init(ranks: 1, train("b.csv"))],
                                        "rank 2 (host ", "different training data", path("b.csv"))
        try assertRefusedWithoutWriting([.init(ranks: 1, train("a.csv")), .init(ranks: 2, train("b.csv"))],
                                        "rank 1 (host ", "different training data", path("b.csv"))
    }

    func testTestDataDifferingOnOneRank() throws {
        try assertRefusedWithoutWriting([.init(ranks: 1, train("a.csv", ["--test", path("a.csv")])),
                                         .init(ranks: 1, train("a.csv", ["--test", path("b.csv")]))],
                                        "rank 1 (host ", "was started with different test data", path("b.csv"))
    }

    /// Memory-mapped `.npy` features: a value in a row that `Dataset.fingerprint`'s 1,024 sampled
    /// rows skip (row 1 of 3,000) is still caught: the agreement reads every byte.
    func testMappedFeaturesDifferingInOneUnsampledValue() throws {
        try writeClassificationCSV(directory.appendingPathComponent("big.csv"), rows: 3000, seed: 2)
        let converted = try MLPProcess.run(["convert", "--input", path("big.csv"), "--output", path("a")])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path("a.X.npy")))
        let header = try bytes.withUnsafeBytes { try NPYHeader.parse($0, path: "a.X.npy") }
        let offset = header.dataOffset + 1 * 5 * 4 + 2 * 4   // row 1, feature 2 (float32)
        bytes[offset] ^= 1   // the lowest bit of one float
        try bytes.write(to: URL(fileURLWithPath: path("b.X.npy")))
        let a: Dataset<Float> = try NPYDataset.load(features: path("a.X.npy"), labels: path("a.y.npy"), kind: .classes(classNames: nil), targetColumns: nil)
        let b: Dataset<Float> = try NPYDataset.load(features: path("b.X.npy"), labels: path("a.y.npy"), kind: .classes(classNames: nil), targetColumns: nil)
        XCTAssertEqual(a.fingerprint, b.fingerprint, "the sampled fingerprint should not see row 1: the test would prove nothing")
        XCTAssertNotEqual(try a.contentFingerprint(), try b.contentFingerprint())
        func npy(_ features: String) -> [String] {
            ["train", "--train", path(features), "--train-labels", path("a.y.npy"), "--hidden", "8", "--epochs", "1",
             "--save", outputPath("model.safetensors")]
        }
        try assertRefusedWithoutWriting([.init(ranks: 1, npy("a.X.npy")), .init(ranks: 1, npy("b.X.npy"))],
                                        "rank 1 (host ", "different training data", path("b.X.npy"))
        let same = try MLPProcess.mpirun([.init(ranks: 1, npy("a.X.npy")), .init(ranks: 1, npy("a.X.npy"))], timeLimit: 60)
        XCTAssertEqual(same.status, 0, same.stderr)
    }

    func testOptionsDifferingOnOneRank() throws {
        let message = try assertRefusedWithoutWriting(
            [.init(ranks: 1, train("a.csv")), .init(ranks: 1, train("a.csv", ["--seed", "7", "--learning-rate", "0.1"]))],
            "rank 1 (host ", "was given different options than rank 0", "--seed 7 where rank 0 has 0",
            "--learning-rate 0.1 where rank 0 has 0.05")
        XCTAssertFalse(message.contains("--hidden"), message)
        // Whether an output is given counts (every rank takes part in writing it); its path does not.
        try assertRefusedWithoutWriting([.init(ranks: 1, train("a.csv")),
                                         .init(ranks: 2, Array(train("a.csv").dropLast(2)))],
                                        "rank 1 (host ", "--metrics none where rank 0 has given")
    }

    func testDifferentBuildOnOneRank() throws {
        try assertRefusedWithoutWriting([.init(ranks: 1, train("a.csv")),
                                         .init(ranks: 1, train("a.csv"), executable: "mlp-faults", environment: ["MLP_TEST_BUILD_SALT": "1"])],
                                        "rank 1 (host ", "runs a different build of mlp than rank 0", "test salt 1",
                                        "build the same source on every host")
        // Without the salt, the test build is the same build: the job trains.
        let same = try MLPProcess.mpirun([.init(ranks: 1, train("a.csv")), .init(ranks: 2, train("a.csv"), executable: "mlp-faults")],
                                         timeLimit: 60)
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outputPath("checkpoint.safetensors")))
    }

    /// The same command on every rank (what `mpirun -n P` does) agrees and trains, at 2 and 3 ranks.
    func testRanksStartedAlikeTrain() throws {
        for ranks in [2, 3] {
            let result = try MLPProcess.mpirun(ranks: ranks, train("a.csv", ["--test", path("a.csv")]), timeLimit: 60)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(result.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error") }, [])
            XCTAssertTrue(result.stdout.contains("saved \(outputPath("model.safetensors"))"), result.stdout)
        }
    }

    func testEvaluateDataOrModelDifferingOnOneRank() throws {
        let trained = try MLPProcess.run(train("a.csv"))
        XCTAssertEqual(trained.status, 0, trained.stderr)
        try FileManager.default.copyItem(atPath: outputPath("model.safetensors"), toPath: path("model.safetensors"))
        func evaluate(_ data: String, model: String = "model.safetensors") -> [String] {
            ["evaluate", "--model", path(model), "--data", path(data)]
        }
        try assertRefusedWithoutWriting([.init(ranks: 1, evaluate("a.csv")), .init(ranks: 1, evaluate("b.csv"))],
                                        "rank 1 (host ", "was started with different data than rank 0", path("b.csv"))
        let second = try MLPProcess.run(["train", "--train", path("a.csv"), "--hidden", "8", "--epochs", "2", "--seed", "5",
                                         "--save", path("other.safetensors")])
        XCTAssertEqual(second.status, 0, second.stderr)
        try assertRefusedWithoutWriting([.init(ranks: 1, evaluate("a.csv")), .init(ranks: 1, evaluate("a.csv", model: "other.safetensors"))],
                                        "rank 1 (host ", "evaluates a different model than rank 0", path("other.safetensors"))
        let same = try MLPProcess.mpirun(ranks: 2, evaluate("a.csv"), timeLimit: 60)
        XCTAssertEqual(same.status, 0, same.stderr)
    }
}
