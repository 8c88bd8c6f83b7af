import XCTest
import MLP
import TestSupport

/// A CSV column is a feature, a target or the weight, never two of them; what a refused column
/// layout says names each column's role. One process and 2 ranks: one line for the job.
final class ColumnRoleTests: ScratchFolderTestCase {
    func write(_ name: String, _ text: String) throws -> String {
        let file = path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    func testWeightColumnIsNeverTheTarget() throws {
        let labelLast = try write("l.csv", "a,b,label\n1,2,0\n3,4,1\n5,6,0\n")
        let weightAndLabel = try write("wl.csv", "w,label\n1,0\n2,1\n")
        let cases: [([String], [String])] = [
            // The last column is the default target: naming it as the weight trained on the wrong target.
            (["--train", labelLast, "--sample-weight", "label"], ["--sample-weight label is the last column, the default target", "--target"]),
            (["--train", labelLast, "--sample-weight", "b", "--target", "b"], ["--sample-weight b is also a --target column"]),
            (["--train", weightAndLabel, "--sample-weight", "w"], ["no feature columns: label is the target, w the weight"]),
        ]
        for (options, parts) in cases {
            for ranks in [nil, 2] {
                let arguments = ["train"] + options + ["--epochs", "1", "--save", path("m.st")]
                let output = try ranks.map { try MLPProcess.mpirun(ranks: $0, arguments) } ?? MLPProcess.run(arguments)
                let line = assertRefused(output, status: ExitStatus.badInput)
                for part in parts { XCTAssertTrue(line.contains(part), "'\(part)' not in: \(line)") }
                XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.st")))
            }
        }
        // The weight last with its target named trains.
        let weightLast = try write("lw.csv", "a,label,w\n1,0,1\n3,1,2\n5,0,1\n")
        let output = try MLPProcess.run(["train", "--train", weightLast, "--sample-weight", "w", "--target", "label", "--hidden", "2", "--epochs", "1"])
        XCTAssertEqual(output.status, 0, output.stderr)
    }

    /// A file that is gzip's first magic byte alone is a cut gzip stream, not a CSV whose header
    /// names a column "\u{1F}".
    func testOneByteGzipIsTruncated() throws {
        let file = try write("one.csv.gz", "\u{1F}")
        assertRefused(try MLPProcess.run(["train", "--train", file, "--epochs", "1"]), status: ExitStatus.badInput, "\(file): corrupted gzip stream", "truncated")
    }

    /// `--class-weight` gives each label once; resuming compares the weights they mean (a label
    /// not listed weighs 1), not their spelling.
    func testClassWeightLabelsOnceAndComparedByMeaning() throws {
        let data = path("d.csv")
        try writeClassificationCSV(URL(fileURLWithPath: data), rows: 60, seed: 3)
        let twice = try MLPProcess.run(["train", "--train", data, "--class-weight", "0:2,0:3", "--epochs", "1", "--save", path("m.st")])
        assertRefused(twice, status: ExitStatus.usage, "--class-weight gives label 0 twice")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.st")))
        let first = try MLPProcess.run(["train", "--train", data, "--class-weight", "cat:2", "--epochs", "2", "--max-steps", "3",
                                        "--checkpoint", path("c.ckpt")])
        XCTAssertEqual(first.status, 0, first.stderr)
        let same = try MLPProcess.run(["train", "--resume", path("c.ckpt"), "--class-weight", "cat:2,dog:1", "--save", path("m.st")])
        XCTAssertEqual(same.status, 0, same.stderr)
        let other = try MLPProcess.run(["train", "--resume", path("c.ckpt"), "--class-weight", "cat:2,dog:3"])
        assertRefused(other, status: ExitStatus.badInput, "--class-weight")
    }
}
