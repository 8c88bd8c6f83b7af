import XCTest
@testable import MLP
import TestSupport

/// Real `mpirun` with 2 and 3 ranks against the single process: after an epoch the parameters
/// must match, for mini-batches of 1 (some ranks hold no rows), 7 and 256 (partial last batch).
final class DistributedTests: XCTestCase {
    func trainOneEpoch(ranks: Int, batchSize: Int, precision: Precision, data: URL, save: URL, allreduce: AllreduceMode = .single) throws {
        let arguments = ["train", "--train", data.path, "--hidden", "8,6", "--activation", "tanh",
                         "--batch-size", "\(batchSize)", "--learning-rate", "0.1", "--epochs", "1",
                         "--seed", "3", "--precision", precision.rawValue, "--checksum-every", "50",
                         "--save", save.path, "--allreduce", allreduce.rawValue]
        let output = try MLPProcess.run(ranks: ranks, arguments)
        XCTAssertEqual(output.status, 0, "\(ranks) ranks, n_b \(batchSize): \(output.stderr)")
    }

    func testRanksMatchSingleProcess() throws {
        let directory = try temporaryDirectory(self)
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 300, seed: 1)   // 300 = 256 + 44 = 42·7 + 6
        for (precision, tolerance) in [(Precision.float64, 1e-12), (.float32, 1e-5)] {
            for batchSize in [1, 7, 256] {
                let single = directory.appendingPathComponent("single-\(batchSize)-\(precision).safetensors")
                try trainOneEpoch(ranks: 1, batchSize: batchSize, precision: precision, data: data, save: single)
                let reference = try ModelFile.read(path: single.path)
                for ranks in [2, 3] {
                    // The per-layer non-blocking path must give the same exact sums (float64 only, to keep the test short).
                    for mode in precision == .float64 ? [AllreduceMode.single, .overlap] : [.single] {
                        let parallel = directory.appendingPathComponent("p\(ranks)-\(batchSize)-\(precision)-\(mode).safetensors")
                        try trainOneEpoch(ranks: ranks, batchSize: batchSize, precision: precision, data: data, save: parallel, allreduce: mode)
                        let difference = maxRelativeDifference(try ModelFile.read(path: parallel.path), reference, floor: 1e-6)
                        XCTAssertLessThanOrEqual(difference, tolerance, "\(precision), n_b \(batchSize), \(ranks) ranks, allreduce \(mode)")
                        print("\(precision) n_b=\(batchSize) P=\(ranks) allreduce \(mode): max relative difference \(difference)")
                    }
                }
            }
        }
    }

    /// A bad option fails on every rank with one line, not one per rank, and no hang.
    func testBadInputUnderMPIGivesOneLine() throws {
        let output = try MLPProcess.mpirun(ranks: 2, ["train", "--train", "/nonexistent/data.csv", "--epochs", "1"])
        XCTAssertNotEqual(output.status, 0)
        let lines = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp:") }
        XCTAssertEqual(lines.count, 1, output.stderr)
        XCTAssertTrue(lines.first?.contains("/nonexistent/data.csv") ?? false, output.stderr)
    }
}
