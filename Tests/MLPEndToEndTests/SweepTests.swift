import XCTest
import MLP
import TestSupport

/// `mlp sweep` end to end: the real command, as one process and under `mpirun -n 2` in groups of
/// 1 and 2 ranks, on small generated data. Every fold's model is compared with `mlp train` on a
/// file of that fold's training rows, byte for byte under `--reproducible`.
final class SweepTests: ScratchFolderTestCase {
    var data: String { path("data.csv") }
    /// A small base: 3 epochs of a little network.
    let base = ["--epochs", "3", "--batch-size", "16", "--hidden", "8", "--seed", "5"]

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeClassificationCSV(URL(fileURLWithPath: data), rows: 150, seed: 3)
    }

    func records(_ file: String) throws -> [TrialRecord] {
        try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { line in
            try XCTUnwrap(TrialRecord(line: line), "not a record: \(line)")
        }
    }

    func bytes(_ file: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: file)) }

    /// The held-out rows of each fold, as the sweep wrote them.
    func folds(_ directory: String) throws -> [[Int]] {
        let object = try JSONSerialization.jsonObject(with: bytes(directory + "/folds.json")) as? [String: Any]
        return try XCTUnwrap(object?["folds"] as? [[Int]])
    }

    /// A CSV of `csv`'s header and the rows `keep` says, in file order: the lines themselves, so
    /// their values read back to the same bits.
    func writeRows(of csv: String, to file: String, keep: (Int) -> Bool) throws {
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let rows = lines.dropFirst().filter { !$0.isEmpty }
        let kept = rows.enumerated().filter { keep($0.offset) }.map(\.element)
        try ([lines[0]] + kept).joined(separator: "\n").appending("\n").write(toFile: file, atomically: true, encoding: .utf8)
    }

    /// For each trial and fold: the fold's model is `mlp train` with the trial's options on a file
    /// of the fold's training rows (byte for byte), and its score is `mlp evaluate` on a file of
    /// its held-out rows (accuracy, or the mean R² over the targets).
    func checkFoldsAreStandaloneTrainings(_ results: String, directory: String, csv: String, trainOptions: [String],
                                          regression: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let heldOut = try folds(directory)
        for record in try records(results) {
            for (k, rows) in heldOut.enumerated() {
                let held = Set(rows), name = "t\(record.trial)-f\(k)"
                try writeRows(of: csv, to: path(name + ".train.csv")) { !held.contains($0) }
                try writeRows(of: csv, to: path(name + ".held.csv")) { held.contains($0) }
                let values = record.parameters.flatMap { ["--\($0.name)", $0.value] }
                let alone = try MLPProcess.run(["train", "--train", path(name + ".train.csv")] + trainOptions + values
                    + ["--save", path(name + ".st")])
                XCTAssertEqual(alone.status, 0, alone.stderr, file: file, line: line)
                let model = String(format: "%@/trial-%04d/fold-%d.safetensors", directory, record.trial, k)
                XCTAssertEqual(try bytes(model), try bytes(path(name + ".st")),
                               "trial \(record.trial) fold \(k): not mlp train's model on the fold's rows", file: file, line: line)
                let evaluation = try MLPProcess.run(["evaluate", "--model", model, "--data", path(name + ".held.csv"), "--json"])
                let object = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as? [String: Any]
                let expected = regression ? ((object?["r2"] as? [Double]) ?? []).reduce(0, +) / 2 : object?["accuracy"] as? Double
                XCTAssertEqual(record.foldScores[k]!, try XCTUnwrap(expected), accuracy: 1e-12,
                               "trial \(record.trial) fold \(k): the score is not mlp evaluate's on the held-out rows", file: file, line: line)
            }
        }
    }

    /// A 2 × 2 grid with 3 folds as one process: a line per trial with its fold scores, their mean
    /// and population deviation, a rank, the table best first, and `--save` the best trial's
    /// options refit on all the data, which is `mlp train` with them.
    func testGridScoresRanksAndRefits() throws {
        let results = path("grid.jsonl")
        let sweep = try MLPProcess.run(["sweep", "--train", data, "--folds", "3", "--standardize", "--param", "learning-rate=0.3,0.05",
                                        "--param", "dropout=0|0.2", "--results", results, "--save", path("best.st")] + base)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        let lines = try records(results)
        XCTAssertEqual(lines.map(\.trial).sorted(), [0, 1, 2, 3])
        XCTAssertEqual(lines.map { $0.parameters.map(\.name) }, Array(repeating: ["learning-rate", "dropout"], count: 4))
        for record in lines {
            let scores = record.foldScores.compactMap { $0 }
            XCTAssertEqual(scores.count, 3)
            let mean = scores.reduce(0, +) / 3
            XCTAssertEqual(record.meanScore!, mean, accuracy: 1e-15)
            XCTAssertEqual(record.standardDeviation!, (scores.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3).squareRoot(),
                           accuracy: 1e-15)
            XCTAssertEqual(record.status, .ok)
            XCTAssertEqual(record.epochs, 3)
            XCTAssertEqual(record.rank, 1 + lines.count { $0.meanScore! > record.meanScore! })
        }
        // The table: a header, then one row per trial, best first.
        let table = sweep.stdout.split(separator: "\n").drop { !$0.hasPrefix("rank ") }.dropFirst().prefix(4)
        XCTAssertEqual(table.map { Int($0.split(separator: " ")[0])! }, lines.compactMap(\.rank).sorted(), sweep.stdout)
        let best = try XCTUnwrap(lines.filter { $0.rank == 1 }.min { $0.trial < $1.trial })
        let refit = try MLPProcess.run(["train", "--train", data, "--standardize", "--save", path("refit.st")] + base
            + best.parameters.flatMap { ["--\($0.name)", $0.value] })
        XCTAssertEqual(refit.status, 0, refit.stderr)
        XCTAssertEqual(try bytes(path("best.st")), try bytes(path("refit.st")), "the refit is not mlp train with the best options")
        XCTAssertTrue(sweep.stdout.contains("refit of trial \(best.trial)"), sweep.stdout)

        // mlp plot --sweep: a panel per parameter, each trial a point in each; one of --metrics and --sweep.
        let plot = try MLPProcess.run(["plot", "--sweep", results, "--output", path("scores.svg")])
        XCTAssertEqual(plot.status, 0, plot.stderr)
        let svg = try String(contentsOfFile: path("scores.svg"), encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 2 * lines.count, svg)
        for name in ["learning-rate", "dropout"] { XCTAssertTrue(svg.contains(">\(name)</text>"), "no panel for \(name)") }
        for (arguments, status, words) in [
            (["--sweep", results, "--metrics", results], ExitStatus.usage, "give one of --metrics FILE"),
            ([], ExitStatus.usage, "give one of --metrics FILE"),
            (["--sweep", data], ExitStatus.badInput, "data.csv:1: not a line of mlp sweep --results"),
        ] {
            let refused = try MLPProcess.run(["plot"] + arguments + ["--output", path("refused.svg")])
            XCTAssertEqual(refused.status, status, refused.stderr)
            XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
            XCTAssertTrue(refused.stderr.contains(words), refused.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("refused.svg")))
        }
    }

    /// Built-in data held out by a validation split is scored on rows of the training data (the
    /// spirals of the trial's seed), not on the test data the same name gives `mlp evaluate`: the
    /// held-out row numbers ran past the 2,000 test rows and the sweep crashed.
    func testBuiltInDataScoresRowsOfItsTrainingData() throws {
        let results = path("spirals.jsonl")
        let sweep = try MLPProcess.run(["sweep", "--train", "synthetic:spirals", "--validation-split", "0.2", "--epochs", "1",
                                        "--hidden", "4", "--param", "learning-rate=0.1,0.05", "--results", results])
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        XCTAssertEqual(try records(results).map(\.status), [.ok, .ok])
    }

    /// Under `--reproducible`, with `--standardize` and a validation split fitted on each fold's
    /// training rows: every fold's model is `mlp train`'s on a file of those rows and its score
    /// `mlp evaluate`'s on the held-out ones, as one process, on 2 ranks in groups of 1 (two
    /// trials at a time) and in one group of 2.
    func testFoldModelsAreStandaloneTrainingsAtOneAndTwoRanksPerTrial() throws {
        let options = base + ["--reproducible", "--standardize", "--validation-split", "0.2"]
        for (ranks, perTrial) in [(1, 1), (2, 1), (2, 2)] {
            let results = path("r\(ranks)-\(perTrial).jsonl"), directory = path("d\(ranks)-\(perTrial)")
            let sweep = try MLPProcess.run(ranks: ranks, ["sweep", "--train", data, "--folds", "3", "--ranks-per-trial", "\(perTrial)",
                                                          "--param", "learning-rate=0.3,0.05", "--results", results,
                                                          "--sweep-dir", directory] + options)
            XCTAssertEqual(sweep.status, 0, sweep.stderr)
            XCTAssertTrue(sweep.stdout.contains("\(ranks / perTrial) group\(ranks / perTrial == 1 ? "" : "s") of \(perTrial) rank"),
                          sweep.stdout)
            try checkFoldsAreStandaloneTrainings(results, directory: directory, csv: data, trainOptions: options)
        }
        // Which group ran a trial changes nothing: the same scores whatever the layout.
        let scores = try ["r1-1", "r2-1", "r2-2"].map { try records(path($0 + ".jsonl")).sorted { $0.trial < $1.trial }.map(\.foldScores) }
        XCTAssertEqual(scores[0], scores[1])
        XCTAssertEqual(scores[0], scores[2])
    }

    /// A table as it comes (a categorical column, gaps, a category only some folds train on): each
    /// fold's preprocessing is fitted on its training rows alone, so its model is `mlp train`'s on
    /// a file of those rows, on 2 ranks in groups of 1.
    func testTableFoldsFitTheirEncodingOnTheirRowsOnly() throws {
        let csv = path("table.csv")
        let colours = ["red", "green", "blue"]
        let rows = (0 ..< 60).map { i -> String in
            let x = i % 7 == 3 ? "NA" : "\(Double((i * 37) % 23) / 10)"
            let colour = i >= 54 ? "violet" : colours[(i * 5) % 3]
            return "\(x),\(colour),\((i * 37) % 23 > 11 || colour == "red" ? "yes" : "no")"
        }
        try (["x,colour,label"] + rows).joined(separator: "\n").appending("\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let options = base + ["--reproducible", "--standardize"]
        let results = path("table.jsonl"), directory = path("table.trials")
        let sweep = try MLPProcess.run(ranks: 2, ["sweep", "--train", csv, "--folds", "3", "--param", "learning-rate=0.3,0.05",
                                                  "--results", results] + options)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        try checkFoldsAreStandaloneTrainings(results, directory: directory, csv: csv, trainOptions: options)
    }

    /// Regression: KFold's folds, R² scores (the mean over two targets), on 2 ranks.
    func testRegressionFoldsScoreR2() throws {
        let csv = path("regression.csv")
        try writeRegressionCSV(URL(fileURLWithPath: csv), rows: 90, seed: 2)
        let options = base + ["--reproducible", "--loss", "squared-error", "--target", "y1,y2", "--learning-rate", "0.05"]
        let results = path("regression.jsonl"), directory = path("regression.trials")
        let sweep = try MLPProcess.run(ranks: 2, ["sweep", "--train", csv, "--folds", "3", "--param", "activation=tanh,relu",
                                                  "--results", results] + options)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        XCTAssertEqual(try folds(directory), [Array(0 ..< 30), Array(30 ..< 60), Array(60 ..< 90)])
        try checkFoldsAreStandaloneTrainings(results, directory: directory, csv: csv, trainOptions: options, regression: true)
    }

    /// SIGTERM to every rank of a sweep on 2 ranks in groups of 1, each group's rank 0 slowed
    /// (`mlp-faults`) in its second trial so that the signal finds trials unfinished: the trials
    /// that finished stay in the results, and the same command continues to the results and
    /// models of an uninterrupted sweep.
    func testSIGTERMThenTheSameCommandContinues() throws {
        let command = ["sweep", "--train", data, "--folds", "2", "--param", "learning-rate=0.3,0.2,0.1,0.05,0.02,0.01"]
            + ["--epochs", "10", "--batch-size", "8", "--hidden", "16"]
        let reference = try MLPProcess.mpirun(ranks: 2, command + ["--results", path("reference.jsonl")])
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let results = path("stopped.jsonl")
        // A fold trains 75 rows in 10 batches for 10 epochs: step 250 is in a group's second trial.
        let run = try MLPProcess.start(ranks: 2, command + ["--results", results], executable: "mlp-faults",
                                       environment: ["MLP_TEST_SLOW_AT_STEP": "250:3"])
        try run.waitUntil("the first trial's line") {
            ((try? String(contentsOfFile: results, encoding: .utf8)) ?? "").contains("\n")
        }
        for process in run.rankProcesses() { kill(process, SIGTERM) }
        let stopped = run.wait(timeLimit: 60)
        let finished = try records(results)
        if stopped.status != 0 {
            let line = stopped.stderr.split(separator: "\n").first { $0.hasPrefix("mlp: error:") } ?? ""
            XCTAssertTrue(line.contains("interrupted by SIGTERM") && line.contains("run the same command again"), stopped.stderr)
            XCTAssertLessThan(finished.count, 6, "interrupted before the end")
        }
        print("[sweep SIGTERM] \(finished.count) of 6 trials finished before it stopped (status \(stopped.status))")
        let continued = try MLPProcess.mpirun(ranks: 2, command + ["--results", results])
        XCTAssertEqual(continued.status, 0, continued.stderr)
        XCTAssertTrue(finished.isEmpty || continued.stdout.contains("\(finished.count) finished before, read back"), continued.stdout)
        let final = try records(results).sorted { $0.trial < $1.trial }, expected = try records(path("reference.jsonl"))
            .sorted { $0.trial < $1.trial }
        for record in finished {
            var kept = try XCTUnwrap(final.first { $0.trial == record.trial })
            kept.rank = nil
            XCTAssertEqual(kept, record, "a finished trial's line changed")
        }
        XCTAssertEqual(final.map(\.foldScores), expected.map(\.foldScores))
        XCTAssertEqual(final.map(\.rank), expected.map(\.rank))
        for trial in 0 ..< 6 {
            for fold in 0 ..< 2 {
                let name = String(format: "trial-%04d/fold-%d.safetensors", trial, fold)
                XCTAssertEqual(try bytes(path("stopped.trials/" + name)), try bytes(path("reference.trials/" + name)), name)
            }
        }
    }

    /// `--halving 2` on 4 trials of 4 epochs: rounds of 1, 2 and 4 epochs keep the best 2, then 1;
    /// each round continues its trials from their checkpoints, and the survivor's fold models,
    /// trained 1 + 1 + 2 epochs, are `mlp train`'s in one go with a cosine schedule over 4.
    func testHalvingContinuesTheBestFromTheirCheckpoints() throws {
        let options = ["--epochs", "4", "--batch-size", "16", "--hidden", "8", "--reproducible", "--lr-schedule", "cosine"]
        let results = path("halving.jsonl"), directory = path("halving.trials")
        let sweep = try MLPProcess.mpirun(ranks: 2, ["sweep", "--train", data, "--folds", "2", "--halving", "2",
                                                     "--param", "learning-rate=0.5,0.2,0.05,0.01", "--results", results] + options)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        XCTAssertTrue(sweep.stdout.contains("in 3 rounds of 1, 2, 4 epochs"), sweep.stdout)
        let lines = try records(results)
        func round(_ index: Int) -> [TrialRecord] { lines.filter { $0.round == index }.sorted { $0.trial < $1.trial } }
        XCTAssertEqual(round(0).count, 4)
        XCTAssertEqual(round(0).map(\.epochs), [1, 1, 1, 1])
        func best(_ records: [TrialRecord], _ count: Int) -> Set<Int> {
            Set(records.sorted { ($0.meanScore!, -$0.trial) > ($1.meanScore!, -$1.trial) }.prefix(count).map(\.trial))
        }
        XCTAssertEqual(Set(round(1).map(\.trial)), best(round(0), 2))
        XCTAssertEqual(round(1).map(\.epochs), [2, 2])
        XCTAssertEqual(Set(round(2).map(\.trial)), best(round(1), 1))
        let survivor = try XCTUnwrap(round(2).first)
        XCTAssertEqual(survivor.epochs, 4)
        XCTAssertEqual(survivor.rank, 1)
        let heldOut = try folds(directory)
        for (k, rows) in heldOut.enumerated() {
            let held = Set(rows)
            try writeRows(of: data, to: path("f\(k).csv")) { !held.contains($0) }
            let alone = try MLPProcess.run(["train", "--train", path("f\(k).csv"), "--save", path("f\(k).st")] + options
                + survivor.parameters.flatMap { ["--\($0.name)", $0.value] })
            XCTAssertEqual(alone.status, 0, alone.stderr)
            let model = String(format: "%@/trial-%04d/fold-%d.safetensors", directory, survivor.trial, k)
            XCTAssertEqual(try bytes(model), try bytes(path("f\(k).st")), "fold \(k): the survivor is not the one-go training")
            // Its checkpoint was continued to the last round's end.
            let checkpoint = try Checkpoint.read(path: String(format: "%@/trial-%04d/fold-%d.checkpoint", directory, survivor.trial, k))
            XCTAssertEqual(checkpoint.position.epoch, 5)
        }
        // A trial left after the first round stopped at its budget: 1 epoch.
        let dropped = try XCTUnwrap(round(0).first { !best(round(0), 2).contains($0.trial) })
        let stoppedAt = try Checkpoint.read(path: String(format: "%@/trial-%04d/fold-0.checkpoint", directory, dropped.trial))
        XCTAssertEqual(stoppedAt.position.epoch, 2)
    }

    /// A trial that diverges and two whose options `mlp train` refuses are recorded with their
    /// reasons while the others finish, on 2 ranks (exit 0); when no trial succeeds, exit 6 with
    /// one line.
    func testFailedTrialsAreRecordedAndTheOthersFinish() throws {
        let results = path("failures.jsonl")
        let sweep = try MLPProcess.mpirun(ranks: 2, ["sweep", "--train", data, "--folds", "2", "--momentum", "0.9",
                                                     "--param", "learning-rate=1e30,0.1", "--param", "optimizer=sgd,adam",
                                                     "--results", results] + base)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        let lines = try records(results).sorted { $0.trial < $1.trial }
        XCTAssertEqual(lines.map(\.status), [.diverged, .refused, .ok, .refused])
        XCTAssertTrue(lines[0].error?.contains("non-finite loss") ?? false, "\(lines[0])")
        XCTAssertTrue(lines[1].error?.contains("--momentum applies to --optimizer sgd only") ?? false, "\(lines[1])")
        XCTAssertEqual(lines.map(\.rank), [2, 2, 1, 2])
        XCTAssertFalse(sweep.stderr.contains("mlp: error:"), sweep.stderr)

        let none = try MLPProcess.mpirun(ranks: 2, ["sweep", "--train", data, "--folds", "2", "--param", "learning-rate=1e30,1e31",
                                                    "--results", path("none.jsonl")] + base)
        XCTAssertEqual(none.status, ExitStatus.noTrialSucceeded, none.stderr)
        let errors = none.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }
        XCTAssertEqual(errors.count, 1, none.stderr)
        XCTAssertTrue(errors.first?.contains("no trial succeeded: 2 diverged") ?? false, none.stderr)
        XCTAssertEqual(try records(path("none.jsonl")).map(\.status), [.diverged, .diverged])
    }

    /// Bad input is refused before any work with one line, and nothing is written: the values,
    /// the parameters against the base and each other, the sweep's own options, the ranks, and a
    /// results file of another sweep (left as it was).
    func testBadInputIsRefusedBeforeAnyWork() throws {
        let start = ["sweep", "--train", data, "--results", path("bad.jsonl")] + base
        let cases: [(arguments: [String], status: Int32, message: String)] = [
            (["--folds", "2", "--param", "colour=1"], 64, "colour is not an option of mlp train"),
            (["--folds", "2", "--param", "train=x.csv"], 64, "--train cannot vary in a sweep"),
            (["--folds", "2", "--param", "save=x"], 64, "--save cannot vary in a sweep"),
            (["--folds", "2", "--param", "learning-rate=fast"], 64, "The value 'fast' is invalid for '--learning-rate"),
            (["--folds", "2", "--param", "learning-rate=-1"], 64, "--learning-rate must be a positive number (got -1.0)"),
            (["--folds", "2", "--param", "dropout=0.1|x"], 64, "--dropout takes rates"),
            (["--folds", "2", "--param", "momentum=0", "--param", "momentum=0.5"], 64, "--param momentum is given twice"),
            (["--folds", "2", "--param", "hidden=4|8"], 64, "--param hidden varies --hidden, which the base also gives"),
            (["--folds", "2", "--param", "momentum="], 64, "no values: the grid would be empty"),
            (["--folds", "1"], 64, "--folds must be at least 2 (got 1)"),
            (["--folds", "60"], 1, "--folds 60 is more than the"),
            (["--folds", "2", "--random", "3", "--param", "learning-rate=log:0..1"], 64, "--learning-rate must be a positive number"),
            (["--folds", "2", "--random", "3", "--param", "momentum=log:0..0.9"], 64, "log: needs LOW > 0"),
            (["--folds", "2", "--random", "3", "--param", "momentum=0,0.5"], 64, "--random 3 draws from ranges"),
            (["--folds", "2", "--param", "momentum=lin:0..0.9"], 64, "it needs --random N"),
            (["--folds", "2", "--halving", "1"], 64, "--halving must be more than 1 (got 1.0)"),
            (["--folds", "2", "--halving", "2", "--max-steps", "5"], 64, "--max-steps 5 does not apply with --halving"),
            (["--folds", "2", "--resume", "x"], 64, "--resume x does not apply to mlp sweep"),
            (["--folds", "2", "--param", "momentum=0", "--sweep-dir", path("bad.jsonl")], 1, "is the same file as --results"),
            (["--folds", "2", "--param", "momentum=0", "--sweep-dir", directory.path + "/"], 1, "holds other files"),
            (["--folds", "2", "--param", "momentum=0,0.5", "--halving", "1.001"], 64, "--halving 1.001 would take"),
            ([], 64, "give --folds K, or --validation-split F"),
            (["--folds", "2", "--optimizer", "adam", "--param", "momentum=0.5,0.9"], 64, "every trial is refused; trial 0:"),
        ]
        for test in cases {
            let output = try MLPProcess.run(start + test.arguments)
            XCTAssertEqual(output.status, test.status, "\(test.arguments): \(output.stderr)")
            let errors = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }
            XCTAssertEqual(errors.count, 1, "\(test.arguments): \(output.stderr)")
            XCTAssertTrue(errors.first?.contains(test.message) ?? false, "\(test.arguments): \(output.stderr)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["data.csv"], "\(test.arguments)")
        }
        let uneven = try MLPProcess.mpirun(ranks: 2, start + ["--folds", "2", "--ranks-per-trial", "3"])
        XCTAssertEqual(uneven.status, ExitStatus.usage, uneven.stderr)
        XCTAssertTrue(uneven.stderr.contains("mlp: error: --ranks-per-trial 3 does not divide the 2 ranks"), uneven.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["data.csv"])
        // Another sweep's results: refused, not appended to.
        let first = try MLPProcess.run(start + ["--folds", "2", "--param", "momentum=0"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let before = try bytes(path("bad.jsonl"))
        let other = try MLPProcess.run(start + ["--folds", "2", "--param", "momentum=0.5"])
        XCTAssertEqual(other.status, ExitStatus.badInput, other.stderr)
        XCTAssertTrue(other.stderr.contains("mlp: error: --results \(path("bad.jsonl")) was written by another sweep"), other.stderr)
        XCTAssertEqual(try bytes(path("bad.jsonl")), before)
    }

    /// `--random 4` with a log-uniform and an integer range: the draws depend on `--sweep-seed`
    /// alone and lie in their ranges.
    func testRandomDrawsFollowTheSweepSeed() throws {
        func draw(_ seed: Int, _ name: String) throws -> [[ParameterValue]] {
            let output = try MLPProcess.run(["sweep", "--train", data, "--validation-split", "0.25", "--random", "4", "--sweep-seed",
                                             "\(seed)", "--param", "learning-rate=log:1e-3..1e-1", "--param", "batch-size=int:8..32",
                                             "--results", path(name), "--epochs", "1", "--hidden", "4"])
            XCTAssertEqual(output.status, 0, output.stderr)
            return try records(path(name)).sorted { $0.trial < $1.trial }.map(\.parameters)
        }
        let first = try draw(3, "a.jsonl"), again = try draw(3, "b.jsonl"), other = try draw(4, "c.jsonl")
        XCTAssertEqual(first, again)
        XCTAssertNotEqual(first, other)
        for values in first + other {
            XCTAssertTrue((1e-3 ... 1e-1).contains(Double(values[0].value)!), "\(values)")
            XCTAssertTrue((8 ... 32).contains(Int(values[1].value)!), "\(values)")
        }
    }

    /// The folds against scikit-learn's own `StratifiedKFold` and `KFold` (shuffle=False), run
    /// in Python on the same file (skipped without scikit-learn).
    func testFoldsAreScikitLearns() throws {
        let python = try python(importing: ["numpy", "sklearn"], pipPackages: "numpy scikit-learn",
                                skipping: "the comparison of the folds with scikit-learn's")
        // Uneven classes in a shuffled order, as string labels.
        var generator = SplitMix64(seed: 11)
        var text = "x,label\n"
        for row in 0 ..< 97 {
            let label = ["owl", "cat", "ant", "bee"][min(3, Int(generator.next() % 7) / 2)]
            text += "\(row),\(label)\n"
        }
        try text.write(toFile: path("labels.csv"), atomically: true, encoding: .utf8)
        try writeRegressionCSV(URL(fileURLWithPath: path("values.csv")), rows: 101, seed: 4)
        for (k, loss) in [(4, "cross-entropy"), (5, "cross-entropy"), (3, "squared-error")] {
            let directory = path("folds-\(k)-\(loss)")
            let target = loss == "squared-error" ? ["--target", "y1,y2"] : []
            let sweep = try MLPProcess.run(["sweep", "--train", path(loss == "squared-error" ? "values.csv" : "labels.csv"),
                                            "--folds", "\(k)", "--loss", loss, "--results", directory + ".jsonl", "--sweep-dir", directory,
                                            "--epochs", "1", "--hidden", "2"] + target)
            XCTAssertEqual(sweep.status, 0, sweep.stderr)
            let script = loss == "squared-error"
                ? "from sklearn.model_selection import KFold; import numpy as np, json\n"
                + "print(json.dumps([t.tolist() for _, t in KFold(n_splits=\(k)).split(np.zeros(101))]))"
                : "from sklearn.model_selection import StratifiedKFold; import numpy as np, json, csv\n"
                + "y = [row['label'] for row in csv.DictReader(open('\(path("labels.csv"))'))]\n"
                + "print(json.dumps([t.tolist() for _, t in StratifiedKFold(n_splits=\(k)).split(np.zeros(len(y)), y)]))"
            let reference = try MLPProcess.launch(python, ["-c", script])
            XCTAssertEqual(reference.status, 0, reference.stderr)
            let expected = try JSONSerialization.jsonObject(with: Data(reference.stdout.utf8)) as? [[Int]]
            XCTAssertEqual(try folds(directory), expected, "K = \(k), \(loss)")
        }
    }
}
