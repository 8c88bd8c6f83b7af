import Foundation
import SwiftProtobuf
import XCTest
@testable import MLP
@testable import MLPONNX
import TestSupport

/// `mlp export` end to end: the real `mlp` trains, exports and predicts; the ONNX file is read
/// back with SwiftProtobuf (always), and checked and run by the reference tools, `onnx` and ONNX
/// Runtime, against `mlp predict` (skipped, with a message, without them).
final class ONNXExportTests: ScratchFolderTestCase {
    // MARK: The graph, read back (no Python)

    /// A standardized sigmoid classifier: Sub, Mul, then Gemm and Sigmoid per hidden layer, a
    /// last Gemm, Softmax; the weights exactly as stored; the names in metadata_props.
    func testClassifierGraphReadsBack() throws {
        try writeClassificationCSV(directory.appendingPathComponent("train.csv"), rows: 60, seed: 3)
        try train(["--train", path("train.csv"), "--hidden", "4,3", "--activation", "sigmoid", "--standardize",
                   "--epochs", "2", "--save", path("model.safetensors")])
        let export = try MLPProcess.run(["export", "--model", path("model.safetensors"), "--output", path("model.onnx")])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(export.stdout.contains("wrote \(path("model.onnx")) (ONNX opset 17, IR version 8"), export.stdout)

        let model = try readONNX(path("model.onnx"))
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.opsetImport.map { "\($0.domain):\($0.version)" }, [":17"])
        let graph = model.graph
        XCTAssertEqual(graph.node.map(\.opType), ["Sub", "Mul", "Gemm", "Sigmoid", "Gemm", "Sigmoid", "Gemm", "Softmax"])
        XCTAssertEqual(graph.input.map(\.name), ["input"])
        XCTAssertEqual(shape(graph.input[0]), ["batch", "5"])
        XCTAssertEqual(graph.output.map(\.name), ["logits", "probabilities"])
        XCTAssertEqual(graph.output.map(shape), [["batch", "3"], ["batch", "3"]])
        for node in graph.node where node.opType == "Gemm" {
            XCTAssertEqual(node.attribute.map { "\($0.name)=\($0.i)" }, ["transB=1"], node.name)
        }
        XCTAssertEqual(graph.node.last?.attribute.map { "\($0.name)=\($0.i)" }, ["axis=1"])
        XCTAssertEqual(graph.node.first?.input.first, "input", "the graph starts at the input")

        // The file's float32 tensors, bit for bit, and the standardization as mlp applies it.
        let file = try ModelFile.read(path: path("model.safetensors"))
        let stored = try SafeTensors.read(path: path("model.safetensors")).tensors
        let initializers = Dictionary(uniqueKeysWithValues: graph.initializer.map { ($0.name, $0) })
        for tensor in stored where tensor.name.hasPrefix("layers.") {
            let initializer = try XCTUnwrap(initializers[tensor.name], tensor.name)
            XCTAssertEqual(initializer.dims, tensor.shape.map(Int64.init), tensor.name)
            XCTAssertEqual(initializer.dataType, Int32(Onnx_TensorProto.DataType.float.rawValue))
            XCTAssertEqual(Array(initializer.rawData), tensor.bytes, "\(tensor.name): the stored bytes, unchanged")
        }
        let standardization = try XCTUnwrap(file.standardization)
        XCTAssertEqual(floats(try XCTUnwrap(initializers["standardization.mean"])), standardization.mean.map { Float($0) })
        XCTAssertEqual(floats(try XCTUnwrap(initializers["standardization.scale"])), standardization.standardDeviation.map { 1 / Float($0) })

