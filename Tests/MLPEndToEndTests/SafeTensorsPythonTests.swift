import Foundation
import XCTest
@testable import MLP
import TestSupport

/// The safetensors container against the reference implementation (Python's `safetensors`):
/// it reads our files, and we read its files.
final class SafeTensorsPythonTests: XCTestCase {
    private let metadata = SafeTensorsSample.metadata
    private var tensors: [SafeTensor] { SafeTensorsSample.tensors }

    /// Our file read by the reference implementation, and its file read by us.
    func testReferenceImplementationReadsOurFilesAndWeReadItsFiles() throws {
        let python = try pythonWithSafetensors()
        let directory = try temporaryDirectory(self)
        let ours = directory.appendingPathComponent("ours.safetensors").path
        let theirs = directory.appendingPathComponent("theirs.safetensors").path
        try SafeTensors.write(tensors: tensors, metadata: metadata, to: ours)
        let script = """
            import json, sys, numpy as np
            from safetensors import safe_open
            from safetensors.numpy import load_file, save_file
            t = load_file(sys.argv[1])
            assert t["layers.0.weight"].dtype == np.float32 and t["layers.0.weight"].shape == (2, 3)
            assert np.array_equal(t["layers.0.weight"], np.array([[1, -2.5, 3], [0, 0.1, -0.0]], dtype=np.float32))
            assert t["layers.0.bias"].dtype == np.float64 and list(t["layers.0.bias"]) == [0.1, -1e300]
            assert t["scalar"].shape == () and t["scalar"] == 42
            assert t["empty"].shape == (0, 3)
            with safe_open(sys.argv[1], framework="numpy") as f:
                assert f.metadata() == json.loads(sys.argv[3]), f.metadata()
            save_file({"b": np.arange(6, dtype=np.float64).reshape(3, 2), "a": np.array([0.5, -1], dtype=np.float32),
                       "h": np.array([1.5, -2], dtype=np.float16)}, sys.argv[2], metadata={"k": "v"})
            print("ok")
            """
        let metadataJSON = String(decoding: try JSONSerialization.data(withJSONObject: metadata), as: UTF8.self)
        let output = try MLPProcess.launch(python, ["-c", script, ours, theirs, metadataJSON])
        XCTAssertEqual(output.status, 0, output.stdout + output.stderr)
        let read = try SafeTensors.read(path: theirs)
        XCTAssertEqual(read.metadata, ["k": "v"])
        let byName = Dictionary(uniqueKeysWithValues: read.tensors.map { ($0.name, $0) })
        XCTAssertEqual(byName["b"]?.shape, [3, 2])
        XCTAssertEqual(try byName["b"]?.floats(), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try byName["a"]?.floats(), [0.5, -1])
        XCTAssertEqual(try byName["h"]?.floats(), [1.5, -2])
    }
}
