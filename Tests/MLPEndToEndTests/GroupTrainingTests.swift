import XCTest
import MLP
import TestSupport

/// A communicator split into groups (`Communicator.split`, `MPI_Comm_split`): each group trains
/// on its own, with its own start agreement, reductions, checksums and watchdog. `mlp-faults`
/// with `MLP_TEST_GROUPS=G` splits the world (rank r in group r mod G) and gives each group's
/// outputs the suffix `.gG`.
final class GroupTrainingTests: ScratchFolderTestCase {
    /// 4 ranks as 2 groups of 2, under `--reproducible`: each group's model and metrics are one
    /// process's bytes (the groups' ranks are interleaved in the world: 0, 2 and 1, 3).
    func testEachGroupTrainsAsItsOwnJob() throws {
        let train = path("train.csv")
        try writeClassificationCSV(URL(fileURLWithPath: train), rows: 203, seed: 1)
        let recipe = ["train", "--train", train] + ReproducibilityTests.data
            + ["--optimizer", "adam", "--clip-grad-norm", "0.5", "--validation-split", "0.2"]
        let alone = try MLPProcess.run(recipe + ["--save", path("alone.safetensors"), "--metrics", path("alone.jsonl")])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        let grouped = try MLPProcess.mpirun(ranks: 4, recipe + ["--save", path("group.safetensors"), "--metrics", path("group.jsonl")],
                                            executable: "mlp-faults", environment: ["MLP_TEST_GROUPS": "2"])
        XCTAssertEqual(grouped.status, 0, grouped.stderr)
        // Each group prints its own lines: two starts, two "saved".
        XCTAssertEqual(grouped.stdout.components(separatedBy: "saved ").count - 1, 2, grouped.stdout)
        XCTAssertTrue(grouped.stdout.contains("2 ranks"), grouped.stdout)
        let model = try Data(contentsOf: URL(fileURLWithPath: path("alone.safetensors")))
        let metrics = ReproducibilityTests.numbers(try String(contentsOfFile: path("alone.jsonl"), encoding: .utf8))
        for group in 0 ..< 2 {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("group.safetensors.g\(group)"))), model,
                           "group \(group): the model's bytes differ from one process's")
            XCTAssertEqual(ReproducibilityTests.numbers(try String(contentsOfFile: path("group.jsonl.g\(group)"), encoding: .utf8)),
                           metrics, "group \(group): the metrics differ from one process's")
        }
    }
}
