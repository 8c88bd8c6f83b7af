import Foundation
import XCTest
@testable import MLP
import TestSupport

/// The safetensors container: round trips, byte-exact output, and an error for each kind of
/// malformed file (the reference reader's view of our files is in `SafeTensorsPythonTests`).
final class SafeTensorsTests: XCTestCase {
    private let metadata = SafeTensorsSample.metadata
    private var tensors: [SafeTensor] { SafeTensorsSample.tensors }

    func testRoundTripKeepsTensorsInDataOrderAndMetadata() throws {
        let decoded = try SafeTensors.decode(SafeTensors.encode(tensors: tensors, metadata: metadata), path: "m.safetensors")
        XCTAssertEqual(decoded.metadata, metadata)
        // The empty tensor's data_offsets are [44, 44], right after the scalar's [40, 44].
        XCTAssertEqual(decoded.tensors.map(\.name), ["layers.0.weight", "layers.0.bias", "scalar", "empty"])
        let byName = Dictionary(uniqueKeysWithValues: decoded.tensors.map { ($0.name, $0) })
        for tensor in tensors { XCTAssertEqual(byName[tensor.name], tensor) }
        XCTAssertEqual(try byName["layers.0.weight"]!.floats(), [1, -2.5, 3, 0, Double(Float(0.1)), -0.0])
        XCTAssertEqual(try byName["layers.0.bias"]!.floats(), [0.1, -1e300])
        XCTAssertEqual(try byName["scalar"]!.floats(), [42])
        XCTAssertEqual(byName["layers.0.weight"]!.dtype, .F32)
        XCTAssertEqual(byName["layers.0.bias"]!.dtype, .F64)
    }

    func testEncodingIsByteExactAndDeterministic() throws {
        let tensor = SafeTensor(name: "w", shape: [2], values: [1, 2] as [Float])
        let bytes = SafeTensors.encode(tensors: [tensor], metadata: ["b": "2", "a": "1"])
        let header = #"{"__metadata__":{"a":"1","b":"2"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        var expected: [UInt8] = withUnsafeBytes(of: UInt64(padded.utf8.count).littleEndian, Array.init)
        expected += Array(padded.utf8) + [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]
        XCTAssertEqual(bytes, expected)
        // Same input, same bytes, whatever order the dictionary happens to hold its keys in.
        var reordered: [String: String] = [:]
        for key in metadata.keys.reversed() { reordered[key] = metadata[key] }
        XCTAssertEqual(SafeTensors.encode(tensors: tensors, metadata: metadata),
                       SafeTensors.encode(tensors: tensors, metadata: reordered))
        let encoded = SafeTensors.encode(tensors: tensors, metadata: metadata)
        let headerLength = encoded.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(encoded[8 ..< 8 + headerLength])))
    }

    func testHalfAndBrainFloatConvert() throws {
        // F16: 1.0, -2.0, 65504 (largest), 2⁻²⁴ (smallest subnormal), +inf.
        let half = SafeTensor(name: "h", dtype: .F16, shape: [5], bytes: [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x00, 0x7C])
        XCTAssertEqual(try half.floats(), [1, -2, 65504, 0x1p-24, .infinity])
        let brain = SafeTensor(name: "b", dtype: .BF16, shape: [2], bytes: [0x80, 0x3F, 0x49, 0x40])
        XCTAssertEqual(try brain.floats(), [1, 3.140625])
        assertInputError(try SafeTensor(name: "i", dtype: .I32, shape: [1], bytes: [1, 0, 0, 0]).floats(),
                         contains: ["'i'", "I32"])
    }

    func testWriteReplacesTheFileAndLeavesNoTemporaryFile() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("model.safetensors").path
        try SafeTensors.write(tensors: [SafeTensor(name: "old", shape: [1], values: [1] as [Float])], metadata: [:], to: path)
        try SafeTensors.write(tensors: tensors, metadata: metadata, to: path)
        let read = try SafeTensors.read(path: path)
        XCTAssertEqual(read.metadata, metadata)
        XCTAssertEqual(Set(read.tensors.map(\.name)), Set(tensors.map(\.name)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
        let missing = directory.appendingPathComponent("no/such/dir/model.safetensors").path
        XCTAssertThrowsError(try SafeTensors.write(tensors: tensors, metadata: [:], to: missing)) { error in
            XCTAssertEqual(error as? WriteError,
                           WriteError(path: missing, reason: "No such file or directory (creating \(missing).tmp-\(getpid()))", code: ENOENT))
        }
        assertInputError(try SafeTensors.read(path: missing), contains: [missing, "No such file or directory"])
    }

    func testMalformedFilesAreRejectedWithTheFileNamed() {
        let f32 = [UInt8](repeating: 0, count: 8)
        let cases: [(bytes: [UInt8], expected: String)] = [
            ([1, 2, 3], "3 bytes, shorter than the 8-byte header length"),
            (withUnsafeBytes(of: UInt64(1 << 40).littleEndian, Array.init) + Array("{}".utf8), "header length 1099511627776 is larger than the 2 bytes"),
            (file(#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]"#, f32), "header is not valid JSON"),
            (file(#"[1, 2]"#, []), "header is not a JSON object"),
            (file(#"{"w": 5}"#, []), "entry of tensor 'w' is not a JSON object"),
            (file(#"{"w": {"shape": [2], "data_offsets": [0, 8]}}"#, f32), "tensor 'w' has no \"dtype\""),
            (file(#"{"w": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}"#, f32), "unknown dtype 'F99'"),
            (file(#"{"w": {"dtype": "F32", "data_offsets": [0, 8]}}"#, f32), "tensor 'w' has no \"shape\""),
            (file(#"{"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}"#, f32), "tensor 'w' has no \"shape\""),
            (file(#"{"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}}"#, f32), "tensor 'w' has no \"shape\""),
            (file(#"{"w": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}"#, f32), "tensor 'w' has no \"shape\""),
            (file(#"{"w": {"dtype": "F32", "shape": [2]}}"#, f32), "no \"data_offsets\""),
            (file(#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}"#, f32), "no \"data_offsets\""),
            (file(#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, f32), "outside the data section of 8 bytes"),
            (file(#"{"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}"#, f32), "outside the data section"),
            (file(#"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, f32), "needs 12 bytes, its data_offsets [0, 8] hold 8"),
            (file(#"{"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}}"#, f32), "hold 8"),
            (file(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, f32),
             "tensor 'b' overlaps tensor 'a'"),
            (file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, f32), "4 bytes before tensor 'a' belong to no tensor"),
            (file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, f32), "4 bytes at the end of the data section"),
            (file(#"{"__metadata__": {"k": 1}}"#, []), "__metadata__ value of 'k' is not a string"),
            (file(#"{"__metadata__": "text"}"#, []), "__metadata__ is not a JSON object"),
        ]
        for testCase in cases {
            assertInputError(try SafeTensors.decode(testCase.bytes, path: "bad.safetensors"),
                             contains: ["bad.safetensors: not a valid safetensors file: ", testCase.expected])
        }
        XCTAssertNoThrow(try SafeTensors.decode(file("{}", []), path: "empty.safetensors"))
    }

    // MARK: Helpers

    /// A safetensors file with the given header text and data section.
    private func file(_ header: String, _ data: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init) + Array(header.utf8) + data
    }
}
