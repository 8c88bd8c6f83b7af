import Foundation
import XCTest
@testable import MLP
import TestSupport

/// `--lr-schedule plateau` against PyTorch's `ReduceLROnPlateau` on scripted loss sequences
/// (`Tests/Fixtures/plateau.json`, made by `plateau.py` with PyTorch): the same rates, bit for bit.
final class PlateauScheduleTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var lr: Double, patience: Int, factor: Double, threshold: Double, min_lr: Double
            var losses: [Double], rates: [Double]
        }
        var torch: String
        var cases: [Case]
    }

    func testRatesEqualPyTorchsReduceLROnPlateau() throws {
        let url = packageRoot.appendingPathComponent("Tests/Fixtures/plateau.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        var reductions = 0
        for (index, test) in fixture.cases.enumerated() {
            let settings = ScheduleSettings(kind: .plateau, plateauPatience: test.patience, plateauFactor: test.factor,
                                            plateauThreshold: test.threshold, minimumRate: test.min_lr)
            try settings.validate()
            var schedule = LearningRateSchedule(baseRate: test.lr, settings: settings, stepsPerEpoch: 10, totalSteps: 10_000)
            for (epoch, (loss, expected)) in zip(test.losses, test.rates).enumerated() {
                schedule.epochEnded(loss: loss, steps: 10 * (epoch + 1))
                XCTAssertEqual(schedule.rate(atStep: 10 * (epoch + 1)), expected, "case \(index), epoch \(epoch + 1) (PyTorch \(fixture.torch))")
            }
            reductions += Set(test.rates).count - 1
        }
        XCTAssertGreaterThan(reductions, 5, "the fixture exercises reductions and the floor")
    }

    /// Epochs that end during warm-up are not observed; the warm-up factor multiplies the rate.
    func testWarmUpComesFirst() throws {
        let settings = ScheduleSettings(kind: .plateau, warmupSteps: 25, plateauPatience: 0, plateauFactor: 0.5)
        var schedule = LearningRateSchedule(baseRate: 0.2, settings: settings, stepsPerEpoch: 10, totalSteps: 1000)
        XCTAssertEqual(schedule.rate(atStep: 4), 5.0 / 25 * 0.2)
        for steps in [10, 20] { schedule.epochEnded(loss: 1, steps: steps) }
        XCTAssertEqual(schedule.plateau, PlateauState(rate: 0.2), "not observed before warm-up ends")
        schedule.epochEnded(loss: 1, steps: 30)
        schedule.epochEnded(loss: 1, steps: 40)
        XCTAssertEqual(schedule.rate(atStep: 40), 0.1)
    }

    func testOptionsApplyToPlateauOnly() {
        XCTAssertThrowsError(try ScheduleSettings(kind: .cosine, plateauPatience: 3).validate()) { error in
            XCTAssertEqual("\(error)", "--plateau-patience applies to --lr-schedule plateau only (plateau replaces the other schedules)")
        }
        XCTAssertThrowsError(try ScheduleSettings(kind: .plateau, plateauFactor: 1).validate())
        XCTAssertThrowsError(try ScheduleSettings(kind: .plateau, minimumRate: -1).validate())
    }

    /// A NaN loss is a bad epoch for the plateau schedule and never the best, and early stopping
    /// never keeps it: a later finite loss is compared with the last finite best.
    func testNaNLossIsNeverAnImprovement() {
        let settings = ScheduleSettings(kind: .plateau, plateauPatience: 1, plateauFactor: 0.5)
        var schedule = LearningRateSchedule(baseRate: 0.2, settings: settings, stepsPerEpoch: 10, totalSteps: 1000)
        schedule.epochEnded(loss: 1, steps: 10)
        schedule.epochEnded(loss: .nan, steps: 20)
        XCTAssertEqual(schedule.plateau, PlateauState(rate: 0.2, best: 1, badEpochs: 1))
        schedule.epochEnded(loss: .nan, steps: 30)
        XCTAssertEqual(schedule.plateau?.rate, 0.1, "two bad epochs past a patience of 1")
        XCTAssertEqual(schedule.plateau?.best, 1)

        let layout = ParameterLayout(layerSizes: [1, 1])
        let stopping = EarlyStopping<Double>(patience: 2, layout: layout), parameters = FlatBuffer<Double>(layout: layout)
        XCTAssertFalse(stopping.observe(epoch: 1, validationLoss: 0.5, parameters: parameters))
        XCTAssertFalse(stopping.observe(epoch: 2, validationLoss: .nan, parameters: parameters))
        XCTAssertEqual(stopping.bestEpoch, 1)
        XCTAssertTrue(stopping.observe(epoch: 3, validationLoss: .nan, parameters: parameters))
        XCTAssertEqual(stopping.bestLoss, 0.5)
    }
}
