import XCTest
@testable import MLP
import TestSupport

/// `mlp sweep`'s parts without a process: the folds against scikit-learn's indices, the halving
/// rounds against `HalvingGridSearchCV`'s, the grid's order, the random draws, the results' lines
/// and ranks. (The end-to-end `SweepTests` run the command.)
final class SweepSpaceTests: XCTestCase {
    /// `StratifiedKFold(n_splits=K).split(X, labels)` and `KFold(n_splits=4)` on 10 rows, printed
    /// by scikit-learn 1.9.1 (`SweepTests.testFoldsAreScikitLearns` checks others against it live).
    func testFoldsAreScikitLearns() throws {
        let labels: [Int32] = [2, 0, 1, 1, 2, 0, 0, 1, 2, 2, 0, 1, 1, 1, 0, 2, 2, 2, 0, 1, 1, 2, 0]
        let expected: [Int: [[Int]]] = [
            2: [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]],
            3: [[0, 1, 2, 3, 4, 5, 7, 8], [6, 9, 10, 11, 12, 13, 15, 16], [14, 17, 18, 19, 20, 21, 22]],
            4: [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 18], [17, 19, 20, 21, 22]],
        ]
        for (k, heldOut) in expected {
            let folds = try Folds.stratified(labels: labels, classNames: ["a", "b", "c"], folds: k)
            XCTAssertEqual(folds.heldOut, heldOut, "K = \(k)")
            XCTAssertEqual(folds.trainingRows(0), (0 ..< labels.count).filter { !heldOut[0].contains($0) })
        }
        XCTAssertEqual(try Folds.plain(rowCount: 10, folds: 4).heldOut, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]])
        // Class 0 has 7 rows: 8 folds would leave one without any.
        assertInputError(try Folds.stratified(labels: labels, classNames: ["a", "b", "c"], folds: 8),
                         contains: ["--folds 8 is more than the 7 rows of class a, the smallest"])
        assertInputError(try Folds.plain(rowCount: 3, folds: 4), contains: ["--folds 4 is more than the 3 training rows"])
    }

    /// `HalvingGridSearchCV(resource=…, max_resources=E, factor=F)`'s `n_resources_` and
    /// `n_candidates_` for C candidates, printed by scikit-learn 1.9.1.
    func testHalvingRoundsAreHalvingGridSearchCVs() throws {
        let cases: [(candidates: Int, factor: Double, epochs: Int, rounds: [Int], kept: [Int])] = [
            (4, 2, 8, [2, 4, 8], [4, 2, 1]), (4, 2, 10, [2, 4, 8], [4, 2, 1]), (9, 3, 30, [3, 9, 27], [9, 3, 1]),
            (10, 3, 100, [11, 33, 99], [10, 4, 2]), (5, 2, 3, [1, 2], [5, 3]), (1, 2, 5, [5], [1]), (7, 2.5, 50, [8, 20], [7, 3]),
        ]
        for test in cases {
            let schedule = try HalvingSchedule(factor: test.factor, candidates: test.candidates, epochs: test.epochs)
            XCTAssertEqual(schedule.epochs, test.rounds, "\(test)")
            var candidates = [test.candidates]
            while candidates.count < schedule.rounds { candidates.append(schedule.kept(of: candidates.last!)) }
            XCTAssertEqual(candidates, test.kept, "\(test)")
        }
        assertInputError(try HalvingSchedule(factor: 1.0000001, candidates: 4, epochs: 10), contains: ["rounds to halve 4 trials"])
    }

    /// The grid is the product in `--param` order, the last varying fastest; values of list-valued
    /// options are separated by `|`; each value is read by the given parser.
    func testGridOrderAndValues() throws {
        let parameters = try [SweepParameter("hidden=8|16,8", parse: parse), SweepParameter("learning-rate=0.1,0.05,0.01", parse: parse),
                              SweepParameter("standardize=true,false", parse: parse)]
        let space = try SweepSpace(parameters: parameters, draws: nil, seed: 0)
        let trials = try space.trials(base: TrainingOptions(train: .spirals), parse: parse)
        XCTAssertEqual(trials.count, 12)
        XCTAssertEqual(trials[0].parameters.map(\.value), ["8", "0.1", "true"])
        XCTAssertEqual(trials[1].parameters.map(\.value), ["8", "0.1", "false"])
        XCTAssertEqual(trials[11].parameters.map(\.value), ["16,8", "0.01", "false"])
        XCTAssertEqual(trials[11].options.hidden, [16, 8])
        XCTAssertEqual(trials[11].options.learningRate, 0.01)
        XCTAssertNil(trials[11].options.standardize)
        XCTAssertEqual(trials[0].options.standardize, true)
        XCTAssertEqual(trials[0].options.train, .spirals, "the base's options stay")
    }

    /// `--random N`: N draws, the same for the same `--sweep-seed`, each inside its range (log:
    /// uniform in the logarithm, int: whole numbers, lists: their values).
    func testRandomDrawsAreSeededAndInRange() throws {
        let parameters = try [SweepParameter("learning-rate=log:1e-4..1e-1", parse: parse),
                              SweepParameter("batch-size=int:4..9", parse: parse),
                              SweepParameter("momentum=lin:0..0.9", parse: parse), SweepParameter("activation=relu,tanh", parse: parse)]
        let draws = try SweepSpace(parameters: parameters, draws: 200, seed: 7).values
        XCTAssertEqual(draws.map { $0.map(\.value) }, try SweepSpace(parameters: parameters, draws: 200, seed: 7).values.map { $0.map(\.value) })
        XCTAssertNotEqual(draws.map { $0.map(\.value) }, try SweepSpace(parameters: parameters, draws: 200, seed: 8).values.map { $0.map(\.value) })
        let rates = draws.map { Double($0[0].value)! }, sizes = draws.map { Int($0[1].value)! }, momenta = draws.map { Double($0[2].value)! }
        XCTAssertTrue(rates.allSatisfy { (1e-4 ... 1e-1).contains($0) })
        XCTAssertEqual(Set(sizes), Set(4 ... 9), "200 draws meet every integer of 4…9")
        XCTAssertTrue(momenta.allSatisfy { (0 ... 0.9).contains($0) })
        XCTAssertEqual(Set(draws.map { $0[3].value }), ["relu", "tanh"])
        // Uniform in the logarithm: about a third of the draws in each decade.
        let lowest = rates.count { $0 < 1e-3 }
        XCTAssertTrue((40 ... 95).contains(lowest), "\(lowest) of 200 draws below 1e-3")
    }

    func testParameterRefusals() {
        assertInputError(try SweepParameter("nonsense=1", parse: parse), contains: ["nonsense is not an option of mlp train"])
        assertInputError(try SweepParameter("train=a.csv", parse: parse), contains: ["--train cannot vary in a sweep"])
        assertInputError(try SweepParameter("learning-rate=0", parse: parse), contains: ["--learning-rate must be a positive number (got 0.0)"])
        assertInputError(try SweepParameter("learning-rate=log:0..1", parse: parse), contains: ["must be a positive number"])
        assertInputError(try SweepParameter("momentum=log:0..0.5", parse: parse), contains: ["log: needs LOW > 0"])
        assertInputError(try SweepParameter("hidden=int:1..3", parse: parse), contains: ["int: ranges are for options that take a whole number"])
        assertInputError(try SweepParameter("epochs=int:3..1", parse: parse), contains: ["int:LOW..HIGH needs LOW ≤ HIGH"])
        assertInputError(try SweepParameter("epochs=", parse: parse), contains: ["no values: the grid would be empty"])
        assertInputError(try SweepParameter("nesterov=yes", parse: parse), contains: ["its values are true and false"])
        let twice = [try! SweepParameter("epochs=1", parse: parse), try! SweepParameter("epochs=2", parse: parse)]
        assertInputError(try SweepSpace(parameters: twice, draws: nil, seed: 0), contains: ["--param epochs is given twice"])
        assertInputError(try SweepSpace(parameters: [twice[0]], draws: 3, seed: 0), contains: ["--random 3 draws from ranges"])
    }

    /// The results' lines read back as written; ranks as `rank_test_score` (ties share the best,
    /// failures last; with halving, later rounds first); the best is the first trial of rank 1.
    func testRecordsRoundTripAndRank() {
        func record(_ trial: Int, _ scores: [Double?], round: Int? = nil, status: TrialRecord.Status = .ok) -> TrialRecord {
            TrialRecord(trial: trial, round: round, parameters: [ParameterValue(name: "hidden", value: "8,\"8\""),
                                                                 ParameterValue(name: "a-b", value: "x|y")],
                        status: status, error: status == .ok ? nil : "why\nnot", foldScores: scores, epochs: 3, seconds: 1.5,
                        group: trial % 2, sweep: "0123456789abcdef")
        }
        let records = [record(0, [0.5, 0.75]), record(1, [1, 0.25]), record(2, [0.9, 0.9]), record(3, [], status: .diverged)]
        XCTAssertEqual(records[0].meanScore, 0.625)
        XCTAssertEqual(records[0].standardDeviation, 0.125)
        for original in records { XCTAssertEqual(TrialRecord(line: original.line), original) }
        // Read back to the bit, as a resumed sweep reads its finished trials and folds
        // (JSONSerialization gave 567/599 one ulp low).
        let accuracy = 567.0 / 599
        XCTAssertEqual(TrialRecord(line: record(4, [accuracy, 0.5]).line)?.foldScores.first??.bitPattern, accuracy.bitPattern)
        let fold = NSTemporaryDirectory() + "fold-\(UUID()).json"
        defer { unlink(fold) }
        XCTAssertNoThrow(try FoldResult(round: 0, score: accuracy, epochs: 2, complete: true).write(to: fold, sweep: "s"))
        XCTAssertEqual(try FoldResult.read(fold, sweep: "s")?.score?.bitPattern, accuracy.bitPattern)
        XCTAssertEqual(records.ranked().map(\.rank), [2, 2, 1, 4])
        XCTAssertEqual(records.best?.trial, 2)
        let halving = [record(0, [0.9], round: 0), record(1, [0.5], round: 0), record(1, [0.6], round: 1)]
        XCTAssertEqual(halving.ranked().map(\.rank), [2, 3, 1])
        XCTAssertEqual(halving.best?.trial, 1)
        XCTAssertTrue(records.table().split(separator: "\n")[1].hasPrefix("1 "), records.table())
    }

    /// The default trial directory sits beside the results file.
    /// With --halving, a trial that scored in round 0 and diverged in round 1 (the only one to
    /// reach it) is still the best that succeeded: the refit had no trial and the sweep crashed.
    func testBestIsASucceededRecordWhenALaterRoundOnlyFailed() throws {
        func record(_ trial: Int, round: Int, _ status: TrialRecord.Status, _ scores: [Double?]) -> TrialRecord {
            TrialRecord(trial: trial, round: round, parameters: [], status: status, foldScores: scores, epochs: 1, seconds: 0,
                        group: 0, sweep: "s")
        }
        let records = [record(0, round: 0, .diverged, []), record(1, round: 0, .ok, [0.5, 0.5]), record(1, round: 1, .diverged, [0.5, nil])]
        let best = try XCTUnwrap(records.best)
        XCTAssertEqual(best.trial, 1)
        XCTAssertEqual(best.round, 0)
        XCTAssertNil([record(0, round: 0, .diverged, [])].best)
    }

    func testDefaultDirectory() {
        XCTAssertEqual(SweepOptions.defaultDirectory(results: "out/digits.jsonl"), "out/digits.trials")
        XCTAssertEqual(SweepOptions.defaultDirectory(results: "r"), "r.trials")
    }

    /// `--sweep-dir` takes a new or existing directory, with or without a trailing slash, but
    /// not `.` or `..` (however written), which hold other files.
    func testSweepDirectoryIsADirectoryOfItsOwn() throws {
        let temporary = FileManager.default.temporaryDirectory.path
        for given in [temporary, temporary + "/", temporary + "/mlp-sweep-new.trials/"] {
            XCTAssertNoThrow(try OutputPath(given, for: .sweepDirectory), given)
        }
        for given in [".", "./", "..", "../", temporary + "/.", temporary + "/..//"] {
            assertInputError(try OutputPath(given, for: .sweepDirectory), contains: ["--sweep-dir \(given): holds other files"])
        }
    }

    /// A stand-in for the command line's parser: enough of `mlp train`'s syntax for these options.
    private let parse: TrainArgumentParser = { arguments in
        var options = TrainingOptions(train: nil)
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let value = parts.count > 1 ? parts[1] : ""
            switch parts[0] {
            case "--hidden": options.hidden = try value.split(separator: ",").map {
                    guard let width = Int($0) else { throw InputError("--hidden: '\($0)' is not an integer") }
                    return width
                }
            case "--learning-rate": options.learningRate = try number(value)
            case "--momentum": options.momentum = try number(value)
            case "--epochs": options.epochs = Int(value)
            case "--batch-size": options.batchSize = Int(value)
            case "--activation": options.activation = Activation(rawValue: value)
            case "--standardize": options.standardize = true
            case "--nesterov": options.nesterov = true
            default: throw InputError("unexpected \(argument)")
            }
        }
        return options
    }
}

private func number(_ text: String) throws -> Double {
    guard let value = Double(text) else { throw InputError("not a number: \(text)") }
    return value
}
