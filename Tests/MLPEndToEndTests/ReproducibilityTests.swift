import XCTest
import MLP
import TestSupport

/// `--reproducible`: the saved model's bytes and the metrics' numbers are the same for one
/// process and any `mpirun -n P`, any OpenBLAS thread count, both precisions, each optimizer,
/// and a resume at another rank count. Real `mpirun`, tiny data, few steps; the full matrix
/// (P = 1…5, every recipe, more epochs) is `Tests/long/reproducibility.sh`.
final class ReproducibilityTests: ScratchFolderTestCase {
    /// 203 rows in batches of 50: 4 full batches and a partial one of 3 rows; chunks of 8 rows,
    /// so a full batch is 7 chunks (the last of 2 rows), shared 4/3 by 2 ranks, 3/2/2 by 3 and
    /// 2/2/1/1/1 by 5, and the partial batch is one chunk that leaves the other ranks without rows.
    /// θ (1,955 values) is two blocks of the sharded update (Adam's default).
    static let data = ["--hidden", "48,32", "--batch-size", "50", "--epochs", "3", "--seed", "5",
                       "--reproducible", "--chunk-rows", "8"]

    static let recipes: [(String, [String])] = [
        ("plain SGD", ["--learning-rate", "0.2"]),
        ("SGD, Nesterov momentum, weight decay", ["--learning-rate", "0.05", "--momentum", "0.9", "--nesterov",
                                                  "--weight-decay", "1e-3"]),
        ("Adam, cosine with warm-up, clipping, validation, early stopping",
         ["--optimizer", "adam", "--learning-rate", "0.01", "--lr-schedule", "cosine", "--warmup-steps", "3",
          "--clip-grad-norm", "0.5", "--validation-split", "0.2", "--early-stopping", "2"]),
    ]

