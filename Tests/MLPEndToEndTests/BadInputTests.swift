import XCTest
@testable import MLP
import TestSupport

/// Every bad input ends the job with one line that names the cause (file, line, value where they
/// apply), a non-zero exit, all ranks gone (no hang: each run has a 60 s liveness limit), and
/// no model file written or replaced: as one process and under `mpirun -n 2`.
final class BadInputTests: ScratchFolderTestCase {
    func write(_ name: String, _ text: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }
    func write(_ name: String, bytes: [UInt8]) throws { try Data(bytes).write(to: directory.appendingPathComponent(name)) }

    override func setUpWithError() throws {
        try super.setUpWithError()
        try write("good.csv", "a,b,label\n1,2,0\n3,4,1\n5,6,0\n")
    }

    /// Runs `mlp arguments…` both ways and checks the failure.
    func assertFails(_ arguments: [String], _ expected: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let model = path("model.safetensors")
        let before: [UInt8] = Array("previous model".utf8)
        for ranks in [1, 2] {
            try write("model.safetensors", bytes: before)
            var full = arguments
            if arguments.first == "train", !arguments.contains("--save") { full += ["--save", model] }
            let output = try MLPProcess.run(ranks: ranks, full, environment: MLPProcess.refusalEnvironment, timeLimit: 60)
            let seconds = output.seconds
            let lines = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp:") }
            let context = "\(ranks) rank(s), \(arguments.joined(separator: " ")): \(output.stderr)"
            XCTAssertNotEqual(output.status, 0, context, file: file, line: line)
            XCTAssertEqual(lines.count, 1, "one line, not one per rank: \(context)", file: file, line: line)
            for part in expected {
                XCTAssertTrue(lines.first?.contains(part) ?? false, "expected '\(part)': \(context)", file: file, line: line)
            }
            XCTAssertFalse(output.timedOut, "still running after 60 s: \(context)", file: file, line: line)
            XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: model))), before, "model file replaced: \(context)",
                           file: file, line: line)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp") }
            XCTAssertEqual(leftovers, [], context, file: file, line: line)
            print("[\(ranks) rank\(ranks == 1 ? "" : "s"), \(String(format: "%.2f", seconds)) s] \(lines.first ?? "")")
        }
    }

    func train(_ data: String, _ extra: [String] = []) -> [String] { ["train", "--train", path(data), "--epochs", "1"] + extra }

    func testCSV() throws {
        try assertFails(train("missing.csv"), ["missing.csv: cannot open: No such file or directory"])
        try write("empty.csv", "")
        try assertFails(train("empty.csv"), ["empty.csv: file is empty"])
        try write("header.csv", "a,b,label\n")
        try assertFails(train("header.csv"), ["header.csv: no data rows"])
        try write("ragged.csv", "a,b,label\n1,2,0\n3,1\n")
        try assertFails(train("ragged.csv"), ["ragged.csv:3:", "expected 3 fields, got 2"])
        try write("text.csv", "a,b,label\n1,2,0\n1,abc,1\n")
        try assertFails(train("text.csv"), ["text.csv:3:", "feature 'b'", "\"abc\""])
        // NaN is a missing value: a column of nothing else has nothing to learn from; "nan" is not in the list.
        try write("nan.csv", "a,b,label\n1,NaN,0\n")
        try assertFails(train("nan.csv"), ["nan.csv: column 'b' is missing in every training row"])
        try write("lower-nan.csv", "a,b,label\n1,2,0\n1,nan,1\n")
        try assertFails(train("lower-nan.csv"), ["lower-nan.csv:3:", "not finite", "\"nan\""])
        try write("inf.csv", "a,b,label\n1,2,0\n-inf,2,1\n")
        try assertFails(train("inf.csv"), ["inf.csv:3:", "not finite", "\"-inf\""])
        try assertFails(train("good.csv", ["--target", "price"]), ["no target column 'price'", "columns: a, b, label"])
        try write("test-labels.csv", "a,b,label\n1,2,0\n1,2,yes\n")
        try assertFails(train("good.csv", ["--test", path("test-labels.csv")]), ["test-labels.csv:3:", "\"yes\"", "not one of the training classes"])
        try write("regression.csv", "a,b,y\n1,2,3.5\n1,2,high\n")
        try assertFails(train("regression.csv", ["--loss", "squared-error"]), ["regression.csv:3:", "target 'y' is not a number", "\"high\""])
    }

    /// Windows line endings, a UTF-8 byte order mark and quoted fields are accepted.
    func testCSVDialectsAreAccepted() throws {
        try write("windows.csv", "\u{FEFF}a,\"b, the second\",label\r\n1,\"2\",0\r\n3,4,\"1\"\r\n")
        let output = try MLPProcess.run(train("windows.csv", ["--save", path("w.safetensors")]))
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertEqual(try ModelFile.read(path: path("w.safetensors")).featureNames, ["a", "b, the second"])
    }

    func mnist(_ name: String, images: [UInt8], labels: [UInt8]) throws -> String {
        let folder = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(images).write(to: folder.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(labels).write(to: folder.appendingPathComponent("train-labels-idx1-ubyte"))
        return "mnist:" + folder.path
    }

    func testIDX() throws {
        let images = idx(magic: 2051, dimensions: [3, 2, 2], data: Array(repeating: 7, count: 12))
        let labels = idx(magic: 2049, dimensions: [3], data: [0, 1, 2])
        try assertFails(["train", "--train", try mnist("magic", images: idx(magic: 2049, dimensions: [3, 2, 2], data: Array(repeating: 7, count: 12)), labels: labels), "--epochs", "1"],
                        ["train-images-idx3-ubyte", "magic"])
        try assertFails(["train", "--train", try mnist("truncated", images: Array(images.dropLast(5)), labels: labels), "--epochs", "1"],
                        ["train-images-idx3-ubyte", "truncated"])
        try assertFails(["train", "--train", try mnist("counts", images: images, labels: idx(magic: 2049, dimensions: [2], data: [0, 1])), "--epochs", "1"],
                        ["3 images", "2 labels"])
        var corrupted = gzip(images)
        corrupted[corrupted.count / 2] ^= 0xFF
        corrupted[corrupted.count / 2 + 1] ^= 0xFF
        let folder = directory.appendingPathComponent("corrupt")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(corrupted).write(to: folder.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try Data(labels).write(to: folder.appendingPathComponent("train-labels-idx1-ubyte"))
        try assertFails(["train", "--train", "mnist:" + folder.path, "--epochs", "1"], ["train-images-idx3-ubyte.gz", "gzip"])
    }

    /// A valid model for good.csv (2 inputs, 2 classes), as bytes to break.
    func modelBytes() -> [UInt8] {
        SafeTensors.encode(tensors: [SafeTensor(name: "layers.0.weight", shape: [2, 2], values: [Float](repeating: 0.1, count: 4)),
                                     SafeTensor(name: "layers.0.bias", shape: [2], values: [Float](repeating: 0, count: 2))],
                           metadata: [:])
    }

    func header(_ json: String, data: Int) -> [UInt8] {
        let bytes = withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { Array($0) }
        return bytes + Array(json.utf8) + [UInt8](repeating: 0, count: data)
    }

    func testModelFiles() throws {
        let valid = modelBytes()
        try write("valid.safetensors", bytes: valid)
        XCTAssertEqual(try MLPProcess.run(train("good.csv", ["--init-from", path("valid.safetensors"), "--save", path("ok.safetensors")])).status, 0)

        try write("truncated.safetensors", bytes: Array(valid.dropLast(4)))
        try assertFails(train("good.csv", ["--init-from", path("truncated.safetensors")]), ["truncated.safetensors"])
        try write("long-header.safetensors", bytes: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) } + [UInt8](repeating: 32, count: 16))
        try assertFails(train("good.csv", ["--init-from", path("long-header.safetensors")]), ["long-header.safetensors", "header"])
        try write("json.safetensors", bytes: header("{\"layers.0.weight\": {", data: 0))
        try assertFails(train("good.csv", ["--init-from", path("json.safetensors")]), ["json.safetensors", "JSON"])
        try write("range.safetensors", bytes: header(#"{"layers.0.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"layers.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#, data: 20))
        try assertFails(train("good.csv", ["--init-from", path("range.safetensors")]), ["range.safetensors"])
        try write("shape.safetensors", bytes: header(#"{"layers.0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]},"layers.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#, data: 24))
        try assertFails(train("good.csv", ["--init-from", path("shape.safetensors")]), ["shape.safetensors", "layers.0.weight"])
        try write("dtype.safetensors", bytes: header(#"{"layers.0.weight":{"dtype":"Q7","shape":[2,2],"data_offsets":[0,16]},"layers.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#, data: 24))
        try assertFails(train("good.csv", ["--init-from", path("dtype.safetensors")]), ["dtype.safetensors", "Q7"])
        try write("wide.safetensors", bytes: SafeTensors.encode(tensors: [SafeTensor(name: "layers.0.weight", shape: [2, 5], values: [Float](repeating: 0, count: 10)),
                                                                          SafeTensor(name: "layers.0.bias", shape: [2], values: [Float](repeating: 0, count: 2))], metadata: [:]))
        try assertFails(train("good.csv", ["--init-from", path("wide.safetensors")]), ["5 inputs", "2 features"])
        try assertFails(train("good.csv", ["--init-from", path("valid.safetensors"), "--hidden", "8"]), ["--hidden 8 disagrees", "no hidden layer"])
    }

    func testOptions() throws {
        try assertFails(train("good.csv", ["--batch-size", "0"]), ["--batch-size must be at least 1"])
        try assertFails(train("good.csv", ["--learning-rate", "0"]), ["--learning-rate must be a positive number"])
        // A negative number is read as the option's value and refused by its range, not taken for a flag.
        try assertFails(train("good.csv", ["--learning-rate", "-1"]), ["--learning-rate must be a positive number (got -1.0)"])
        try assertFails(train("good.csv", ["--momentum", "-0.5"]), ["--momentum must be 0 or more (got -0.5)"])
        try assertFails(train("good.csv", ["--checksum-every", "-1"]), ["--checksum-every must be 0 or more (got -1)"])
        try assertFails(train("good.csv", ["--hidden", "-3"]), ["--hidden must be at least 1 (got -3)"])
        try assertFails(train("good.csv", ["--learning-rate", "nan"]), ["--learning-rate must be a positive number (got nan)"])
        try assertFails(["train", "--train", path("good.csv"), "--epochs", "0"], ["--epochs must be at least 1"])
        try assertFails(train("good.csv", ["--save", path("no-such-dir/model.safetensors")]), ["--save", "no-such-dir", "does not exist"])
        try assertFails(train("good.csv", ["--checkpoint", path("no-such-dir/c.safetensors")]), ["--checkpoint", "does not exist"])
        try write("a-file", "")
        try assertFails(train("good.csv", ["--checkpoint", path("a-file/c.safetensors")]), ["--checkpoint", "a-file"])
        if geteuid() != 0 {
            let locked = directory.appendingPathComponent("locked")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o555])
            try assertFails(train("good.csv", ["--save", locked.appendingPathComponent("m.safetensors").path]), ["not writable"])
        } else if access("/sys", W_OK) != 0 {
            // Root may write anywhere permissions allow nothing; a read-only file system still refuses.
            try assertFails(train("good.csv", ["--save", "/sys/m.safetensors"]), ["--save", "/sys", "not writable"])
        }
    }

    /// Allowed, but said: a batch larger than the data, and fewer rows per batch than ranks.
    func testUnusualButValidOptionsAreExplained() throws {
        var output = try MLPProcess.run(train("good.csv", ["--batch-size", "100"]))
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertTrue(output.stdout.contains("--batch-size 100 exceeds the 3 training rows"), output.stdout)
        output = try MLPProcess.mpirun(ranks: 3, train("good.csv", ["--batch-size", "2"]))
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertTrue(output.stdout.contains("smaller than the 3 ranks"), output.stdout)
    }

    /// Only one rank sees the problem (as when a path exists on one host only): all ranks agree
    /// and exit, the failing rank prints one line naming itself.
    func testFailureOnOneRankEndsAll() throws {
        let output = try MLPProcess.mpirun([
            .init(ranks: 1, ["train", "--train", path("good.csv"), "--epochs", "1", "--save", path("m.safetensors")]),
            .init(ranks: 1, ["train", "--train", path("elsewhere.csv"), "--epochs", "1", "--save", path("m.safetensors")]),
        ], timeLimit: 60)
        let seconds = output.seconds
        XCTAssertNotEqual(output.status, 0)
        let lines = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp:") }
        XCTAssertEqual(lines, ["mlp: error: rank 1: \(path("elsewhere.csv")): cannot open: No such file or directory"], output.stderr)
        XCTAssertFalse(output.timedOut, "still running after 60 s: \(output.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.safetensors")))
        print("[MPMD, rank 1 only, \(String(format: "%.2f", seconds)) s] \(lines.first ?? "")")
    }
}
