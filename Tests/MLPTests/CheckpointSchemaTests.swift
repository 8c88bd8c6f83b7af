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
        var position = TrainingPosition(epoch: 2, batchInEpoch: 15, step: 60, epochLossSum: 1629.628173828125,
                                        epochSamples: 1500, epochCorrect: 659)
        position.epochWeightSum = 1500   // before weights, every row weighed 1
        XCTAssertEqual(checkpoint.position, position)
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

    func testVersionTwoRoundTripsAndIsWrittenWithItsVersion() throws {
        let directory = try temporaryDirectory(self)
        var checkpoint = try Checkpoint.read(path: Self.unversioned)
        checkpoint.settings.trainLabels = "labels.npy"
        checkpoint.settings.targetColumns = ["a", "b"]
        checkpoint.settings.optimizer = OptimizerSettings(kind: .sgd, momentum: 0.9, nesterov: true)
        checkpoint.settings.schedule = ScheduleSettings(kind: .plateau, plateauPatience: 3, plateauFactor: 0.25, minimumRate: 1e-4)
        checkpoint.plateau = PlateauState(rate: 0.0125, best: 0.731, badEpochs: 2)
        checkpoint.settings.clipGradientNorm = nil
        // The model has one hidden layer: one dropout rate.
        checkpoint.settings.dropout = Array(repeating: 0.3, count: checkpoint.model.layerSizes.count - 2)
        checkpoint.settings.chunkRows = 24
        checkpoint.settings.sampleWeight = "w"
        checkpoint.settings.classWeight = .given(["a": 2, "b": 0.5])
        checkpoint.position.epochWeightSum = 1234.5
        checkpoint.earlyStopping = .init(bestLoss: .infinity, bestEpoch: nil, epochsWithoutImprovement: 1)
        let path = directory.appendingPathComponent("v1.checkpoint").path
        try checkpoint.write(to: path)
        let read = try Checkpoint.read(path: path)
        XCTAssertEqual(read.settings, checkpoint.settings)
        XCTAssertEqual(read.position, checkpoint.position)
        XCTAssertEqual(read.optimizerSteps, checkpoint.optimizerSteps)
        XCTAssertEqual(read.earlyStopping, checkpoint.earlyStopping)
        XCTAssertEqual(read.plateau, checkpoint.plateau)
        let metadata = try ModelFile.read(path: path).extraMetadata
        XCTAssertEqual(metadata[CheckpointSchema.Key.version], "2")
        XCTAssertFalse(metadata.keys.contains { $0.contains("--") }, "no key is a command-line flag: \(metadata.keys.sorted())")
    }

    func testNewerVersionIsRefusedInOneLine() throws {
        let directory = try temporaryDirectory(self)
        var model = try Checkpoint.read(path: Self.unversioned).model
        model.extraMetadata = [CheckpointSchema.Key.version: "4"]
        let path = directory.appendingPathComponent("v2.checkpoint").path
        try model.write(to: path)
        XCTAssertThrowsError(try Checkpoint.read(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): checkpoint version 4 was written by a newer mlp (this one reads up to version 3)")
        }
    }

    /// Every value read is checked before use: each edit below is refused naming its key. (The
    /// fixture is at epoch 2, batch 15, step 60, with AdamW and early stopping.)
    func testEditedValuesAreRefusedNamingTheirKey() throws {
        let directory = try temporaryDirectory(self)
        let original = try ModelFile.read(path: Self.unversioned)
        let edits: [(key: String, value: String, expected: String)] = [
            ("checkpoint.learning_rate", "-0.001", "'checkpoint.learning_rate' is not valid: -0.001 (a positive number)"),
            ("checkpoint.learning_rate", "nan", "'checkpoint.learning_rate' is not valid: nan"),
            ("checkpoint.epoch", "0", "'checkpoint.epoch' is not valid: 0"),
            ("checkpoint.batch_in_epoch", "-1", "'checkpoint.batch_in_epoch' is not valid: -1"),
            ("checkpoint.step", "3", "'checkpoint.step' is not valid: 3 (at least the batch in the epoch, 15)"),
            ("checkpoint.epoch_loss_sum", "inf", "'checkpoint.epoch_loss_sum' is not valid: inf"),
            ("checkpoint.epoch_samples", "1.5", "'checkpoint.epoch_samples' is not valid: 1.5"),
            ("checkpoint.epoch_correct", "1e9", "'checkpoint.epoch_correct' is not valid"),
            ("checkpoint.batch_size", "0", "'checkpoint.batch_size' is not valid: 0"),
            ("checkpoint.epochs", "9223372036854775807", "'checkpoint.epochs' is not valid"),
            ("checkpoint.optimizer_steps", "61", "'checkpoint.optimizer_steps' is not valid: 61"),
            ("checkpoint.option--eps", "-1", "'checkpoint.optimizer.epsilon' is not valid: -1.0 (a positive number)"),
            ("checkpoint.option--clip-grad-norm", "-2", "'checkpoint.clip_gradient_norm' is not valid: -2.0"),
            ("checkpoint.option--validation-split", "1.5", "'checkpoint.validation_split' is not valid: 1.5"),
            ("checkpoint.option--early-stopping", "0", "'checkpoint.early_stopping.patience' is not valid: 0"),
            ("checkpoint.early_stopping.best_epoch", "2", "'checkpoint.early_stopping.best_epoch' is not valid: 2"),
            ("checkpoint.early_stopping.best_loss", "-1", "'checkpoint.early_stopping.best_loss' is not valid: -1.0"),
        ]
        for (index, edit) in edits.enumerated() {
            var file = original
            XCTAssertNotNil(file.extraMetadata[edit.key], edit.key)
            file.extraMetadata[edit.key] = edit.value
            let path = directory.appendingPathComponent("edit-\(index).checkpoint").path
            try file.write(to: path)
            assertInputError(try Checkpoint.read(path: path), contains: [path, edit.expected])
        }
        // The optimizer's state: finite, and Adam's second moment not negative.
        var file = original
        let moment = file.extraTensors.firstIndex { $0.name == "optimizer.exp_avg_sq" }!
        withUnsafeBytes(of: Float(-1).bitPattern.littleEndian) { file.extraTensors[moment].bytes.replaceSubrange(4 ..< 8, with: $0) }
        let path = directory.appendingPathComponent("state.checkpoint").path
        try file.write(to: path)
        assertInputError(try Checkpoint.read(path: path), contains: ["checkpoint tensor optimizer.exp_avg_sq holds -1.0 at element 1"])
    }

    /// The position against the data: the batch must be one of the epoch's (or its end, where an
    /// interrupted run stops before the epoch's evaluation), and the step must follow from epoch
    /// and batch. (The fixture: 6000 rows less a 0.25 validation split, batch 100: 45 batches.)
    func testPositionIsCheckedAgainstTheData() throws {
        let checkpoint = try Checkpoint.read(path: Self.unversioned)
        XCTAssertNoThrow(try checkpoint.checkPosition(batchesPerEpoch: 45, batchSize: 100, path: "c"))
        assertInputError(try checkpoint.checkPosition(batchesPerEpoch: 14, batchSize: 100, path: "c"),
                         contains: ["c: checkpoint position (epoch 2, batch 15, step 60) does not fit the data: "
                             + "an epoch of this data has 14 batches of 100"])
        var atEpochEnd = checkpoint
        atEpochEnd.position.step = 30
        XCTAssertNoThrow(try atEpochEnd.checkPosition(batchesPerEpoch: 15, batchSize: 100, path: "c"))
        assertInputError(try checkpoint.checkPosition(batchesPerEpoch: 40, batchSize: 100, path: "c"),
                         contains: ["with 40 batches per epoch the step would be (epoch − 1) × 40 + batch"])
        var edited = checkpoint
        edited.position.epochSamples = 1_000_000
        assertInputError(try edited.checkPosition(batchesPerEpoch: 45, batchSize: 100, path: "c"), contains: ["1000000.0 samples in 15 batches of 100"])
    }
}