        let metadata = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        XCTAssertEqual(metadata["class_names"], #"["cat","dog","emu"]"#)
        XCTAssertEqual(metadata["feature_names"], #"["f1","f2","f3","f4","f5"]"#)
        XCTAssertEqual(metadata["target_names"], #"["label"]"#)
        XCTAssertEqual(metadata["loss"], "cross-entropy")
        XCTAssertEqual(metadata["activation"], "sigmoid")
        XCTAssertEqual(metadata["source_precision"], "float32")
    }

    /// A float64 tanh regression without standardization: Gemm, Tanh, Gemm, only logits, the
    /// weights rounded to float32; the export is the same bytes every time.
    func testFloat64RegressionGraphReadsBack() throws {
        try writeRegressionCSV(directory.appendingPathComponent("train.csv"), rows: 50, seed: 5)
        try train(["--train", path("train.csv"), "--target", "y1,y2", "--loss", "squared-error", "--hidden", "6",
                   "--activation", "tanh", "--precision", "float64", "--epochs", "2", "--save", path("model.safetensors")])
        for name in ["a.onnx", "b.onnx"] {
            let export = try MLPProcess.run(["export", "--model", path("model.safetensors"), "--output", path(name)])
            XCTAssertEqual(export.status, 0, export.stderr)
            XCTAssertTrue(export.stdout.contains("float64 parameters rounded to float32"), export.stdout)
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path("a.onnx")), FileManager.default.contents(atPath: path("b.onnx")),
                       "the file depends on the model alone")

        let graph = try readONNX(path("a.onnx")).graph
        XCTAssertEqual(graph.node.map(\.opType), ["Gemm", "Tanh", "Gemm"])
        XCTAssertEqual(graph.output.map(\.name), ["logits"])
        XCTAssertEqual(graph.output.map(shape), [["batch", "2"]])
        XCTAssertEqual(shape(graph.input[0]), ["batch", "3"])
        let file = try ModelFile.read(path: path("model.safetensors"))
        XCTAssertEqual(file.precision, .float64)
        let exported = graph.initializer.flatMap { floats($0) }
        XCTAssertEqual(exported, file.parameters.map { Float($0) }, "θ in the spec's order, each rounded to float32")
        let metadata = Dictionary(uniqueKeysWithValues: try readONNX(path("a.onnx")).metadataProps.map { ($0.key, $0.value) })
        XCTAssertEqual(metadata["target_names"], #"["y1","y2"]"#)
        XCTAssertNil(metadata["class_names"])
        XCTAssertEqual(metadata["source_precision"], "float64")
    }

    // MARK: Refusals

    /// Bad models and paths: one `mlp: error:` line, exit 1 (64 for usage), nothing written.
    func testRefusals() throws {
        try writeClassificationCSV(directory.appendingPathComponent("train.csv"), rows: 30, seed: 1)
        try train(["--train", path("train.csv"), "--hidden", "3", "--epochs", "1", "--save", path("model.safetensors")])
        var metadata = ["format": "mlp", "activation": "swish", "loss": "cross-entropy", "layer_sizes": "[2,1]"]
        let weights = [SafeTensor(name: "layers.0.weight", shape: [1, 2], values: [1e300, 0.5] as [Double]),
                       SafeTensor(name: "layers.0.bias", shape: [1], values: [0] as [Double])]
        try SafeTensors.write(tensors: weights, metadata: metadata, to: path("swish.safetensors"))
        metadata["activation"] = "relu"; metadata["loss"] = "squared-error"
        try SafeTensors.write(tensors: weights, metadata: metadata, to: path("huge.safetensors"))
        let before = try FolderSnapshot(directory)

        let cases: [(arguments: [String], status: Int32, parts: [String])] = [
            (["--model", path("missing.safetensors"), "--output", path("m.onnx")], 1, ["missing.safetensors"]),
            (["--model", path("train.csv"), "--output", path("m.onnx")], 1, ["train.csv", "safetensors"]),
            (["--model", path("swish.safetensors"), "--output", path("m.onnx")], 1, ["unknown activation 'swish'"]),
            (["--model", path("huge.safetensors"), "--output", path("m.onnx")], 1, ["layers.0.weight holds 1e+300 at row 0, column 0", "float32"]),
            (["--model", path("model.safetensors"), "--output", path("model.safetensors")], 1, ["--output", "same file as --model"]),
            (["--model", path("model.safetensors"), "--output", path("no-such-dir/m.onnx")], 1, ["no-such-dir", "does not exist"]),
            (["--model", path("model.safetensors"), "--output", path("m.onnx"), "--loss", "squared-error"], 1,
             ["--loss squared-error disagrees"]),
            (["--model", path("model.safetensors")], 64, ["--output"]),
            (["--model", path("model.safetensors"), "--output", path("m.onnx"), "--activation", "swish"], 64, ["swish"]),
        ]
        for (arguments, status, parts) in cases {
            let output = try MLPProcess.run(["export"] + arguments)
            let line = assertRefused(output, status: status)
            for part in parts { XCTAssertTrue(line.contains(part), "\(arguments): '\(part)' not in: \(line)") }
        }
        let after = try FolderSnapshot(directory)
        XCTAssertEqual(after, before, "a refused export writes nothing: \(after.changes(since: before))")
    }

    func testHelp() throws {
        let output = try MLPProcess.run(["export", "--help"])
        XCTAssertEqual(output.status, 0)
        for text in ["--model", "--output", "--loss", "--activation", "ONNX", "opset 17", "probabilities", "float32"] {
            XCTAssertTrue(output.stdout.contains(text), "help lacks \(text):\n\(output.stdout)")
        }
    }

    // MARK: Against ONNX Runtime

    /// 784-128-10 ReLU trained one epoch on MNIST with --standardize, exported; the ONNX file passes
    /// `onnx.checker` (full check), and ONNX Runtime on the 10,000 test images predicts the classes
    /// `mlp predict` writes (rows whose top two logits lie within 1e-5 excepted and counted), with
    /// probabilities within 1e-5; its accuracy is the accuracy `mlp evaluate` reports.
    func testMNISTAgreesWithPredictUnderONNXRuntime() throws {
        let mnist = try mnistDirectory()
        let python = try onnxPython()
        try train(["--train", "mnist:\(mnist)", "--hidden", "128", "--epochs", "1", "--standardize", "--batch-size", "64",
                   "--learning-rate", "0.05", "--seed", "1", "--save", path("mnist.safetensors")])
        let export = try MLPProcess.run(["export", "--model", path("mnist.safetensors"), "--output", path("mnist.onnx")])
        XCTAssertEqual(export.status, 0, export.stderr)
        let written = try MLPProcess.launch(python, ["-c", Self.writeMNISTTestImages, mnist, path("t10k.csv"), path("t10k.npz")])
        XCTAssertEqual(written.status, 0, written.stderr)
        let predict = try MLPProcess.run(["predict", "--model", path("mnist.safetensors"), "--input", path("t10k.csv"),
                                          "--output", path("predictions.csv")])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        let evaluate = try MLPProcess.run(["evaluate", "--model", path("mnist.safetensors"), "--data", "mnist:\(mnist)", "--json"])
        XCTAssertEqual(evaluate.status, 0, evaluate.stderr)
        let evaluation = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any])
        let evaluateAccuracy = try XCTUnwrap(evaluation["accuracy"] as? Double)

        let result = try runPython(python, Self.compareClassifier, [path("mnist.onnx"), path("t10k.npz"), path("predictions.csv")])
        let rows = try XCTUnwrap(result["rows"] as? Int), excepted = try XCTUnwrap(result["excepted"] as? Int)
        let disagreeing = try XCTUnwrap(result["disagreeing"] as? Int)
        let probabilityDifference = try XCTUnwrap(result["max_probability_difference"] as? Double)
        let onnxAccuracy = try XCTUnwrap(result["onnx_accuracy"] as? Double)
        print("ONNXExportTests MNIST (onnx \(result["onnx_version"] ?? "?"), onnxruntime \(result["onnxruntime_version"] ?? "?")): "
              + "onnx.checker full_check passed; \(rows) rows compared with mlp predict, \(excepted) excepted "
              + "(top two logits within 1e-5, smallest gap \(result["smallest_logit_gap"] ?? "?")), \(disagreeing) disagreeing; "
              + "max |probability difference| \(probabilityDifference); accuracy: ONNX Runtime \(onnxAccuracy), "
              + "mlp evaluate \(evaluateAccuracy)")
        XCTAssertEqual(rows, 10_000)
        XCTAssertEqual(disagreeing, 0, "ONNX Runtime's class differs from mlp predict's on \(disagreeing) rows: \(result)")
        XCTAssertLessThanOrEqual(probabilityDifference, 1e-5)
        XCTAssertEqual(onnxAccuracy, evaluateAccuracy, accuracy: Double(excepted) / 10_000 + 1e-12)
        XCTAssertGreaterThan(evaluateAccuracy, 0.9, "one epoch of 784-128-10 reaches over 90%")
    }

