import XCTest
import MLP
import TestSupport

/// `--dropout`: masks keyed on (seed, step, row, layer, unit), so the rank count changes only
/// the summation order (and nothing under `--reproducible`), and a resume draws the masks an
/// uninterrupted run draws.
final class DropoutTests: ScratchFolderTestCase {
    static let recipe = ["--hidden", "12,8", "--activation", "tanh", "--batch-size", "20", "--epochs", "3", "--seed", "4",
                         "--dropout", "0.3,0.1", "--learning-rate", "0.1", "--momentum", "0.9"]

    func testRankCountChangesOnlyTheSummationOrder() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 150, seed: 1)
        var reference: ModelFile?
        for ranks in [1, 3] {
            let model = path("model-\(ranks).safetensors")
            let output = try MLPProcess.run(ranks: ranks, ["train", "--train", train, "--precision", "float64", "--save", model] + Self.recipe)
            XCTAssertEqual(output.status, 0, output.stderr)
            let saved = try ModelFile.read(path: model)
            guard let reference else { reference = saved; continue }
            let difference = maxRelativeDifference(saved, reference, floor: 1e-6)
            print("dropout, float64, \(ranks) ranks against one process: max relative difference \(difference)")
            XCTAssertLessThanOrEqual(difference, 1e-12)
        }
        // Dropout changes the model: the same recipe without it trains another one.
        let withoutDropout = Self.recipe.filter { $0 != "--dropout" && $0 != "0.3,0.1" }
        let plain = try MLPProcess.run(["train", "--train", train, "--precision", "float64", "--save", path("plain.safetensors")]
                                       + withoutDropout)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertGreaterThan(maxRelativeDifference(try ModelFile.read(path: path("plain.safetensors")), reference!, floor: 1e-6), 1e-3)
    }

    func testReproducibleDropoutIsIdenticalOnAnyRankCountAndOnResume() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 150, seed: 1)
        let recipe = ["train", "--train", train, "--reproducible", "--chunk-rows", "4"] + Self.recipe
        XCTAssertEqual(try MLPProcess.run(recipe + ["--save", path("one.safetensors")]).status, 0)
        let three = try MLPProcess.mpirun(ranks: 3, recipe + ["--save", path("three.safetensors")])
        XCTAssertEqual(three.status, 0, three.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("three.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("one.safetensors"))))
        // Stopped mid-epoch on 2 ranks, resumed by one process: the same masks, the same model.
        let first = try MLPProcess.mpirun(ranks: 2, recipe + ["--max-steps", "11", "--checkpoint", path("run.ckpt")])
        XCTAssertEqual(first.status, 0, first.stderr)
        let resumed = try MLPProcess.run(["train", "--resume", path("run.ckpt"), "--train", train, "--save", path("resumed.safetensors")])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("one.safetensors"))))
        // Resuming must not change the rates.
        let changed = try MLPProcess.run(["train", "--resume", path("run.ckpt"), "--train", train, "--dropout", "0.5"])
        XCTAssertEqual(changed.status, ExitStatus.badInput, changed.stderr)
        XCTAssertTrue(changed.stderr.contains("--dropout 0.5") && changed.stderr.contains("differs from the checkpoint"), changed.stderr)
    }

    func testBadRatesAreRefusedInOneLine() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 30, seed: 1)
        for (rates, message) in [("1", "--dropout must be from 0 up to (not including) 1 (got 1.0)"),
                                 ("0.1,0.2,0.3", "--dropout gives 3 rates for 2 hidden layers"),
                                 ("half", "--dropout takes rates like 0.2 or 0.2,0.1 (got half)")] {
            let output = try MLPProcess.run(["train", "--train", train, "--hidden", "4,4", "--dropout", rates])
            XCTAssertNotEqual(output.status, 0, rates)
            XCTAssertTrue(output.stderr.contains(message), "\(rates): \(output.stderr)")
            XCTAssertEqual(output.stderr.split(separator: "\n").filter { $0.contains("error") }.count, 1, output.stderr)
        }
    }
}
