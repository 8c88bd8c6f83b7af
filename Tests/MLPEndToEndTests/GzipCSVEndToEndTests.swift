import Foundation
import XCTest
@testable import MLP
import TestSupport

/// Gzipped CSV through the real `mlp`: `--train`, `--test`, `evaluate --data`, `predict
/// --input` and `convert` give the same bytes from `x.csv.gz` (or a `.csv` holding gzip) as
/// from `x.csv`, as one process and under mpirun; a corrupted stream is one error line naming
/// the file, status 1, nothing written.
final class GzipCSVEndToEndTests: ScratchFolderTestCase {
    /// A liveness limit: every run here takes a second or two; only a hang reaches it.
    static let timeLimit: Double = 60

    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeClassificationCSV(directory.appendingPathComponent("c.csv"), rows: 400, seed: 11)
        try writeRegressionCSV(directory.appendingPathComponent("r.csv"), rows: 300, seed: 12)
        for name in ["c", "r"] {
            let packed = gzip(try [UInt8](Data(contentsOf: directory.appendingPathComponent(name + ".csv"))))
            try Data(packed).write(to: directory.appendingPathComponent(name + ".csv.gz"))
            try Data(packed).write(to: directory.appendingPathComponent(name + "-gzip.csv"))   // gzip under a .csv name
        }
    }

    func run(_ arguments: [String], ranks: Int = 1, file: StaticString = #filePath, line: UInt = #line) throws -> MLPProcess.Output {
        let output = try MLPProcess.run(ranks: ranks, arguments, environment: ["MLP_PROGRESS": "0"], timeLimit: Self.timeLimit)
        XCTAssertFalse(output.timedOut, "hung: \(arguments)", file: file, line: line)
        XCTAssertEqual(output.status, 0, "\(arguments): \(output.stderr)", file: file, line: line)
        return output
    }

    func contents(_ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }

    /// `train --train x.csv.gz --test x.csv.gz` saves the model `--train x.csv` saves, byte for
    /// byte, for classification and regression, as one process and on 2 ranks.
    func testTrainingOnGzipSavesTheSameModel() throws {
        let recipes: [(data: String, extra: [String])] = [
            ("c", ["--standardize", "--validation-split", "0.2"]),
            ("r", ["--loss", "squared-error", "--target", "y1,y2"]),
        ]
        for recipe in recipes {
            for ranks in [1, 2] {
                var models: [Data] = []
                for suffix in [".csv", ".csv.gz", "-gzip.csv"] {
                    let save = "\(recipe.data)\(suffix)-\(ranks).safetensors"
                    _ = try run(["train", "--train", path(recipe.data + suffix), "--test", path(recipe.data + suffix),
                                 "--hidden", "6", "--batch-size", "16", "--epochs", "2", "--seed", "3", "--save", path(save)] + recipe.extra,
                                ranks: ranks)
                    models.append(try contents(save))
                }
                XCTAssertEqual(models[1], models[0], "\(recipe.data).csv.gz on \(ranks) rank(s): another model than from the text")
                XCTAssertEqual(models[2], models[0], "\(recipe.data)-gzip.csv on \(ranks) rank(s): another model than from the text")
            }
        }
    }

    /// `evaluate --data`, `predict --input` and `convert` read gzip and give the same output.
    func testEvaluatePredictAndConvertReadGzip() throws {
        _ = try run(["train", "--train", path("c.csv"), "--hidden", "6", "--epochs", "2", "--seed", "3", "--save", path("m.safetensors")])
        var evaluations: [String] = []
        for input in ["c.csv", "c.csv.gz", "c-gzip.csv"] {
            evaluations.append(try run(["evaluate", "--model", path("m.safetensors"), "--data", path(input), "--json"]).stdout)
            _ = try run(["predict", "--model", path("m.safetensors"), "--input", path(input), "--output", path(input + ".predictions")])
            _ = try run(["convert", "--input", path(input), "--output", path(input + ".converted")])
        }
        XCTAssertTrue(evaluations[0].contains("\"rows\""), evaluations[0])
        XCTAssertEqual(evaluations[1], evaluations[0])
        XCTAssertEqual(evaluations[2], evaluations[0])
        XCTAssertEqual(try run(["evaluate", "--model", path("m.safetensors"), "--data", path("c.csv.gz"), "--json"], ranks: 2).stdout,
                       evaluations[0])
        for suffix in [".predictions", ".converted.X.npy", ".converted.y.npy", ".converted.y.json"] {
            let text = try contents("c.csv" + suffix)
            XCTAssertGreaterThan(text.count, 100, suffix)
            XCTAssertEqual(try contents("c.csv.gz" + suffix), text, "c.csv.gz\(suffix)")
            XCTAssertEqual(try contents("c-gzip.csv" + suffix), text, "c-gzip.csv\(suffix)")
        }
        // Regression targets convert alike.
        for input in ["r.csv", "r.csv.gz"] {
            _ = try run(["convert", "--input", path(input), "--output", path(input + ".converted"), "--loss", "squared-error",
                         "--target", "y1,y2", "--dtype", "float64"])
        }
        XCTAssertEqual(try contents("r.csv.gz.converted.X.npy"), try contents("r.csv.converted.X.npy"))
        XCTAssertEqual(try contents("r.csv.gz.converted.y.npy"), try contents("r.csv.converted.y.npy"))
    }

    /// A flipped byte in the middle, a truncated file, a wrong CRC-32: one line naming the file,
    /// status 1, nothing written, for every command that reads CSV and on 2 ranks.
    func testCorruptedGzipIsOneLineNamingTheFile() throws {
        _ = try run(["train", "--train", path("c.csv"), "--hidden", "6", "--epochs", "1", "--save", path("m.safetensors")])
        let good = [UInt8](try contents("c.csv.gz"))
        var flipped = good
        flipped[good.count / 2] ^= 0xFF
        var badCRC = good
        badCRC[good.count - 8] ^= 0x01
        let variants: [(name: String, bytes: [UInt8], reason: String)] = [
            ("flipped.csv.gz", flipped, ""),
            ("truncated.csv.gz", Array(good.prefix(good.count * 2 / 3)), "unexpected end of file: the file is truncated"),
            ("crc.csv.gz", badCRC, "incorrect data check"),
        ]
        for variant in variants {
            try Data(variant.bytes).write(to: directory.appendingPathComponent(variant.name))
            let file = path(variant.name)
            let commands: [(arguments: [String], ranks: Int)] = [
                (["train", "--train", file, "--hidden", "6", "--epochs", "1", "--save", path("new.safetensors")], 1),
                (["train", "--train", file, "--hidden", "6", "--epochs", "1", "--save", path("new.safetensors")], 2),
                (["train", "--train", path("c.csv"), "--test", file, "--hidden", "6", "--epochs", "1", "--save", path("new.safetensors")], 1),
                (["evaluate", "--model", path("m.safetensors"), "--data", file], 1),
                (["evaluate", "--model", path("m.safetensors"), "--data", file], 2),
                (["predict", "--model", path("m.safetensors"), "--input", file, "--output", path("p.csv")], 1),
                (["convert", "--input", file, "--output", path("out")], 1),
            ]
            for command in commands {
                let before = try FolderSnapshot(directory)
                let output = try MLPProcess.run(ranks: command.ranks, command.arguments, environment: MLPProcess.refusalEnvironment,
                                                timeLimit: Self.timeLimit)
                let message = assertRefused(output, status: ExitStatus.badInput, "\(file): corrupted gzip stream (\(variant.reason)")
                XCTAssertEqual(try FolderSnapshot(directory), before, "\(command.arguments): the folder changed")
                print("[\(String(format: "%.2f", output.seconds)) s, \(command.ranks) rank(s)] \(message)")
            }
        }
    }
}
