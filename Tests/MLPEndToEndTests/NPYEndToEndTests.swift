import Foundation
import XCTest
@testable import MLP
import TestSupport

/// `.npy` data (memory-mapped features, labels, names beside them) and `mlp convert`: the same
/// values train the same model as from a CSV, bit for bit; under mpirun they match one process.
final class NPYEndToEndTests: XCTestCase {
    func writeNPY(_ url: URL, _ values: [Double], type: NPYHeader.ElementType, shape: [Int]) throws {
        try Data(npyBytes(values, type, shape: shape)).write(to: url)
    }

    /// The same table as a CSV (17 significant digits: exact doubles) and as an `.npy` pair.
    func writeTable(_ directory: URL, rows: Int, seed: UInt64, featureType: NPYHeader.ElementType = .float64) throws -> (csv: URL, features: URL, labels: URL) {
        var generator = SplitMix64(seed: seed)
        var text = "x0,x1,x2,x3,label\n", features: [Double] = [], labels: [Double] = []
        for _ in 0 ..< rows {
            var x = (0 ..< 4).map { _ in 2 * generator.nextUniform() - 1 }
            if featureType == .float32 { x = x.map { Double(Float($0)) } }
            let label = x[0] * x[1] > 0 ? 0 : (x[2] > 0.3 ? 2 : 1)
            text += x.map { String(format: "%.17g", $0) }.joined(separator: ",") + ",\(label)\n"
            features += x
            labels.append(Double(label))
        }
        let csv = directory.appendingPathComponent("table.csv")
        let X = directory.appendingPathComponent("table.X.npy"), y = directory.appendingPathComponent("table.y.npy")
        try text.write(to: csv, atomically: true, encoding: .utf8)
        try writeNPY(X, features, type: featureType, shape: [rows, 4])
        try writeNPY(y, labels, type: .int64, shape: [rows])
        return (csv, X, y)
    }

    func train(_ data: [String], _ save: URL, _ extra: [String] = [], ranks: Int = 1) throws {
        let arguments = ["train"] + data + ["--hidden", "6", "--activation", "tanh", "--batch-size", "16", "--epochs", "2",
                                            "--learning-rate", "0.1", "--seed", "5", "--save", save.path] + extra
        let output = try MLPProcess.run(ranks: ranks, arguments)
        XCTAssertEqual(output.status, 0, output.stderr)
    }

