import XCTest
@testable import MLP
import TestSupport

/// The checkpoint's metadata schema: today's version round-trips every setting, and files
/// written before versions existed still load with the same meaning.
final class CheckpointSchemaTests: XCTestCase {
    /// Written by the build before `checkpoint.version` existed: `mlp train --train synthetic:spirals
    /// --hidden 8 --epochs 3 --batch-size 100 --optimizer adamw --weight-decay 0.02 --lr-schedule step
    /// --step-size 2 --gamma 0.5 --warmup-steps 5 --clip-grad-norm 2.5 --validation-split 0.25
    /// --early-stopping 2 --seed 7 --max-steps 60 --checkpoint unversioned.checkpoint --checkpoint-every 20`.
    static let unversioned = packageRoot.appendingPathComponent("Tests/Fixtures/unversioned.checkpoint").path

    func testUnversionedCheckpointLoadsWithItsSettings() throws {
        let checkpoint = try Checkpoint.read(path: Self.unversioned)
        let settings = checkpoint.settings
        XCTAssertEqual(checkpoint.position, TrainingPosition(epoch: 2, batchInEpoch: 15, step: 60, epochLossSum: 1629.628173828125,
                                                             epochSamples: 1500, epochCorrect: 659))
        XCTAssertEqual(settings.optimizer, OptimizerSettings(kind: .adamw, weightDecay: 0.02))
        XCTAssertEqual(settings.schedule, ScheduleSettings(kind: .step, warmupSteps: 5, stepSize: 2, gamma: 0.5))
        XCTAssertEqual(settings.clipGradientNorm, 2.5)
        XCTAssertEqual(settings.validationSplit, 0.25)
        XCTAssertEqual(settings.earlyStopping, 2)
        XCTAssertEqual([settings.seed, UInt64(settings.batchSize), UInt64(settings.epochs), UInt64(settings.trainRows)], [7, 100, 3, 6000])
        XCTAssertEqual(settings.train, "synthetic:spirals")
        XCTAssertEqual(settings.learningRate, 0.001)
        XCTAssertEqual(checkpoint.optimizerSteps, 60)
        XCTAssertEqual(checkpoint.earlyStopping, .init(bestLoss: 1.0836105686028799, bestEpoch: 1, epochsWithoutImprovement: 0))
        XCTAssertTrue(checkpoint.model.extraMetadata.isEmpty, "the checkpoint's keys are not model metadata")
    }

    func testVersionOneRoundTripsAndIsWrittenWithItsVersion() throws {
        let directory = try temporaryDirectory(self)
        var checkpoint = try Checkpoint.read(path: Self.unversioned)
        checkpoint.settings.trainLabels = "labels.npy"
        checkpoint.settings.targetColumns = ["a", "b"]
        checkpoint.settings.optimizer = OptimizerSettings(kind: .sgd, momentum: 0.9, nesterov: true)
        checkpoint.settings.schedule = ScheduleSettings(kind: .cosine)
        checkpoint.settings.clipGradientNorm = nil
        checkpoint.earlyStopping = .init(bestLoss: 0.5, bestEpoch: nil, epochsWithoutImprovement: 3)
        let path = directory.appendingPathComponent("v1.checkpoint").path
        try checkpoint.write(to: path)
        let read = try Checkpoint.read(path: path)
        XCTAssertEqual(read.settings, checkpoint.settings)
        XCTAssertEqual(read.position, checkpoint.position)
        XCTAssertEqual(read.optimizerSteps, checkpoint.optimizerSteps)
        XCTAssertEqual(read.earlyStopping, checkpoint.earlyStopping)
        let metadata = try ModelFile.read(path: path).extraMetadata
        XCTAssertEqual(metadata[CheckpointSchema.Key.version], "1")
        XCTAssertFalse(metadata.keys.contains { $0.contains("--") }, "no key is a command-line flag: \(metadata.keys.sorted())")
    }

    func testNewerVersionIsRefusedInOneLine() throws {
        let directory = try temporaryDirectory(self)
        var model = try Checkpoint.read(path: Self.unversioned).model
        model.extraMetadata = [CheckpointSchema.Key.version: "2"]
        let path = directory.appendingPathComponent("v2.checkpoint").path
        try model.write(to: path)
        XCTAssertThrowsError(try Checkpoint.read(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): checkpoint version 2 was written by a newer mlp (this one reads up to version 1)")
        }
    }
}
