import XCTest
@testable import MLP
import TestSupport

/// The command line end to end: the real `mlp` binary, as a user runs it.
final class CommandLineTests: XCTestCase {
    /// Invalid options fail before any work with one line on stderr.
    func testInvalidOptionsFailWithOneLine() throws {
        let directory = try temporaryDirectory(self)
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 20, seed: 1)
        let cases: [([String], String)] = [
            (["--batch-size", "0"], "--batch-size"),
            (["--learning-rate", "-0.1"], "--learning-rate"),
            (["--learning-rate", "nan"], "--learning-rate"),
            (["--epochs", "0"], "--epochs"),
            (["--activation", "swish"], "swish"),
            (["--hidden", "64,x"], "--hidden"),
            (["--target", "nope"], "nope"),
            (["--save", "/nonexistent-dir/model.safetensors"], "/nonexistent-dir"),
        ]
        for (extra, expected) in cases {
            let output = try MLPProcess.run(["train", "--train", data.path] + extra)
            XCTAssertNotEqual(output.status, 0, "\(extra) should fail")
            let lines = output.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(extra): \(output.stderr)")
            XCTAssertTrue(output.stderr.hasPrefix("mlp: error:") && output.stderr.contains(expected), "\(extra): \(output.stderr)")
            XCTAssertFalse(output.stdout.contains("epoch"), "\(extra): no training may start")
        }
    }

    func testHelpListsTheOptions() throws {
        let output = try MLPProcess.run(["train", "--help"])
        XCTAssertEqual(output.status, 0)
        for option in ["--train", "--test", "--target", "--loss", "--hidden", "--activation", "--batch-size",
                       "--learning-rate", "--epochs", "--max-steps", "--seed", "--no-shuffle", "--precision",
                       "--init-from", "--save", "--metrics"] {
            XCTAssertTrue(output.stdout.contains(option), "help lacks \(option)")
        }
    }

    /// Classification on a small CSV reaches a stated loss, prints per-epoch lines and writes metrics.
    func testClassificationReachesStatedLoss() throws {
        let directory = try temporaryDirectory(self)
        let train = directory.appendingPathComponent("train.csv"), test = directory.appendingPathComponent("test.csv")
        try writeClassificationCSV(train, rows: 1000, seed: 1)
        try writeClassificationCSV(test, rows: 300, seed: 2)
        let metrics = directory.appendingPathComponent("metrics.jsonl")
        let output = try MLPProcess.run(["train", "--train", train.path, "--test", test.path, "--hidden", "32,32",
                                         "--batch-size", "32", "--learning-rate", "0.1", "--epochs", "30",
                                         "--metrics", metrics.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertEqual(output.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }.count, 30)
        let lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 30)
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        for key in ["epoch", "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "parameters_fingerprint", "seconds", "samples_per_second"] {
            XCTAssertNotNil(last[key], "metrics line lacks \(key)")
        }
        let first = try JSONSerialization.jsonObject(with: Data(lines.first!.utf8)) as! [String: Any]
        XCTAssertLessThan(last["train_loss"] as! Double, 0.25, "stated: train loss below 0.25 after 30 epochs")
        XCTAssertLessThan(last["train_loss"] as! Double, (first["train_loss"] as! Double) / 2)
        XCTAssertGreaterThan(last["test_accuracy"] as! Double, 0.83, "stated: test accuracy above 83% (a narrow middle class; 1000 rows)")
    }

    /// Regression with two target columns reaches a stated mean squared error (summed over outputs).
    func testRegressionReachesStatedLoss() throws {
        let directory = try temporaryDirectory(self)
        let train = directory.appendingPathComponent("train.csv")
        try writeRegressionCSV(train, rows: 800, seed: 4)
        let metrics = directory.appendingPathComponent("metrics.jsonl")
        let output = try MLPProcess.run(["train", "--train", train.path, "--target", "y1,y2", "--loss", "squared-error",
                                         "--hidden", "32", "--activation", "tanh", "--batch-size", "16",
                                         "--learning-rate", "0.05", "--epochs", "40", "--metrics", metrics.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        let lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        XCTAssertLessThan(last["train_loss"] as! Double, 0.02, "stated: J below 0.02 (targets have variance ≈ 0.6)")
        XCTAssertTrue(last["train_accuracy"] is NSNull, "no accuracy for regression")
    }

    /// A model file is written, read back with its metadata, and used with --init-from.
    func testCheckpointRoundTripAndInitFrom() throws {
        let directory = try temporaryDirectory(self)
        let train = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(train, rows: 200, seed: 1)
        let model = directory.appendingPathComponent("model.safetensors")
        let scratchMetrics = directory.appendingPathComponent("scratch.jsonl")
        var output = try MLPProcess.run(["train", "--train", train.path, "--hidden", "8", "--activation", "sigmoid",
                                         "--epochs", "3", "--precision", "float64", "--save", model.path,
                                         "--metrics", scratchMetrics.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        let saved = try ModelFile.read(path: model.path)
        XCTAssertEqual(saved.layerSizes, [5, 8, 3])
        XCTAssertEqual(saved.activation, .sigmoid)
        XCTAssertEqual(saved.loss, .crossEntropy)
        XCTAssertEqual(saved.classNames, ["cat", "dog", "emu"])
        XCTAssertEqual(saved.featureNames, ["f1", "f2", "f3", "f4", "f5"])
        XCTAssertEqual(saved.precision, .float64)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp") }
        XCTAssertEqual(leftovers, [], "no temporary file left beside the model")

        // Starting from it with a vanishing learning rate gives it back, architecture from the file.
        let again = directory.appendingPathComponent("again.safetensors")
        output = try MLPProcess.run(["train", "--train", train.path, "--init-from", model.path, "--learning-rate", "1e-300",
                                     "--epochs", "1", "--precision", "float64", "--save", again.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        let reloaded = try ModelFile.read(path: again.path)
        XCTAssertEqual(reloaded.layerSizes, saved.layerSizes)
        XCTAssertEqual(reloaded.activation, .sigmoid, "activation comes from the file's metadata")
        XCTAssertEqual(reloaded.parameters, saved.parameters)

        // Continuing from it goes on from where it was: its first epoch is better than the first from scratch.
        let metrics = directory.appendingPathComponent("m.jsonl")
        output = try MLPProcess.run(["train", "--train", train.path, "--init-from", model.path,
                                     "--epochs", "1", "--precision", "float64", "--metrics", metrics.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        func firstLoss(_ url: URL) throws -> Double {
            let line = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").first!
            return (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["train_loss"] as! Double
        }
        XCTAssertLessThan(try firstLoss(metrics), try firstLoss(scratchMetrics))

        // A disagreeing architecture or activation is refused with one line.
        output = try MLPProcess.run(["train", "--train", train.path, "--init-from", model.path, "--hidden", "16"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("--hidden 16 disagrees"), output.stderr)
        output = try MLPProcess.run(["train", "--train", train.path, "--init-from", model.path, "--activation", "relu"])
        XCTAssertTrue(output.stderr.contains("--activation relu disagrees"), output.stderr)
    }

    /// A safetensors file with only the layer tensors (as PyTorch or numpy would write it):
    /// the architecture comes from the shapes, the activation from the command line.
    func testInitFromForeignSafetensors() throws {
        let directory = try temporaryDirectory(self)
        let train = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(train, rows: 50, seed: 1)
        let foreign = directory.appendingPathComponent("foreign.safetensors")
        var tensors: [SafeTensor] = []
        for (i, (units, inputs)) in [(4, 5), (3, 4)].enumerated() {
            tensors.append(SafeTensor(name: "layers.\(i).weight", shape: [units, inputs], values: (0 ..< units * inputs).map { Float($0 % 7) * 0.01 }))
            tensors.append(SafeTensor(name: "layers.\(i).bias", shape: [units], values: [Float](repeating: 0.5, count: units)))
        }
        try SafeTensors.write(tensors: tensors, metadata: [:], to: foreign.path)
        let out = directory.appendingPathComponent("out.safetensors")
        var output = try MLPProcess.run(["train", "--train", train.path, "--init-from", foreign.path, "--activation", "tanh",
                                         "--epochs", "1", "--save", out.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        let model = try ModelFile.read(path: out.path)
        XCTAssertEqual(model.layerSizes, [5, 4, 3])
        XCTAssertEqual(model.activation, .tanh)

        // Shapes that do not fit the data: a clear error.
        let wrong = directory.appendingPathComponent("wrong.safetensors")
        try SafeTensors.write(tensors: [SafeTensor(name: "layers.0.weight", shape: [3, 7], values: [Float](repeating: 0, count: 21)),
                                        SafeTensor(name: "layers.0.bias", shape: [3], values: [Float](repeating: 0, count: 3))],
                              metadata: [:], to: wrong.path)
        output = try MLPProcess.run(["train", "--train", train.path, "--init-from", wrong.path])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("7 inputs") && output.stderr.contains("5 features"), output.stderr)
    }

    /// The model file reproduces its reported accuracy in numpy, read by `safetensors.numpy`.
    func testModelFileLoadsInPythonAndReproducesAccuracy() throws {
        let python = try pythonWithSafetensors()
        let directory = try temporaryDirectory(self)
        let train = directory.appendingPathComponent("train.csv"), test = directory.appendingPathComponent("test.csv")
        try writeClassificationCSV(train, rows: 400, seed: 1)
        try writeClassificationCSV(test, rows: 200, seed: 2)
        let model = directory.appendingPathComponent("model.safetensors"), metrics = directory.appendingPathComponent("m.jsonl")
        let output = try MLPProcess.run(["train", "--train", train.path, "--test", test.path, "--hidden", "16", "--epochs", "5",
                                         "--save", model.path, "--metrics", metrics.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        let reported = try JSONSerialization.jsonObject(with: Data(String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").last!.utf8)) as! [String: Any]
        let script = packageRoot.appendingPathComponent("Tests/python/forward.py").path
        let forward = try MLPProcess.launch(python, [script, model.path, test.path])
        XCTAssertEqual(forward.status, 0, forward.stderr)
        let numpy = try JSONSerialization.jsonObject(with: Data(forward.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(numpy["test_accuracy"] as! Double, reported["test_accuracy"] as! Double, accuracy: 1e-9)
        XCTAssertEqual(numpy["test_loss"] as! Double, reported["test_loss"] as! Double, accuracy: 1e-4)
    }

    /// Real data, when the team's copy of MNIST is beside the package: a short run learns.
    func testMNISTShortRun() throws {
        let mnist = try mnistDirectory()
        let metrics = try temporaryDirectory(self).appendingPathComponent("m.jsonl")
        let output = try MLPProcess.run(["train", "--train", "mnist:\(mnist)", "--test", "mnist:\(mnist)", "--hidden", "32",
                                         "--batch-size", "100", "--learning-rate", "0.1", "--max-steps", "300",
                                         "--metrics", metrics.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        let last = try JSONSerialization.jsonObject(with: Data(String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").last!.utf8)) as! [String: Any]
        XCTAssertGreaterThan(last["test_accuracy"] as! Double, 0.88, "300 steps of 100 MNIST images reach 88% test accuracy")
    }
}
