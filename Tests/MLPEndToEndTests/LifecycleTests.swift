import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import MLP
import TestSupport

/// Checkpoints, exact resume, evaluate, predict and plot: the model's life after `train`.
final class LifecycleTests: ScratchFolderTestCase {
    var data: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 300, seed: 1)
    }

    /// `mlp train` on this test's data, on `ranks` ranks (1: the fallback, no mpirun).
    @discardableResult
    func train(ranks: Int = 1, _ arguments: [String], environment: [String: String] = [:]) throws -> MLPProcess.Output {
        let output = try MLPProcess.run(ranks: ranks, ["train"] + arguments, environment: environment)
        XCTAssertEqual(output.status, 0, "train \(arguments) on \(ranks) ranks: \(output.stderr)")
        return output
    }

    func common(_ precision: Precision = .float32) -> [String] {
        ["--train", data.path, "--hidden", "12,8", "--batch-size", "32", "--learning-rate", "0.1", "--seed", "5",
         "--precision", precision.rawValue]
    }

    func bytes(_ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }

    /// A 4-epoch run stopped after epoch 2, or mid-epoch at a checkpoint step, and resumed gives a
    /// byte-identical model file at the same rank count (1 and 2 ranks).
    func testResumeIsByteIdenticalAtTheSameRankCount() throws {
        for ranks in [1, 2] {
            try train(ranks: ranks, common() + ["--epochs", "4", "--save", path("full-\(ranks)")])
            // Stopped at the end of epoch 2.
            try train(ranks: ranks, common() + ["--epochs", "2", "--checkpoint", path("epoch-\(ranks)")])
            try train(ranks: ranks, ["--resume", path("epoch-\(ranks)"), "--epochs", "4", "--save", path("resumed-\(ranks)")])
            XCTAssertEqual(try bytes("resumed-\(ranks)"), try bytes("full-\(ranks)"), "\(ranks) ranks, resumed after epoch 2")
            // Stopped mid-epoch 2 (10 steps per epoch: step 13), from a --checkpoint-every checkpoint.
            try train(ranks: ranks, common() + ["--epochs", "4", "--max-steps", "13", "--checkpoint", path("mid-\(ranks)"),
                                                "--checkpoint-every", "4"])
            let checkpoint = try Checkpoint.read(path: path("mid-\(ranks)"))
            XCTAssertEqual(checkpoint.position.epoch, 2)
            XCTAssertEqual(checkpoint.position.batchInEpoch, 3)
            try train(ranks: ranks, ["--resume", path("mid-\(ranks)"), "--epochs", "4", "--save", path("resumed-mid-\(ranks)")])
            XCTAssertEqual(try bytes("resumed-mid-\(ranks)"), try bytes("full-\(ranks)"), "\(ranks) ranks, resumed mid-epoch")
        }
        XCTAssertNotEqual(try ModelFile.read(path: path("full-1")).parameters, try ModelFile.read(path: path("epoch-1")).parameters,
                          "the resumed runs did train further")
    }

    /// Resume stays byte-identical with each optimizer's state (momentum buffer, Adam moments,
    /// step count), a schedule, clipping, and early stopping's record, on 1 and 2 ranks.
    func testResumeIsByteIdenticalWithEachOptimizer() throws {
        // Each recipe with the state tensors its checkpoint must hold.
        let recipes: [([String], [String])] = [
            (["--optimizer", "sgd", "--momentum", "0.9", "--nesterov", "--weight-decay", "1e-3", "--lr-schedule", "step", "--step-size", "2"],
             ["optimizer.momentum_buffer"]),
            (["--optimizer", "adam", "--learning-rate", "0.01", "--lr-schedule", "cosine", "--warmup-steps", "5", "--clip-grad-norm", "1"],
             ["optimizer.exp_avg", "optimizer.exp_avg_sq"]),
            (["--optimizer", "adamw", "--learning-rate", "0.01", "--validation-split", "0.2", "--early-stopping", "2"],
             ["optimizer.exp_avg", "optimizer.exp_avg_sq", "early_stopping.best_parameters"]),
        ]
        for (index, (recipe, state)) in recipes.enumerated() {
            for ranks in [1, 2] {
                let name = "\(index)-\(ranks)"
                let base = ["--train", data.path, "--hidden", "12", "--batch-size", "32", "--seed", "5"] + recipe
                try train(ranks: ranks, base + ["--epochs", "4", "--save", path("full-\(name)")])
                // Interrupted for real (not by --max-steps, which would shorten the cosine schedule):
                // killed while writing its second checkpoint, the first (step 3, mid-epoch) survives.
                let interrupted = base + ["--epochs", "4", "--checkpoint", path("c-\(name)"), "--checkpoint-every", "3"]
                let environment = ["MLP_TEST_KILL_BEFORE_RENAME": path("c-\(name)")]
                let killed = try MLPProcess.run(ranks: ranks, ["train"] + interrupted, executable: "mlp-faults", environment: environment)
                XCTAssertNotEqual(killed.status, 0)
                let checkpoint = try Checkpoint.read(path: path("c-\(name)"))
                XCTAssertEqual(checkpoint.position.step, 3)
                XCTAssertEqual(checkpoint.model.extraTensors.map(\.name), state, "\(recipe): the optimizer state is in the checkpoint")
                try train(ranks: ranks, ["--resume", path("c-\(name)"), "--epochs", "4", "--save", path("resumed-\(name)")])
                XCTAssertEqual(try bytes("resumed-\(name)"), try bytes("full-\(name)"), "\(recipe) on \(ranks) ranks")
            }
        }
        // A given optimizer option must agree with the checkpoint's.
        let output = try MLPProcess.run(["train", "--resume", path("c-1-1"), "--epochs", "4", "--optimizer", "sgd"])
        XCTAssertTrue(output.stderr.contains("--optimizer sgd differs from the checkpoint"), output.stderr)
    }

    /// Stopped on one rank count and resumed on another (float64): the same model within 1e-12.
    func testResumeAtAnotherRankCount() throws {
        try train(ranks: 1, common(.float64) + ["--epochs", "4", "--save", path("reference")])
        let reference = try ModelFile.read(path: path("reference"))
        for (first, second) in [(2, 3), (3, 1)] {
            try train(ranks: first, common(.float64) + ["--epochs", "4", "--max-steps", "17", "--checkpoint", path("c-\(first)")])
            try train(ranks: second, ["--resume", path("c-\(first)"), "--save", path("r-\(first)-\(second)"), "--epochs", "4"])
            let difference = maxRelativeDifference(try ModelFile.read(path: path("r-\(first)-\(second)")), reference, floor: 1e-6)
            XCTAssertLessThanOrEqual(difference, 1e-12, "\(first) ranks, then \(second)")
            print("resume \(first) → \(second) ranks: max relative difference \(difference) against 1 rank uninterrupted")
        }
    }

    func testResumeRefusesChangesThatWouldSilentlyChangeTheRun() throws {
        try train(common() + ["--epochs", "1", "--checkpoint", path("c")])
        let other = directory.appendingPathComponent("other.csv")
        try writeClassificationCSV(other, rows: 300, seed: 9)
        for (arguments, expected) in [(["--batch-size", "16"], "--batch-size 16 differs"), (["--seed", "6"], "--seed 6 differs"),
                                      (["--hidden", "4"], "--hidden 4 disagrees"), (["--loss", "squared-error"], "--loss squared-error"),
                                      (["--train", other.path], "--train"), (["--precision", "float64"], "--precision float64")] {
            let output = try MLPProcess.run(["train", "--resume", path("c"), "--epochs", "2"] + arguments)
            XCTAssertNotEqual(output.status, 0, "\(arguments)")
            XCTAssertTrue(output.stderr.contains(expected), "\(arguments): \(output.stderr)")
        }
        // The same file with changed content is refused too.
        let copied = directory.appendingPathComponent("train-copy.csv")
        try writeClassificationCSV(copied, rows: 300, seed: 2)
        try FileManager.default.removeItem(at: data)
        try FileManager.default.copyItem(at: copied, to: data)
        let output = try MLPProcess.run(["train", "--resume", path("c"), "--epochs", "2"])
        XCTAssertTrue(output.stderr.contains("is not the data"), output.stderr)
        // The learning rate and the number of epochs may change.
        try FileManager.default.removeItem(at: data)
        try writeClassificationCSV(data, rows: 300, seed: 1)
        try train(["--resume", path("c"), "--epochs", "3", "--learning-rate", "0.01"])
    }

    /// Killed between writing the new checkpoint and renaming it into place: the previous one
    /// is intact and resuming from it finishes with the uninterrupted run's model.
    func testKillWhileWritingACheckpointLeavesThePreviousOne() throws {
        try train(common() + ["--epochs", "3", "--save", path("full")])
        let checkpoint = path("c")
        let output = try MLPProcess.run(["train"] + common() + ["--epochs", "3", "--checkpoint", checkpoint, "--checkpoint-every", "4"],
                                        executable: "mlp-faults", environment: ["MLP_TEST_KILL_BEFORE_RENAME": checkpoint])
        XCTAssertEqual(output.status, SIGKILL, "the hook kills the process at its second checkpoint write")
        let survivor = try Checkpoint.read(path: checkpoint)
        XCTAssertEqual(survivor.position.step, 4, "the first checkpoint, written before the kill")
        try train(["--resume", checkpoint, "--epochs", "3", "--save", path("resumed")])
        XCTAssertEqual(try bytes("resumed"), try bytes("full"))
    }

    /// SIGKILL at pseudo-random instants while checkpointing every step: a checkpoint is always
    /// left, and it loads. Each trial waits for the first checkpoint, then kills the run 0–300 ms
    /// later (a seeded draw), so the kill lands anywhere in the write–rename cycle while what is
    /// checked holds for every trial, whatever the instant.
    func testKillAtRandomMomentsLeavesALoadableCheckpoint() throws {
        let big = directory.appendingPathComponent("big.csv")
        try writeClassificationCSV(big, rows: 3000, seed: 3)
        var generator = SplitMix64(seed: 42)
        for trial in 0 ..< 20 {
            let checkpoint = path("random-\(trial)")
            let run = try MLPProcess.start(["train", "--train", big.path, "--hidden", "64,64", "--batch-size", "8", "--epochs", "50",
                                            "--checkpoint", checkpoint, "--checkpoint-every", "1"])
            try run.waitForFile(checkpoint)
            usleep(useconds_t(generator.next() % 300_000))
            run.signal(SIGKILL)
            XCTAssertEqual(run.wait().reason, .uncaughtSignal, "trial \(trial) ended before the kill: make it longer")
            XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint), "trial \(trial): no checkpoint left")
            XCTAssertNoThrow(try Checkpoint.read(path: checkpoint), "trial \(trial): torn checkpoint")
        }
    }

    /// `predict` labels give the accuracy `evaluate` reports; columns are matched by name;
    /// `--standardize` statistics travel in the model file.
    func testPredictRoundTripsWithEvaluate() throws {
        let test = directory.appendingPathComponent("test.csv")
        try writeClassificationCSV(test, rows: 200, seed: 2)
        try train(common() + ["--epochs", "5", "--standardize", "--save", path("model")])
        XCTAssertNotNil(try ModelFile.read(path: path("model")).standardization)

        let evaluation = try MLPProcess.run(["evaluate", "--model", path("model"), "--data", test.path, "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as! [String: Any]
        let accuracy = report["accuracy"] as! Double
        XCTAssertEqual((report["confusion_matrix"] as! [[Int]]).joined().reduce(0, +), 200)

        // Columns in another order, label column included (ignored): matched by name.
        let lines = try String(contentsOf: test, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        let shuffled = lines.map { [$0[5], $0[3], $0[0], $0[4], $0[2], $0[1]].joined(separator: ",") }.joined(separator: "\n") + "\n"
        let input = directory.appendingPathComponent("input.csv")
        try shuffled.write(to: input, atomically: true, encoding: .utf8)
        let prediction = try MLPProcess.run(["predict", "--model", path("model"), "--input", input.path, "--output", path("p.csv")])
        XCTAssertEqual(prediction.status, 0, prediction.stderr)
        let rows = try String(contentsOfFile: path("p.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, "label,probability_cat,probability_dog,probability_emu")
        XCTAssertEqual(rows.count, 201)
        var correct = 0
        for (row, truth) in zip(rows.dropFirst(), lines.dropFirst()) {
            let fields = row.split(separator: ",")
            if String(fields[0]) == truth[5] { correct += 1 }
            XCTAssertEqual(fields.dropFirst().compactMap { Double($0) }.reduce(0, +), 1, accuracy: 1e-9, "probabilities sum to 1")
        }
        XCTAssertEqual(Double(correct) / 200, accuracy, "predict's labels give evaluate's accuracy")

        // Data-parallel evaluate gives the same numbers.
        let parallel = try MLPProcess.mpirun(ranks: 3, ["evaluate", "--model", path("model"), "--data", test.path, "--json"])
        let parallelReport = try JSONSerialization.jsonObject(with: Data(parallel.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(parallelReport["confusion_matrix"] as! [[Int]], report["confusion_matrix"] as! [[Int]])
        XCTAssertEqual(parallelReport["loss"] as! Double, report["loss"] as! Double, accuracy: 1e-9)

        // A missing or unknown column is a clear error.
        let missing = lines.map { $0[0 ..< 4].joined(separator: ",") }.joined(separator: "\n")
        try missing.write(to: input, atomically: true, encoding: .utf8)
        let refused = try MLPProcess.run(["predict", "--model", path("model"), "--input", input.path, "--output", path("q.csv")])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("missing column f5"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("q.csv")))
    }

    /// Regression metrics against values computed here from `predict`'s outputs.
    func testRegressionEvaluateMatchesPredictions() throws {
        let train = directory.appendingPathComponent("reg.csv")
        try writeRegressionCSV(train, rows: 300, seed: 4)
        try self.train(["--train", train.path, "--target", "y1,y2", "--loss", "squared-error", "--hidden", "16", "--epochs", "5",
                        "--precision", "float64", "--save", path("reg")])
        let evaluation = try MLPProcess.run(["evaluate", "--model", path("reg"), "--data", train.path, "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(report["targets"] as! [String], ["y1", "y2"])
        let prediction = try MLPProcess.run(["predict", "--model", path("reg"), "--input", train.path, "--output", path("reg-predictions.csv")])
        XCTAssertEqual(prediction.status, 0, prediction.stderr)
        let predicted = try String(contentsOfFile: path("reg-predictions.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",").map { Double($0)! } }
        let truth = try String(contentsOf: train, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",").suffix(2).map { Double($0)! } }
        for k in 0 ..< 2 {
            let errors = zip(predicted, truth).map { $1[k] - $0[k] }
            let mse = errors.map { $0 * $0 }.reduce(0, +) / 300, mae = errors.map(abs).reduce(0, +) / 300
            let mean = truth.map { $0[k] }.reduce(0, +) / 300
            let r2 = 1 - mse * 300 / truth.map { ($0[k] - mean) * ($0[k] - mean) }.reduce(0, +)
            XCTAssertEqual((report["mse"] as! [Double])[k], mse, accuracy: 1e-9 * max(mse, 1))
            XCTAssertEqual((report["mae"] as! [Double])[k], mae, accuracy: 1e-9)
            XCTAssertEqual((report["r2"] as! [Double])[k], r2, accuracy: 1e-9)
        }
        XCTAssertEqual(report["loss"] as! Double, (report["mse"] as! [Double]).reduce(0, +), accuracy: 1e-9,
                       "J sums the squared errors over targets")
    }

    /// `evaluate` on MNIST's test set equals an independent numpy forward pass of the same file.
    func testEvaluateOnMNISTMatchesNumpy() throws {
        let mnist = try mnistDirectory()
        let python = try pythonWithSafetensors()
        try train(["--train", "mnist:\(mnist)", "--hidden", "32", "--batch-size", "100", "--max-steps", "100", "--save", path("mnist")])
        let evaluation = try MLPProcess.mpirun(ranks: 2, ["evaluate", "--model", path("mnist"), "--data", "mnist:\(mnist)", "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        let ours = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as! [String: Any]
        let script = packageRoot.appendingPathComponent("Tests/python/forward.py").path
        let forward = try MLPProcess.launch(python, [script, path("mnist"), "mnist:\(mnist)"])
        let numpy = try JSONSerialization.jsonObject(with: Data(forward.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(ours["rows"] as! Int, 10000)
        XCTAssertEqual(ours["accuracy"] as! Double, numpy["test_accuracy"] as! Double, accuracy: 2e-4, "at most 2 of 10,000 ties differ")
        XCTAssertEqual(ours["loss"] as! Double, numpy["test_loss"] as! Double, accuracy: 1e-5)
    }

    func testPlotDrawsTheCurves() throws {
        let test = directory.appendingPathComponent("test.csv")
        try writeClassificationCSV(test, rows: 100, seed: 2)
        let output = try train(common() + ["--test", test.path, "--epochs", "4", "--metrics", path("m.jsonl")])
        XCTAssertFalse(output.stdout.contains("\u{1B}") || output.stdout.contains("\r"), "no control characters when not on a terminal")
        let plot = try MLPProcess.run(["plot", "--metrics", path("m.jsonl"), "--output", path("curves.svg")])
        XCTAssertEqual(plot.status, 0, plot.stderr)
        let svg = try String(contentsOfFile: path("curves.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 4, "train and test, loss and accuracy")
        for label in ["epoch", "loss", "accuracy (%)", ">train<", ">test<"] { XCTAssertTrue(svg.contains(label), "lacks \(label)") }
        let parser = XMLParser(data: Data(svg.utf8))
        XCTAssertTrue(parser.parse(), "well-formed XML: \(String(describing: parser.parserError))")
    }

    /// Losses at the ends of Double's range, tiny ones and equal ones: the plot ends (it looped for
    /// ever at ±1.7e308) with well-formed SVG whose every coordinate is a number.
    func testPlotOfExtremeValuesEnds() throws {
        for (first, second) in [("1.7e308", "-1.7e308"), ("1.7e308", "1.7e308"), ("5e-324", "0"), ("-1e300", "1e-300")] {
            let metrics = path("extreme.jsonl"), svg = path("extreme.svg")
            try Data("{\"epoch\":1,\"step\":1,\"train_loss\":\(first),\"train_accuracy\":\(first)}\n{\"epoch\":2,\"step\":2,\"train_loss\":\(second)}\n".utf8)
                .write(to: URL(fileURLWithPath: metrics))
            let plot = try MLPProcess.run(["plot", "--metrics", metrics, "--output", svg], timeLimit: 60)
            XCTAssertEqual(plot.status, 0, "\(first), \(second): \(plot.stderr)")
            let text = try String(contentsOfFile: svg, encoding: .utf8)
            XCTAssertFalse(text.contains("nan") || text.contains("inf"), "\(first), \(second): a coordinate is not a number")
            XCTAssertTrue(XMLParser(data: Data(text.utf8)).parse(), "\(first), \(second): not well-formed")
        }
    }
}
