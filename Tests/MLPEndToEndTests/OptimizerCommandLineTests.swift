import Foundation
import XCTest
@testable import MLP
import TestSupport

/// The optimizer options through the real `mlp` binary (the update rules themselves are
/// checked in process by `OptimizerTests`).
final class OptimizerCommandLineTests: XCTestCase {
    /// The real binary: one line on stderr and no training for a bad option; the help lists the options.
    func testCommandLine() throws {
        for (arguments, expected) in [(["--nesterov"], "--nesterov requires --momentum"),
                                      (["--optimizer", "adam", "--beta2", "1"], "--beta2"),
                                      (["--optimizer", "rmsprop"], "rmsprop"),
                                      (["--early-stopping", "2"], "--early-stopping needs --validation-split")] {
            let output = try MLPProcess.run(["train", "--train", "synthetic:spirals"] + arguments)
            XCTAssertNotEqual(output.status, 0)
            XCTAssertEqual(output.stderr.split(separator: "\n").count, 1, output.stderr)
            XCTAssertTrue(output.stderr.hasPrefix("mlp: error:") && output.stderr.contains(expected), output.stderr)
            XCTAssertFalse(output.stdout.contains("epoch"))
        }
        let help = try MLPProcess.run(["train", "--help"])
        for option in ["--optimizer", "--momentum", "--nesterov", "--beta1", "--beta2", "--eps", "--weight-decay", "--lr-schedule",
                       "--warmup-steps", "--step-size", "--gamma", "--clip-grad-norm", "--validation-split", "--early-stopping"] {
            XCTAssertTrue(help.stdout.contains(option), "help lacks \(option)")
        }
    }

    /// The epoch line and the metrics show the learning rate of the epoch's last step and the validation results.
    func testReportsShowLearningRateAndValidation() throws {
        let directory = try temporaryDirectory(self)
        let metrics = directory.appendingPathComponent("m.jsonl")
        let output = try MLPProcess.run(["train", "--train", "synthetic:spirals", "--hidden", "16", "--epochs", "2",
                                         "--batch-size", "100", "--lr-schedule", "step", "--step-size", "1", "--gamma", "0.5",
                                         "--validation-split", "0.2", "--metrics", metrics.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertTrue(output.stdout.contains("epoch 2/2  step 96  lr 0.025  train loss"), output.stdout)   // 4800 rows: 48 steps per epoch
        let lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(records.map { $0["learning_rate"] as! Double }, [0.05, 0.025])
        XCTAssertTrue(records.allSatisfy { $0["validation_loss"] is Double && $0["validation_accuracy"] is Double })
    }
}
