import XCTest
import MLP
import TestSupport

/// `--sharded-update` under real mpirun: each rank updates its slice of θ and keeps that slice's
/// optimizer state, and the result is the single allreduce's. A 5-64-48-3 network: θ has 3,648
/// values, four blocks of 1,024, so 2 ranks hold two blocks each and 3 ranks two, one and one.
final class ShardedUpdateEndToEndTests: ScratchFolderTestCase {
    static let network = ["--hidden", "64,48", "--activation", "tanh", "--seed", "4"]

    static let recipes: [(String, [String])] = [
        ("Adam, L2, cosine", ["--optimizer", "adam", "--learning-rate", "0.01", "--weight-decay", "1e-3", "--lr-schedule", "cosine"]),
        ("AdamW", ["--optimizer", "adamw", "--learning-rate", "0.01"]),
        ("SGD, Nesterov momentum, L2", ["--learning-rate", "0.05", "--momentum", "0.9", "--nesterov", "--weight-decay", "1e-4"]),
        ("plain SGD", ["--learning-rate", "0.1"]),
    ]

    /// On 2 ranks each element's sum has two terms, which add alike in any order: without
    /// clipping the sharded path's model, checkpoint (optimizer state gathered from the slices)
    /// and metrics are the single allreduce's, byte for byte. Batches of 7 rows: shards of 4
    /// and 3 rows, and a partial last batch.
    func testTwoRanksShardedIsByteIdenticalToOneAllreduce() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 300, seed: 1)
        for (index, (name, options)) in Self.recipes.enumerated() {
            for precision in ["float32", "float64"] {
                var files: [String: (model: Data, checkpoint: Data, metrics: String)] = [:]
                for mode in ["off", "on"] {
                    let tag = "\(index)-\(precision)-\(mode)"
                    let output = try MLPProcess.mpirun(ranks: 2, ["train", "--train", train, "--batch-size", "7", "--epochs", "2",
                                                                  "--precision", precision, "--sharded-update", mode,
                                                                  "--save", path("\(tag).safetensors"), "--checkpoint", path("\(tag).checkpoint"),
                                                                  "--metrics", path("\(tag).jsonl")] + Self.network + options)
                    XCTAssertEqual(output.status, 0, "\(name), \(precision), --sharded-update \(mode): \(output.stderr)")
                    files[mode] = (try Data(contentsOf: URL(fileURLWithPath: path("\(tag).safetensors"))),
                                   try Data(contentsOf: URL(fileURLWithPath: path("\(tag).checkpoint"))),
                                   ReproducibilityTests.numbers(try String(contentsOfFile: path("\(tag).jsonl"), encoding: .utf8)))
                }
                let label = "\(name), \(precision)"
                XCTAssertEqual(files["on"]?.model, files["off"]?.model, "\(label): the sharded update's model differs")
                XCTAssertEqual(files["on"]?.checkpoint, files["off"]?.checkpoint, "\(label): the sharded update's checkpoint differs")
                XCTAssertEqual(files["on"]?.metrics, files["off"]?.metrics, "\(label): the sharded update's metrics differ")
            }
        }
    }

    /// With `--reproducible` the sums are exact, so the sharded path gives one process's bytes at
    /// any rank count, clipping included (its norm adds the same blocks in the same order), and
    /// its checkpoint (state gathered from 3 slices) resumes on 2 ranks into the same model.
    func testReproducibleShardedMatchesOneProcessAndResumesOnFewerRanks() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 2)
        let common = ["train", "--train", train, "--batch-size", "50", "--epochs", "3", "--reproducible", "--chunk-rows", "8",
                      "--momentum", "0.9", "--learning-rate", "0.05", "--clip-grad-norm", "0.3"] + Self.network
        try assertExactOnAnyRanksAndResumedOnFewer(common, exchange: ["--sharded-update", "on"], named: "sharded")
    }

    /// `--sharded-update on` needs whole-buffer reductions: with `--allreduce overlap` it is refused in one line.
    func testShardedUpdateWithOverlapIsRefused() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 20, seed: 3)
        let output = try MLPProcess.run(["train", "--train", train, "--sharded-update", "on", "--allreduce", "overlap"])
        assertRefused(output, status: ExitStatus.usage, "--sharded-update on", "--allreduce overlap")
    }
}

extension ScratchFolderTestCase {
    /// `common`, a `--reproducible` run, with the `exchange` options on 2 and 3 ranks saves one
    /// process's model bytes, and a run stopped on 3 ranks at step 7 resumes on 2 into the same
    /// bytes: the exact sums travel `named`'s way unchanged.
    func assertExactOnAnyRanksAndResumedOnFewer(_ common: [String], exchange: [String], named name: String,
                                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try MLPProcess.run(common + ["--save", path("one.safetensors")])
        XCTAssertEqual(reference.status, 0, reference.stderr, file: file, line: line)
        let expected = try Data(contentsOf: URL(fileURLWithPath: path("one.safetensors")))
        for ranks in [2, 3] {
            let output = try MLPProcess.mpirun(ranks: ranks, common + exchange + ["--save", path("\(ranks).safetensors")])
            XCTAssertEqual(output.status, 0, output.stderr, file: file, line: line)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("\(ranks).safetensors"))), expected,
                           "\(ranks) ranks, \(name): the model's bytes differ from one process's", file: file, line: line)
        }
        let stopped = try MLPProcess.mpirun(ranks: 3, common + exchange + ["--max-steps", "7",
                                                                           "--checkpoint", path("stopped.checkpoint")])
        XCTAssertEqual(stopped.status, 0, stopped.stderr, file: file, line: line)
        let resumed = try MLPProcess.mpirun(ranks: 2, ["train", "--resume", path("stopped.checkpoint"), "--reproducible"]
                                                      + exchange + ["--save", path("resumed.safetensors")])
        XCTAssertEqual(resumed.status, 0, resumed.stderr, file: file, line: line)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed.safetensors"))), expected,
                       "stopped on 3 \(name) ranks at step 7, resumed on 2: not the uninterrupted model", file: file, line: line)
    }
}
