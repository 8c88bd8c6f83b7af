import XCTest
import MLP
import TestSupport

/// `--lr-schedule plateau` in a real run: the rate drops after epochs without improvement, and
/// a resume from a checkpoint in the middle of a plateau continues bit for bit.
final class PlateauScheduleEndToEndTests: ScratchFolderTestCase {
    func testResumeMidPlateauIsByteIdentical() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 200, seed: 1)
        // A high threshold, so that the loss "stops improving" within a few epochs.
        for validation in [["--validation-split", "0.25"], []] {
            let recipe = ["train", "--train", train, "--hidden", "8", "--batch-size", "25", "--seed", "2", "--learning-rate", "0.2",
                          "--lr-schedule", "plateau", "--plateau-patience", "1", "--plateau-factor", "0.5",
                          "--plateau-threshold", "0.2", "--min-lr", "0.03"] + validation
            let whole = try MLPProcess.run(recipe + ["--epochs", "8", "--save", path("whole.safetensors"), "--metrics", path("whole.jsonl")])
            XCTAssertEqual(whole.status, 0, whole.stderr)
            let rates = try String(contentsOfFile: path("whole.jsonl"), encoding: .utf8).split(separator: "\n").map { line in
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["learning_rate"] as! Double
            }
            XCTAssertEqual(rates.first, 0.2)
            XCTAssertLessThan(rates.last!, 0.2, "the rate dropped: \(rates)")
            XCTAssertGreaterThanOrEqual(rates.min()!, 0.03, "never below --min-lr: \(rates)")
            // Stopped after epoch 4 (checkpoint at the epoch end), resumed to epoch 8.
            let first = try MLPProcess.run(recipe + ["--epochs", "4", "--checkpoint", path("run.ckpt")])
            XCTAssertEqual(first.status, 0, first.stderr)
            let resumed = try MLPProcess.run(["train", "--resume", path("run.ckpt"), "--train", train, "--epochs", "8",
                                              "--save", path("resumed.safetensors")])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed.safetensors"))),
                           try Data(contentsOf: URL(fileURLWithPath: path("whole.safetensors"))), "\(validation): \(rates)")
        }
    }

    func testPlateauOptionsNeedThePlateauSchedule() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 30, seed: 1)
        let output = try MLPProcess.run(["train", "--train", train, "--lr-schedule", "cosine", "--plateau-patience", "3"])
        XCTAssertEqual(output.status, ExitStatus.usage, output.stderr)
        XCTAssertTrue(output.stderr.contains("--plateau-patience applies to --lr-schedule plateau only"), output.stderr)
    }
}