    /// scikit-learn's diabetes data (442 rows, 10 raw features), a float64 tanh regression with
    /// --standardize, exported as float32: `onnx.checker` passes and ONNX Runtime's outputs equal
    /// `mlp predict`'s within 1e-4 relative.
    func testDiabetesRegressionAgreesWithPredictUnderONNXRuntime() throws {
        let python = try onnxPython(also: ["sklearn"], pipPackages: "scikit-learn")
        let written = try MLPProcess.launch(python, ["-c", Self.writeDiabetes, path("diabetes.csv")])
        XCTAssertEqual(written.status, 0, written.stderr)
        try train(["--train", path("diabetes.csv"), "--loss", "squared-error", "--standardize", "--precision", "float64",
                   "--hidden", "32,32", "--activation", "tanh", "--optimizer", "adam", "--learning-rate", "0.01",
                   "--epochs", "100", "--batch-size", "32", "--seed", "1", "--save", path("diabetes.safetensors")])
        let export = try MLPProcess.run(["export", "--model", path("diabetes.safetensors"), "--output", path("diabetes.onnx")])
        XCTAssertEqual(export.status, 0, export.stderr)
        let predict = try MLPProcess.run(["predict", "--model", path("diabetes.safetensors"), "--input", path("diabetes.csv"),
                                          "--output", path("predictions.csv")])
        XCTAssertEqual(predict.status, 0, predict.stderr)

        let result = try runPython(python, Self.compareRegression, [path("diabetes.onnx"), path("diabetes.csv"), path("predictions.csv")])
        let rows = try XCTUnwrap(result["rows"] as? Int)
        let relative = try XCTUnwrap(result["max_relative_difference"] as? Double)
        print("ONNXExportTests diabetes: onnx.checker full_check passed; \(rows) rows compared with mlp predict (float64 model, "
              + "exported as float32); max relative difference \(relative), max absolute \(result["max_absolute_difference"] ?? "?") "
              + "(outputs \(result["output_range"] ?? "?"))")
        XCTAssertEqual(rows, 442)
        XCTAssertLessThanOrEqual(relative, 1e-4)
    }