    /// What differs between two runs of the same recipe: the time. Everything else must match.
    static func numbers(_ metrics: String) -> String {
        metrics.replacingOccurrences(of: #","seconds":[^,}]*"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #","samples_per_second":[^,}]*"#, with: "", options: .regularExpression)
    }

    func testModelBytesDoNotDependOnRanksOrThreads() throws {
        let train = path("train.csv"), test = path("test.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 1)
        try writeClassificationCSV(URL(fileURLWithPath: test), rows: 61, seed: 2)
        // (ranks, OpenBLAS threads per rank); nil ranks: one process without mpirun.
        let layouts: [(Int?, Int)] = [(nil, 1), (2, 1), (3, 2), (5, 1)]
        for (index, (name, options)) in Self.recipes.enumerated() {
            for precision in ["float32", "float64"] {
                var reference: (model: Data, metrics: String)?
                for (ranks, threads) in layouts {
                    let tag = "\(index)-\(precision)-\(ranks ?? 0)"
                    let arguments = ["train", "--train", train, "--test", test, "--precision", precision,
                                     "--save", path("\(tag).safetensors"), "--metrics", path("\(tag).jsonl")] + Self.data + options
                    let environment = ["OPENBLAS_NUM_THREADS": "\(threads)"]
                    let output = try ranks.map { try MLPProcess.mpirun(ranks: $0, arguments, environment: environment) }
                        ?? MLPProcess.run(arguments, environment: environment)
                    let layout = "\(name), \(precision), \(ranks.map { "\($0) ranks" } ?? "one process") × \(threads) threads"
                    XCTAssertEqual(output.status, 0, "\(layout): \(output.stderr)")
                    let model = try Data(contentsOf: URL(fileURLWithPath: path("\(tag).safetensors")))
                    let metrics = Self.numbers(try String(contentsOfFile: path("\(tag).jsonl"), encoding: .utf8))
                    XCTAssertTrue(metrics.contains("\"parameters_fingerprint\":\""), layout)
                    guard let reference else { reference = (model, metrics); continue }
                    XCTAssertEqual(model, reference.model, "\(layout): the model's bytes differ from one process's")
                    XCTAssertEqual(metrics, reference.metrics, "\(layout): the metrics differ from one process's")
                }
            }
        }
    }

    func testResumeOnFewerRanksContinuesTheSameRun() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 1)
        let recipe = ["train", "--train", train] + Self.data + Self.recipes[1].1
        let whole = try MLPProcess.run(recipe + ["--save", path("whole.safetensors"), "--metrics", path("whole.jsonl")])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        // Stopped at step 7 (epoch 2, batch 2) on 3 ranks, continued on 2.
        let first = try MLPProcess.mpirun(ranks: 3, recipe + ["--max-steps", "7", "--checkpoint", path("run.ckpt"),
                                                              "--metrics", path("resumed.jsonl")])
        XCTAssertEqual(first.status, 0, first.stderr)
        let second = try MLPProcess.mpirun(ranks: 2, ["train", "--resume", path("run.ckpt"), "--train", train,
                                                      "--save", path("resumed.safetensors"), "--metrics", path("resumed.jsonl")])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("whole.safetensors"))),
                       "3 ranks, then a resume on 2, must give the uninterrupted model's bytes")
        // The first run's report of its partial epoch 2 (at step 7) stays; every epoch's line matches.
        let resumed = Self.numbers(try String(contentsOfFile: path("resumed.jsonl"), encoding: .utf8))
            .split(separator: "\n").filter { !$0.contains("\"step\":7,") }
        XCTAssertEqual(resumed, Self.numbers(try String(contentsOfFile: path("whole.jsonl"), encoding: .utf8)).split(separator: "\n"))
    }

    func testResumeMustKeepTheReproducibleSetting() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 60, seed: 1)
        let first = try MLPProcess.run(["train", "--train", train, "--epochs", "1", "--checkpoint", path("plain.ckpt")])
        XCTAssertEqual(first.status, 0, first.stderr)
        let refused = try MLPProcess.run(["train", "--resume", path("plain.ckpt"), "--epochs", "2", "--reproducible"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--reproducible --chunk-rows 16 differs from the checkpoint"), refused.stderr)
    }

    /// A gradient that overflows on the last rank only (one row of huge features in its chunk)
    /// stops every rank at that step, with one line and the divergence status, nothing saved.
    func testNonFiniteGradientOnOneRankStopsEveryRank() throws {
        let train = URL(fileURLWithPath: path("train.csv"))
        try writeClassificationCSV(train, rows: 100, seed: 1)
        var lines = try String(contentsOf: train, encoding: .utf8).split(separator: "\n").map(String.init)
        // Row 45 (line 46 after the header) is in chunk 5 of the first batch: rank 1's of 2.
        lines[46] = "1e38,1e38,1e38,1e38,1e38," + lines[46].split(separator: ",").last!
        try (lines.joined(separator: "\n") + "\n").write(to: train, atomically: true, encoding: .utf8)
        let output = try MLPProcess.mpirun(ranks: 2, ["train", "--train", train.path, "--no-shuffle", "--batch-size", "50",
                                                      "--reproducible", "--chunk-rows", "8", "--save", path("never.safetensors")])
        XCTAssertEqual(output.status, ExitStatus.diverged, output.stderr)
        let errors = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }
        XCTAssertEqual(errors.count, 1, output.stderr)
        XCTAssertTrue(errors.first?.contains("non-finite loss or gradient at step 1") ?? false, output.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("never.safetensors")))
    }

    func testEvaluateGivesTheSameNumbersOnAnyRankCount() throws {
        let train = path("train.csv"), model = path("model.safetensors")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 1)
        let trained = try MLPProcess.run(["train", "--train", train, "--epochs", "2", "--save", model])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let arguments = ["evaluate", "--model", model, "--data", train, "--json", "--reproducible", "--chunk-rows", "8"]
        let one = try MLPProcess.run(arguments)
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains("\"loss\""), one.stdout)
        for ranks in [2, 3] {
            let many = try MLPProcess.mpirun(ranks: ranks, arguments)
            XCTAssertEqual(many.status, 0, many.stderr)
            XCTAssertEqual(many.stdout, one.stdout, "\(ranks) ranks")
        }
    }
}
