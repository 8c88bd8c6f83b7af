import XCTest
@testable import MLP
import TestSupport

/// Sums that overflow or underflow at the edges of a precision's range: sample weights (the
/// objective Σ wᵢLᵢ / Σ wᵢ does not depend on their scale) and `--standardize`'s statistics are
/// scaled by a power of two where they would, and only there.
final class ExtremeValueTests: ScratchFolderTestCase {
    /// A 60-row CSV `a,b,w,label` whose every weight is `weight`.
    func writeWeighted(_ name: String, weight: String) throws -> String {
        var generator = SplitMix64(seed: 4)
        var text = "a,b,w,label\n"
        for _ in 0 ..< 60 {
            let a = 2 * generator.nextUniform() - 1, b = 2 * generator.nextUniform() - 1
            text += "\(a),\(b),\(weight),\(a + b > 0 ? 1 : 0)\n"
        }
        let file = path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    func train(_ data: String, precision: String, save: String, _ extra: [String] = []) throws -> MLPProcess.Output {
        try MLPProcess.run(["train", "--train", data, "--sample-weight", "w", "--precision", precision, "--hidden", "4",
                            "--epochs", "2", "--batch-size", "20", "--seed", "1", "--save", save] + extra)
    }

    /// Every weight 1e38 or 1e-40 (float32), 1e308 or 4.9e-324 (float64), also times a class
    /// weight, trains and saves a model that loads (Σ wᵢ overflowed or underflowed: exit 3 before);
    /// weights that are powers of two train the bytes of weights 1.
    func testExtremeWeightsTrainAsTheirScaleDoesNotMatter() throws {
        for (precision, weights) in [("float32", ["1e38", "1e-40"]), ("float64", ["1e308", "4.9e-324"])] {
            for weight in weights {
                let data = try writeWeighted("w-\(weight).csv", weight: weight), save = path("w-\(precision)-\(weight).st")
                for extra in [[], ["--class-weight", "0:10"]] {
                    let output = try train(data, precision: precision, save: save, extra)
                    XCTAssertEqual(output.status, 0, "\(precision), every weight \(weight) \(extra): \(output.stderr)")
                    XCTAssertNoThrow(try ModelFile.read(path: save))
                }
            }
        }
        for (precision, powers) in [("float32", ["0x1p-140", "0x1p100"]), ("float64", ["0x1p-1070", "0x1p1020"])] {
            let reference = path("one-\(precision).st")
            XCTAssertEqual(try train(try writeWeighted("one.csv", weight: "1"), precision: precision, save: reference).status, 0)
            for power in powers {
                let weight = "\(Double(power)!)", save = path("p-\(precision)-\(power).st")
                let output = try train(try writeWeighted("p-\(power).csv", weight: weight), precision: precision, save: save)
                XCTAssertEqual(output.status, 0, output.stderr)
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: save)), try Data(contentsOf: URL(fileURLWithPath: reference)),
                               "\(precision), every weight \(weight): not the model of weights 1")
            }
        }
    }

    /// A float64 feature around 1e160 and one around 1e-200: `--standardize`'s standard
    /// deviations are finite and right (their squares overflowed or underflowed: inf, and the
    /// feature was zero in training), and `evaluate` takes the model.
    func testStandardizationOfHugeAndTinyFeatures() throws {
        var generator = SplitMix64(seed: 2)
        var text = "a,b,label\n", values: [(Double, Double)] = []
        for _ in 0 ..< 80 {
            let a = (2 * generator.nextUniform() - 1) * 1e160, b = (2 * generator.nextUniform() - 1) * 1e-200
            values.append((a, b))
            text += "\(a),\(b),\(a > 0 ? 1 : 0)\n"
        }
        let data = path("huge.csv"), save = path("huge.st")
        try Data(text.utf8).write(to: URL(fileURLWithPath: data))
        let output = try MLPProcess.run(["train", "--train", data, "--standardize", "--precision", "float64", "--hidden", "4",
                                         "--epochs", "3", "--save", save])
        XCTAssertEqual(output.status, 0, output.stderr)
        let statistics = try XCTUnwrap(try ModelFile.read(path: save).standardization)
        for (j, (column, unit)) in [(values.map(\.0), 1e160), (values.map(\.1), 1e-200)].enumerated() {
            let mean = column.map { $0 / 80 }.reduce(0, +)
            let deviation = (column.map { ($0 - mean) / unit * (($0 - mean) / unit) }.reduce(0, +) / 80).squareRoot() * unit
            XCTAssertTrue(statistics.standardDeviation[j].isFinite, "column \(j)")
            XCTAssertEqual(statistics.standardDeviation[j] / deviation, 1, accuracy: 1e-12, "column \(j)")
            XCTAssertEqual(statistics.mean[j] / (abs(mean) > 0 ? mean : 1), 1, accuracy: 1e-9, "column \(j)")
        }
        let evaluated = try MLPProcess.run(["evaluate", "--model", save, "--data", data])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
    }

    /// `--chunk-rows` beyond the batch is one chunk of the batch: memory bounded by the batch and
    /// the data evaluated (2³¹ − 1 rows allocated 34 GB and crashed), the bits of `--chunk-rows`
    /// equal to the batch; `evaluate` likewise.
    func testChunkRowsBeyondTheBatchAreTheBatch() throws {
        let data = path("d.csv")
        try writeClassificationCSV(URL(fileURLWithPath: data), rows: 203, seed: 3)
        let recipe = ["train", "--train", data, "--test", data, "--hidden", "8", "--batch-size", "16", "--epochs", "1", "--reproducible"]
        for rows in ["16", "2147483647"] {
            let output = try MLPProcess.run(recipe + ["--chunk-rows", rows, "--save", path("c\(rows).st")])
            XCTAssertEqual(output.status, 0, "--chunk-rows \(rows): \(output.stderr)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("c2147483647.st"))), try Data(contentsOf: URL(fileURLWithPath: path("c16.st"))))
        let evaluated = try MLPProcess.run(["evaluate", "--model", path("c16.st"), "--data", data, "--reproducible", "--chunk-rows", "2147483647"])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
    }

    /// Found by `mlp-cases` (seed 7, cases 316 and 985): a momentum so large that μ·v overflows
    /// float32 made θ infinite in an update whose g was finite; the epoch's checkpoint was written
    /// with it ("the last checkpoint is intact", yet it did not load). Now the run stops (exit 3)
    /// before any checkpoint or model holds a non-finite θ, on 1 and 2 ranks.
    func testOverflowingUpdateStopsBeforeACheckpointHoldsIt() throws {
        let data = path("data.csv")
        try Data("a,b,label\n0.1,0.2,0\n0.3,-0.1,1\n-0.2,0.5,0\n0.7,0.1,1\n-0.4,-0.3,0\n0.2,0.9,1\n0.6,-0.6,0\n-0.1,0.4,1\n".utf8)
            .write(to: URL(fileURLWithPath: data))
        for ranks in [nil, 2] {
            let checkpoint = path("c-\(ranks ?? 1).st"), save = path("m-\(ranks ?? 1).st")
            let arguments = ["train", "--train", data, "--hidden", "4", "--batch-size", "4", "--epochs", "2", "--momentum", "1e39",
                             "--checkpoint", checkpoint, "--save", save]
            let output = try ranks.map { try MLPProcess.mpirun(ranks: $0, arguments) } ?? MLPProcess.run(arguments)
            let line = assertRefused(output, status: ExitStatus.diverged)
            XCTAssertTrue(line.contains("not finite"), line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: save), "no model with a non-finite θ")
            if FileManager.default.fileExists(atPath: checkpoint) {
                XCTAssertNoThrow(try Checkpoint.read(path: checkpoint), "the checkpoint the line calls intact loads")
            } else {
                XCTAssertTrue(line.contains("no checkpoint was written"), line)
            }
        }
    }
}
