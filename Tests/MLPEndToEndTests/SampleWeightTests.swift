import XCTest
import MLP
import TestSupport

/// `--sample-weight`, `--train-weights` and `--class-weight`: the objective Σ wᵢ Lᵢ / Σ wᵢ,
/// carried through the reduction, so it stays exact with uneven shards.
final class SampleWeightTests: ScratchFolderTestCase {
    /// 47 rows, integer weights 0…3 in column `w`, and the same data with each row repeated
    /// w times (weight-0 rows gone).
    func writeWeightedAndRepeated(classification: Bool) throws -> (weighted: String, repeated: String, repeatedRows: Int) {
        var generator = SplitMix64(seed: 21)
        var weighted = "x1,x2,x3,w,y\n", repeated = "x1,x2,x3,y\n", count = 0
        for row in 0 ..< 47 {
            let x = (0 ..< 3).map { _ in String(format: "%.6f", 2 * generator.nextUniform() - 1) }.joined(separator: ",")
            let y = classification ? ["a", "b", "c"][row % 3] : String(format: "%.6f", generator.nextUniform())
            let w = Int(generator.next() % 4)
            weighted += "\(x),\(w),\(y)\n"
            for _ in 0 ..< w { repeated += "\(x),\(y)\n"; count += 1 }
        }
        try weighted.write(toFile: path("weighted.csv"), atomically: true, encoding: .utf8)
        try repeated.write(toFile: path("repeated.csv"), atomically: true, encoding: .utf8)
        return (path("weighted.csv"), path("repeated.csv"), count)
    }

    func testIntegerWeightsGiveTheModelOfRepeatedRows() throws {
        for classification in [true, false] {
            let data = try writeWeightedAndRepeated(classification: classification)
            let common = ["--hidden", "6", "--epochs", "1", "--no-shuffle", "--precision", "float64", "--learning-rate", "0.3",
                          "--loss", classification ? "cross-entropy" : "squared-error"]
            let reference = try MLPProcess.run(["train", "--train", data.repeated, "--batch-size", "\(data.repeatedRows)",
                                                "--save", path("repeated.safetensors")] + common)
            XCTAssertEqual(reference.status, 0, reference.stderr)
            let repeated = try ModelFile.read(path: path("repeated.safetensors"))
            for ranks in [1, 3] {
                // One full-batch step.
                let output = try MLPProcess.run(ranks: ranks, ["train", "--train", data.weighted, "--sample-weight", "w", "--batch-size", "47",
                                                               "--save", path("weighted-\(ranks).safetensors")] + common)
                XCTAssertEqual(output.status, 0, output.stderr)
                let difference = maxRelativeDifference(try ModelFile.read(path: path("weighted-\(ranks).safetensors")), repeated, floor: 1e-6)
                print("integer weights, \(classification ? "classification" : "regression"), \(ranks) rank(s): "
                    + "max relative difference to repeated rows \(difference)")
                XCTAssertLessThanOrEqual(difference, 1e-12)
            }
        }
    }

    func testBalancedClassWeightsEqualTheSampleWeightsTheyImply() throws {
        let train = URL(fileURLWithPath: path("train.csv"))
        try writeClassificationCSV(train, rows: 157, seed: 3)
        let lines = try String(contentsOf: train, encoding: .utf8).split(separator: "\n").map(String.init)
        let labels = lines.dropFirst().map { String($0.split(separator: ",").last!) }
        let classes = Set(labels)
        var counts: [String: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        var explicit = "f1,f2,f3,f4,f5,w,label\n"
        for (line, label) in zip(lines.dropFirst(), labels) {
            let weight = Double(labels.count) / (Double(classes.count) * Double(counts[label]!))
            let fields = line.split(separator: ",")
            explicit += fields.dropLast().joined(separator: ",") + "," + String(format: "%.17g", weight) + ",\(label)\n"
        }
        try explicit.write(toFile: path("explicit.csv"), atomically: true, encoding: .utf8)
        for precision in ["float32", "float64"] {
            let common = ["--hidden", "8", "--epochs", "2", "--batch-size", "16", "--seed", "5", "--precision", precision]
            let balanced = try MLPProcess.run(["train", "--train", train.path, "--class-weight", "balanced",
                                               "--save", path("balanced.safetensors")] + common)
            XCTAssertEqual(balanced.status, 0, balanced.stderr)
            let given = try MLPProcess.mpirun(ranks: 2, ["train", "--train", path("explicit.csv"), "--sample-weight", "w",
                                                         "--save", path("explicit.safetensors"), "--reproducible"] + common)
            XCTAssertEqual(given.status, 0, given.stderr)
            let reproducible = try MLPProcess.run(["train", "--train", train.path, "--class-weight", "balanced", "--reproducible",
                                                   "--save", path("balanced-r.safetensors")] + common)
            XCTAssertEqual(reproducible.status, 0, reproducible.stderr)
            XCTAssertEqual(try ModelFile.read(path: path("balanced-r.safetensors")).parameters,
                           try ModelFile.read(path: path("explicit.safetensors")).parameters,
                           "\(precision): balanced class weights (one process) and the explicit weights (2 ranks), --reproducible")
            let plain = try ModelFile.read(path: path("balanced.safetensors"))
            XCTAssertLessThanOrEqual(maxRelativeDifference(plain, try ModelFile.read(path: path("explicit.safetensors")), floor: 1e-3),
                                     precision == "float64" ? 1e-12 : 1e-3)
        }
    }

    func testPredictAndEvaluateSkipTheWeightColumn() throws {
        let data = try writeWeightedAndRepeated(classification: true)
        let trained = try MLPProcess.run(["train", "--train", data.weighted, "--sample-weight", "w", "--hidden", "4", "--epochs", "2",
                                          "--save", path("model.safetensors")])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let predicted = try MLPProcess.run(["predict", "--model", path("model.safetensors"), "--input", data.weighted,
                                            "--output", path("predictions.csv")])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let evaluated = try MLPProcess.run(["evaluate", "--model", path("model.safetensors"), "--data", data.weighted, "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        XCTAssertTrue(evaluated.stdout.contains("\"rows\":47"), evaluated.stdout)
    }

    func testBadWeightsAreRefusedInOneLineNamingTheRow() throws {
        let base = "x,w,y\n0.1,1,a\n0.2,2,b\n"
        let cases: [(String, [String], String)] = [
            (base + "0.3,-1,a\n", ["--sample-weight", "w"], "bad.csv:4: sample weight -1.0 is negative"),
            (base + "0.3,nan,a\n", ["--sample-weight", "w"], "bad.csv:4: sample weight 'w' is not finite"),
            ("x,w,y\n0.1,0,a\n0.2,0,b\n", ["--sample-weight", "w"], "every training row's weight is 0"),
            (base, ["--sample-weight", "weight"], "--sample-weight weight: no such column"),
            (base, ["--sample-weight", "w", "--class-weight", "z:2"], "--class-weight z: no such class"),
            (base, ["--sample-weight", "w", "--class-weight", "a:-2"], "--class-weight takes balanced or LABEL:WEIGHT"),
        ]
        for (text, options, message) in cases {
            try text.write(toFile: path("bad.csv"), atomically: true, encoding: .utf8)
            let output = try MLPProcess.run(["train", "--train", path("bad.csv"), "--hidden", "2", "--epochs", "1"] + options)
            XCTAssertNotEqual(output.status, 0, "\(options)")
            XCTAssertTrue(output.stderr.contains(message), "\(options): \(output.stderr)")
            XCTAssertEqual(output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }.count, 1, output.stderr)
        }
    }
}