    // MARK: Helpers

    private func train(_ arguments: [String]) throws {
        let output = try MLPProcess.run(["train"] + arguments)
        XCTAssertEqual(output.status, 0, output.stderr)
        guard output.status == 0 else { throw ProcessError("mlp train failed: \(output.stderr)") }
    }

    private func readONNX(_ path: String) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try XCTUnwrap(FileManager.default.contents(atPath: path)))
    }

    /// A value's shape: dim_param names and dim_value numbers.
    private func shape(_ info: Onnx_ValueInfoProto) -> [String] {
        info.type.tensorType.shape.dim.map { dimension in
            switch dimension.value {
            case .dimParam(let name): return name
            case .dimValue(let size): return "\(size)"
            case nil: return "?"
            }
        }
    }

    /// A float32 initializer's values, from its little-endian raw_data.
    private func floats(_ tensor: Onnx_TensorProto) -> [Float] {
        let bytes = Array(tensor.rawData)
        return stride(from: 0, to: bytes.count, by: 4).map { offset in
            Float(bitPattern: bytes[offset ..< offset + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        }
    }

    private func onnxPython(also modules: [String] = [], pipPackages extra: String = "") throws -> String {
        try python(importing: ["numpy", "onnx", "onnxruntime"] + modules,
                   pipPackages: (["numpy onnx onnxruntime"] + (extra.isEmpty ? [] : [extra])).joined(separator: " "),
                   skipping: "the check of the exported ONNX model with onnx and ONNX Runtime")
    }

    /// Runs `script` with `arguments`; its last stdout line is a JSON object of what it measured.
    private func runPython(_ python: String, _ script: String, _ arguments: [String]) throws -> [String: Any] {
        let output = try MLPProcess.launch(python, ["-c", script] + arguments)
        guard output.status == 0, let line = output.stdout.split(separator: "\n").last,
              let result = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ProcessError("python failed (\(output.status)): \(output.stdout)\(output.stderr)")
        }
        return result
    }

    /// `python3 -c … MNIST_DIR OUT.csv OUT.npz`: the t10k images as mlp reads them (pixel / 255 in
    /// float32), as a CSV of pixel0…pixel783 and label, and the same float32 array and the labels
    /// as .npz.
    static let writeMNISTTestImages = #"""
        import gzip, sys, numpy as np
        directory, csv_path, npz_path = sys.argv[1:]
        with gzip.open(f"{directory}/t10k-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
        with gzip.open(f"{directory}/t10k-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        X = images.astype(np.float32) / np.float32(255)
        header = ",".join(f"pixel{j}" for j in range(784)) + ",label"
        # 9 significant digits: mlp's reading (a double, rounded to float32) gives back X exactly.
        np.savetxt(csv_path, np.column_stack([X.astype(np.float64), labels]), fmt="%.9g", delimiter=",", header=header, comments="")
        np.savez(npz_path, X=X, labels=labels)
        """#

    /// `python3 -c … MODEL.onnx IMAGES.npz PREDICTIONS.csv`: checks the model, runs it, compares
    /// with mlp predict's labels and probabilities; prints one JSON line.
    static let compareClassifier = #"""
        import csv, json, sys, numpy as np, onnx, onnxruntime as ort
        model_path, npz_path, predictions_path = sys.argv[1:]
        model = onnx.load(model_path)
        onnx.checker.check_model(model, full_check=True)
        classes = json.loads({p.key: p.value for p in model.metadata_props}["class_names"])
        data = np.load(npz_path)
        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        logits, probabilities = session.run(["logits", "probabilities"], {"input": data["X"]})
        with open(predictions_path) as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["label"] + [f"probability_{c}" for c in classes], rows[0]
        mlp_labels = [row[0] for row in rows[1:]]
        mlp_probabilities = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
        top_two = np.sort(logits, axis=1)[:, -2:]
        gaps = top_two[:, 1] - top_two[:, 0]
        excepted = gaps <= 1e-5
        onnx_labels = [classes[k] for k in logits.argmax(axis=1)]
        disagreeing = sum(1 for a, b, e in zip(onnx_labels, mlp_labels, excepted) if a != b and not e)
        print(json.dumps({
            "rows": len(mlp_labels), "excepted": int(excepted.sum()), "disagreeing": disagreeing,
            "smallest_logit_gap": float(gaps.min()),
            "max_probability_difference": float(np.abs(probabilities.astype(np.float64) - mlp_probabilities).max()),
            "onnx_accuracy": float(np.mean(logits.argmax(axis=1) == data["labels"])),
            "onnx_version": onnx.__version__, "onnxruntime_version": ort.__version__}))
        """#

    /// `python3 -c … OUT.csv`: scikit-learn's diabetes data, raw (not scaled), as a CSV with the
    /// target column `progression`; shortest round-trip digits.
    static let writeDiabetes = #"""
        import sys
        from sklearn.datasets import load_diabetes
        data = load_diabetes(scaled=False)
        with open(sys.argv[1], "w") as f:
            f.write(",".join(list(data.feature_names) + ["progression"]) + "\n")
            for row, target in zip(data.data, data.target):
                f.write(",".join(repr(float(v)) for v in list(row) + [target]) + "\n")
        """#

    /// `python3 -c … MODEL.onnx DATA.csv PREDICTIONS.csv`: checks the model, runs it on the CSV's
    /// features (in the model's feature order) and compares with mlp predict's outputs.
    static let compareRegression = #"""
        import csv, json, sys, numpy as np, onnx, onnxruntime as ort
        model_path, data_path, predictions_path = sys.argv[1:]
        model = onnx.load(model_path)
        onnx.checker.check_model(model, full_check=True)
        metadata = {p.key: p.value for p in model.metadata_props}
        features, targets = json.loads(metadata["feature_names"]), json.loads(metadata["target_names"])
        with open(data_path) as f:
            rows = list(csv.reader(f))
        columns = [rows[0].index(name) for name in features]
        X = np.array([[float(row[j]) for j in columns] for row in rows[1:]]).astype(np.float32)
        (outputs,) = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"]).run(["logits"], {"input": X})
        with open(predictions_path) as f:
            predicted = list(csv.reader(f))
        assert predicted[0] == targets, predicted[0]
        expected = np.array([[float(v) for v in row] for row in predicted[1:]])
        difference = np.abs(outputs.astype(np.float64) - expected)
        print(json.dumps({
            "rows": len(expected),
            "max_relative_difference": float((difference / np.maximum(np.abs(expected), 1)).max()),
            "max_absolute_difference": float(difference.max()),
            "output_range": [float(expected.min()), float(expected.max())]}))
        """#
}
