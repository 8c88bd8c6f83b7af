import XCTest
@testable import MLP

/// The declarations of `mlp train`'s options: one per flag, each default inside its range, each
/// stored setting under a typed checkpoint key (never one built from its flag), and the one
/// message shape of a range.
final class TrainingOptionsTableTests: XCTestCase {
    func testEveryOptionIsDeclaredOnceWithItsDefaultInRange() throws {
        let names = TrainOptionTable.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "a flag declared twice: \(names)")
        XCTAssertTrue(names.allSatisfy { $0.hasPrefix("--") && !$0.dropFirst(2).contains(" ") }, "\(names)")
        XCTAssertTrue(TrainOptionTable.all.allSatisfy { !$0.help.isEmpty })
        for option in TrainOptionTable.all {
            if let range = option.range, let text = option.defaultText, let value = Double(text) {
                XCTAssertTrue(range.contains(value), "\(option.name)'s default \(text) is outside \(range)")
            }
        }
    }

    func testStoredSettingsUseTheSchemasKeys() throws {
        let keys = TrainOptionTable.all.compactMap(\.checkpointKey)
        XCTAssertTrue(keys.allSatisfy { $0.hasPrefix(CheckpointSchema.prefix) && !$0.contains("--") }, "\(keys)")
        XCTAssertEqual(TrainOptionTable.momentum.checkpointKey, "checkpoint.optimizer.momentum")
        XCTAssertEqual(TrainOptionTable.earlyStopping.checkpointKey, "checkpoint.early_stopping.patience")
        // What resuming must keep is stored; what is not stored may not claim it must agree with a checkpoint.
        for option in TrainOptionTable.all where option.resume == .perRun {
            XCTAssertNil(option.checkpointKey, option.name)
        }
    }

    func testRangesSayWhatTheValueMustBe() throws {
        func message(_ change: (inout TrainingOptions) -> Void) -> String {
            var options = TrainingOptions(train: .spirals)
            change(&options)
            do { try options.validate(); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertEqual(message { $0.learningRate = -1 }, "--learning-rate must be a positive number (got -1.0)")
        XCTAssertEqual(message { $0.learningRate = .infinity }, "--learning-rate must be a positive number (got inf)")
        XCTAssertEqual(message { $0.batchSize = 0 }, "--batch-size must be at least 1 (got 0)")
        XCTAssertEqual(message { $0.epochs = Int(Int32.max) + 1 }, "--epochs must be at most 2147483647 (got 2147483648)")
        XCTAssertEqual(message { $0.validationSplit = 1 }, "--validation-split must be strictly between 0 and 1 (got 1.0)")
        XCTAssertEqual(message { $0.dropout = [0.1, 1] }, "--dropout must be from 0 up to (not including) 1 (got 1.0)")
        XCTAssertEqual(message { $0.warmupSteps = -1 }, "--warmup-steps must be 0 or more (got -1)")
        XCTAssertEqual(message { $0.chunkRows = 4 }, "--chunk-rows needs --reproducible")
        XCTAssertEqual(message { $0.batchSize = 1; $0.epochs = 1 }, "accepted")
        XCTAssertTrue(ValueRange.fraction.contains(0) && !ValueRange.fraction.contains(1) && !ValueRange.positive.contains(.nan))
    }
}