    /// The features through the map equal the CSV's, and so does the trained model, byte for
    /// byte: plain, standardized (statistics streamed) and with a validation split.
    func testNPYTrainsTheSameModelAsTheCSV() throws {
        let directory = try temporaryDirectory(self)
        let table = try writeTable(directory, rows: 203, seed: 9)
        let fromCSV: Dataset<Double> = try DataSource(table.csv.path).load(role: .train, targetColumns: nil, kind: .classes(classNames: nil), seed: 0)
        let fromNPY: Dataset<Double> = try DataSource(table.features.path, labels: table.labels.path).load(role: .train, targetColumns: nil, kind: .classes(classNames: nil), seed: 0)
        XCTAssertNotNil(fromNPY.mappedFeatures)
        XCTAssertTrue(fromNPY.features.isEmpty)
        var gathered = [Double](repeating: 0, count: 203 * 4)
        gathered.withUnsafeMutableBufferPointer { fromNPY.copyFeatures(count: 203, into: $0.baseAddress!) { $0 } }
        XCTAssertEqual(gathered, fromCSV.features)
        XCTAssertEqual(fromNPY.labels, fromCSV.labels)
        XCTAssertEqual(fromNPY.classNames, ["0", "1", "2"])
        XCTAssertEqual(Standardization(of: fromNPY), Standardization(of: fromCSV))

        for (name, extra) in [("plain", []), ("standardized", ["--standardize"]), ("validation", ["--validation-split", "0.2"])] {
            for precision in ["float64", "float32"] {
                let a = directory.appendingPathComponent("csv-\(name)-\(precision).safetensors")
                let b = directory.appendingPathComponent("npy-\(name)-\(precision).safetensors")
                try train(["--train", table.csv.path], a, extra + ["--precision", precision])
                try train(["--train", table.features.path, "--train-labels", table.labels.path], b, extra + ["--precision", precision])
                XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), "\(name) \(precision): model files differ")
            }
        }
    }

    /// Float32 features train in float64 (converted per row) like the same values from a CSV.
    func testFloat32FileTrainsInFloat64() throws {
        let directory = try temporaryDirectory(self)
        let table = try writeTable(directory, rows: 150, seed: 4, featureType: .float32)
        let a = directory.appendingPathComponent("csv.safetensors"), b = directory.appendingPathComponent("npy.safetensors")
        try train(["--train", table.csv.path], a, ["--precision", "float64"])
        try train(["--train", table.features.path, "--train-labels", table.labels.path], b, ["--precision", "float64"])
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
    }

    /// Under mpirun each rank maps the file and gathers its shard: the model equals one
    /// process's (float64, ≤ 1e-12 relative), and a checkpoint resumes with the labels path.
    func testNPYUnderMPIMatchesOneProcessAndResumes() throws {
        let directory = try temporaryDirectory(self)
        let table = try writeTable(directory, rows: 300, seed: 2)
        let data = ["--train", table.features.path, "--train-labels", table.labels.path, "--test", table.features.path,
                    "--test-labels", table.labels.path, "--precision", "float64"]
        let single = directory.appendingPathComponent("single.safetensors")
        try train(data, single)
        for ranks in [2, 3] {
            let parallel = directory.appendingPathComponent("p\(ranks).safetensors")
            try train(data, parallel, ranks: ranks)
            let difference = maxRelativeDifference(try ModelFile.read(path: parallel.path), try ModelFile.read(path: single.path), floor: 1e-6)
            XCTAssertLessThanOrEqual(difference, 1e-12, "\(ranks) ranks")
        }
        let checkpoint = directory.appendingPathComponent("checkpoint.safetensors")
        let resumed = directory.appendingPathComponent("resumed.safetensors")
        try train(data, directory.appendingPathComponent("first.safetensors"), ["--epochs", "1", "--checkpoint", checkpoint.path])
        XCTAssertEqual(try ModelFile.read(path: checkpoint.path).extraMetadata["checkpoint.train_labels"], table.labels.path)
        let output = try MLPProcess.run(["train", "--resume", checkpoint.path, "--epochs", "2", "--save", resumed.path])
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertEqual(try ModelFile.read(path: resumed.path).parameters, try ModelFile.read(path: single.path).parameters)
    }

    /// `mlp convert` streams a CSV to the pair: string labels sorted and numbered with their
    /// names in y.json, test data numbered by --classes-from, regression targets; the pair trains
    /// the same model as the CSV and evaluates with --labels.
    func testConvertThenTrainAndEvaluate() throws {
        let directory = try temporaryDirectory(self)
        let csv = directory.appendingPathComponent("animals.csv"), testCSV = directory.appendingPathComponent("test.csv")
        try writeClassificationCSV(csv, rows: 240, seed: 3)
        try "f1,f2,f3,f4,f5,label\n0.1,0.2,0.3,0.4,0.5,emu\n-0.5,0.5,0.25,0,1,dog\n".write(to: testCSV, atomically: true, encoding: .utf8)
        let prefix = directory.appendingPathComponent("animals").path, testPrefix = directory.appendingPathComponent("test").path
        var output = try MLPProcess.run(["convert", "--input", csv.path, "--output", prefix, "--dtype", "float64"])
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertTrue(output.stdout.contains("240 × 5 float64"), output.stdout)
        let names = try NPYDataset.Sidecar(reading: prefix + ".y.json")
        XCTAssertEqual(names, NPYDataset.Sidecar(featureNames: ["f1", "f2", "f3", "f4", "f5"], classNames: ["cat", "dog", "emu"], targetNames: ["label"]))
        output = try MLPProcess.run(["convert", "--input", testCSV.path, "--output", testPrefix, "--dtype", "float64", "--classes-from", prefix + ".y.json"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let test: Dataset<Double> = try DataSource(testPrefix + ".X.npy", labels: testPrefix + ".y.npy").load(role: .test, targetColumns: nil, kind: .classes(classNames: ["cat", "dog", "emu"]), seed: 0)
        XCTAssertEqual(test.labels, [2, 1])

        let a = directory.appendingPathComponent("csv.safetensors"), b = directory.appendingPathComponent("npy.safetensors")
        try train(["--train", csv.path, "--precision", "float64"], a)
        try train(["--train", prefix + ".X.npy", "--train-labels", prefix + ".y.npy", "--precision", "float64"], b)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
        let fromCSV = try MLPProcess.run(["evaluate", "--model", b.path, "--data", csv.path, "--json"])
        let fromNPY = try MLPProcess.run(["evaluate", "--model", b.path, "--data", prefix + ".X.npy", "--labels", prefix + ".y.npy", "--json"])
        XCTAssertEqual(fromNPY.status, 0, fromNPY.stderr)
        XCTAssertEqual(fromCSV.stdout, fromNPY.stdout)

        // Regression: two float targets, (rows, 2).
        let regression = directory.appendingPathComponent("regression.csv")
        try writeRegressionCSV(regression, rows: 50, seed: 1)
        let regressionPrefix = directory.appendingPathComponent("regression").path
        output = try MLPProcess.run(["convert", "--input", regression.path, "--output", regressionPrefix, "--target", "y1,y2", "--loss", "squared-error"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let values: Dataset<Float> = try DataSource(regressionPrefix + ".X.npy", labels: regressionPrefix + ".y.npy").load(role: .train, targetColumns: nil, kind: .values, seed: 0)
        let reference: Dataset<Float> = try CSVReader.read(path: regression.path, targetColumns: ["y1", "y2"], kind: .values)
        XCTAssertEqual(values.targetNames, ["y1", "y2"])
        XCTAssertEqual(values.featureNames, ["a", "b", "c"])
        XCTAssertEqual(values.targetValues, reference.targetValues)
    }

    func testBadNPYInputFailsWithOneLine() throws {
        let directory = try temporaryDirectory(self)
        let table = try writeTable(directory, rows: 20, seed: 1)
        let short = directory.appendingPathComponent("short.npy"), floats = directory.appendingPathComponent("floats.npy")
        let bytes = directory.appendingPathComponent("bytes.npy")
        try writeNPY(short, Array(repeating: 0, count: 19), type: .int64, shape: [19])
        try writeNPY(floats, Array(repeating: 0.5, count: 20), type: .float64, shape: [20])
        try writeNPY(bytes, Array(repeating: 1, count: 80), type: .uint8, shape: [20, 4])
        let truncated = directory.appendingPathComponent("truncated.npy")
        try Data(try Data(contentsOf: table.features).prefix(300)).write(to: truncated)
        let cases: [([String], String)] = [
            (["--train", table.features.path], "need their labels: add --train-labels"),
            (["--train", table.csv.path, "--train-labels", table.labels.path], "applies to .npy features only"),
            (["--train", table.features.path, "--train-labels", short.path], "19 rows but"),
            (["--train", table.features.path, "--train-labels", floats.path], "needs integer class indices"),
            (["--train", bytes.path, "--train-labels", table.labels.path], "must be float32 or float64"),
            (["--train", truncated.path, "--train-labels", table.labels.path], "truncated"),
            (["--train", table.features.path, "--train-labels", table.labels.path, "--target", "x1"], "--target does not apply"),
        ]
        for (arguments, expected) in cases {
            let output = try MLPProcess.run(["train"] + arguments + ["--epochs", "1"])
            XCTAssertNotEqual(output.status, 0, arguments.joined(separator: " "))
            let lines = output.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, output.stderr)
            XCTAssertTrue(output.stderr.contains(expected), "\(arguments): \(output.stderr)")
        }
        let csv = directory.appendingPathComponent("bad.csv")
        try "a,label\n1,x\n2\n".write(to: csv, atomically: true, encoding: .utf8)
        let output = try MLPProcess.run(["convert", "--input", csv.path, "--output", directory.appendingPathComponent("bad").path])
        XCTAssertEqual(output.status, 1)
        XCTAssertTrue(output.stderr.contains("bad.csv:3: expected 2 fields, got 1"), output.stderr)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("bad.") && $0 != "bad.csv" }
        XCTAssertEqual(left, [], "a failed conversion leaves no files")
    }
}
