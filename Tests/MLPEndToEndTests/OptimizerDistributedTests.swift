import XCTest
@testable import MLP
import TestSupport

/// Rank-count independence with each optimizer, schedule, clipping and the validation split:
/// real `mpirun` with 2 and 3 ranks against one process, float64, ≤ 1e-12 relative, with the
/// single allreduce and with the sharded update (`--sharded-update on`).
///
/// Every rank applies the update to the same allreduced gradient (or its slice of it), so the
/// ranks differ from one process only by the summation order of that gradient. The 5-48-32-3
/// network's θ (1,955 values) is two blocks: 2 ranks update one each, 3 ranks leave one idle.
final class OptimizerDistributedTests: XCTestCase {
    static let configurations: [(String, [String])] = [
        ("adam, L2, cosine with warm-up", ["--optimizer", "adam", "--learning-rate", "0.01", "--weight-decay", "1e-3",
                                          "--lr-schedule", "cosine", "--warmup-steps", "20"]),
        ("adamw, clipped", ["--optimizer", "adamw", "--learning-rate", "0.01", "--clip-grad-norm", "0.5"]),
        ("sgd nesterov, L2, step", ["--optimizer", "sgd", "--learning-rate", "0.05", "--momentum", "0.9", "--nesterov",
                                    "--weight-decay", "1e-4", "--lr-schedule", "step", "--step-size", "1", "--gamma", "0.5"]),
        ("sgd momentum, validation, early stopping", ["--momentum", "0.5", "--validation-split", "0.2", "--early-stopping", "1"]),
    ]

    func testEachOptimizerIsIndependentOfTheRankCount() throws {
        let directory = try temporaryDirectory(self)
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 300, seed: 1)
        for (index, (name, options)) in Self.configurations.enumerated() {
            var reference: ModelFile?
            var referenceMetrics = ""
            for (ranks, sharding) in [(1, "off"), (2, "off"), (3, "off"), (2, "on"), (3, "on")] {
                let model = directory.appendingPathComponent("\(index)-\(ranks)-\(sharding).safetensors")
                let metrics = directory.appendingPathComponent("\(index)-\(ranks)-\(sharding).jsonl")
                // n_b = 7: uneven shards and a partial last batch (300 = 42·7 + 6; 240 = 34·7 + 2).
                let arguments = ["train", "--train", data.path, "--hidden", "48,32", "--activation", "tanh", "--batch-size", "7",
                                 "--epochs", "3", "--seed", "3", "--precision", "float64", "--checksum-every", "20",
                                 "--save", model.path, "--metrics", metrics.path, "--sharded-update", sharding] + options
                let output = try MLPProcess.run(ranks: ranks, arguments)
                XCTAssertEqual(output.status, 0, "\(name), \(ranks) ranks, sharded \(sharding): \(output.stderr)")
                let saved = try ModelFile.read(path: model.path)
                let lines = try String(contentsOf: metrics, encoding: .utf8)
                guard let reference else { reference = saved; referenceMetrics = lines; continue }
                let difference = maxRelativeDifference(saved, reference, floor: 1e-6)
                XCTAssertLessThanOrEqual(difference, 1e-12, "\(name), \(ranks) ranks, sharded \(sharding)")
                XCTAssertEqual(lines.split(separator: "\n").count, referenceMetrics.split(separator: "\n").count,
                               "\(name), \(ranks) ranks, sharded \(sharding): the same number of epochs (early stopping decides alike)")
                print("\(name) P=\(ranks), sharded update \(sharding): max relative difference \(difference)")
            }
        }
    }
}
