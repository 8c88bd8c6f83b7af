import XCTest
@testable import MLP

/// What the ranks compare at start: the settings text covers every setting, and one changed
/// value, label, target or name changes a dataset's content fingerprint.
final class StartFingerprintTests: XCTestCase {
    func configuration(_ change: (inout TrainingOptions) -> Void = { _ in }) throws -> TrainingConfiguration {
        var options = TrainingOptions(train: .csv(path: "a.csv"))
        change(&options)
        return try options.resolve(resuming: nil, startingModel: nil)
    }

    func testSettingsTextNamesEverySetting() throws {
        let base = try configuration()
        let names = Set(base.settingsText.split(separator: "\n").map { String($0.split(separator: " ")[0]) })
        // Every stored property is compared: as text (structs by their fields), by presence, or by content.
        for child in Mirror(reflecting: base).children {
            let label = child.label!
            let covered = names.contains(label) || names.contains { $0.hasPrefix(label + ".") }
                || TrainingConfiguration.comparedByContent.contains(label)
            XCTAssertTrue(covered, "\(label) is not compared")
        }
        XCTAssertTrue(names.contains("optimizer.momentum") && names.contains("schedule.warmupSteps"), base.settingsText)
        XCTAssertFalse(base.settingsText.contains("a.csv"), "data are compared by content, not path: \(base.settingsText)")
        XCTAssertTrue(base.settingsText.contains("save none"), base.settingsText)
    }

    func testOneChangedSettingChangesTheText() throws {
        let base = try configuration().settingsText
        let changes: [(String, (inout TrainingOptions) -> Void)] = [
            ("--seed", { $0.seed = 1 }), ("--learning-rate", { $0.learningRate = 0.5 }), ("--momentum", { $0.momentum = 0.9 }),
            ("--hidden", { $0.hidden = [4] }), ("--precision", { $0.precision = .float64 }), ("--warmup-steps", { $0.warmupSteps = 3 }),
            ("--save", { $0.save = "m.safetensors" }),
        ]
        for (option, change) in changes {
            let changed = try configuration(change).settingsText
            XCTAssertNotEqual(changed, base, option)
            XCTAssertTrue(settingsDifference(mine: changed, rank0: base).hasPrefix(option), settingsDifference(mine: changed, rank0: base))
        }
        // The same output at another path (only rank 0 writes it) is the same setting.
        XCTAssertEqual(try configuration { $0.save = "x/m.safetensors" }.settingsText, try configuration { $0.save = "m.safetensors" }.settingsText)
    }

    func testOneChangedValueChangesTheContentFingerprint() throws {
        let classes = Dataset<Float>(rowCount: 2, featureCount: 2, features: [1, 2, 3, 4], featureNames: ["a", "b"],
                                     labels: [0, 1], classNames: ["x", "y"], targetNames: ["label"])
        let regression = Dataset<Double>(rowCount: 2, featureCount: 1, features: [1, 2], featureNames: ["a"],
                                         targetValues: [0.5, 0.25], targetNames: ["y"])
        let base = try classes.contentFingerprint(), baseRegression = try regression.contentFingerprint()
        var changed = classes
        changed.features[3] = 4.0000005
        XCTAssertNotEqual(try changed.contentFingerprint(), base, "a feature")
        changed = classes
        changed.labels[0] = 1
        XCTAssertNotEqual(try changed.contentFingerprint(), base, "a label")
        changed = classes
        changed.classNames = ["x", "z"]
        XCTAssertNotEqual(try changed.contentFingerprint(), base, "a class name")
        changed = classes
        changed.featureNames = ["a", "c"]
        XCTAssertNotEqual(try changed.contentFingerprint(), base, "a column name")
        changed = classes
        (changed.rowCount, changed.featureCount) = (4, 1)
        XCTAssertNotEqual(try changed.contentFingerprint(), base, "the shape")
        var target = regression
        target.targetValues[1] = 0.2500001
        XCTAssertNotEqual(try target.contentFingerprint(), baseRegression, "a target")
        XCTAssertEqual(try classes.contentFingerprint(), base, "deterministic")
    }

    func testOneProcessAgreesWithoutCollectives() throws {
        try SingleProcessCommunicator().agreeAtStart([StartItem(differs: "", text: "anything", advice: "")])
    }
}
