import CZlib
import Foundation
import XCTest
import MLP

/// A scratch directory removed when the test ends.
public func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A small classification CSV: `rows` rows of 5 features, 3 classes decided by a fixed
/// non-linear rule (learnable, not trivially), deterministic from the seed.
public func writeClassificationCSV(_ url: URL, rows: Int, seed: UInt64) throws {
    var generator = SplitMix64(seed: seed)
    var text = "f1,f2,f3,f4,f5,label\n"
    for _ in 0 ..< rows {
        let x = (0 ..< 5).map { _ in 2 * generator.nextUniform() - 1 }
        let score = x[0] * x[1] + 0.5 * x[2] - x[3] * x[3]
        let label = score > 0.1 ? "cat" : (score < -0.3 ? "dog" : "emu")
        text += x.map { String(format: "%.6f", $0) }.joined(separator: ",") + ",\(label)\n"
    }
    try text.write(to: url, atomically: true, encoding: .utf8)
}

/// A small regression CSV with two target columns y1, y2.
public func writeRegressionCSV(_ url: URL, rows: Int, seed: UInt64) throws {
    var generator = SplitMix64(seed: seed)
    var text = "a,b,c,y1,y2\n"
    for _ in 0 ..< rows {
        let x = (0 ..< 3).map { _ in 2 * generator.nextUniform() - 1 }
        let y1 = sin(2 * x[0]) + x[1] * x[2], y2 = x[0] - 0.5 * x[2] * x[2]
        text += (x + [y1, y2]).map { String(format: "%.6f", $0) }.joined(separator: ",") + "\n"
    }
    try text.write(to: url, atomically: true, encoding: .utf8)
}

/// Largest |a − b| / max(|a|, |b|, floor) over all parameters of two model files.
public func maxRelativeDifference(_ a: ModelFile, _ b: ModelFile, floor: Double = 1e-3) -> Double {
    precondition(a.layerSizes == b.layerSizes && a.parameters.count == b.parameters.count)
    return zip(a.parameters, b.parameters).map { abs($0 - $1) / max(abs($0), abs($1), floor) }.max() ?? 0
}

/// The package root, from this file's path (Tests/TestSupport/TestData.swift).
public var packageRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// `../shared/data/mnist` beside the package, or a skip that says where it looked.
public func mnistDirectory() throws -> String {
    let directory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/mnist").path
    guard FileManager.default.fileExists(atPath: directory) else {
        throw XCTSkip("MNIST not found at \(directory): skipping (it is in ../shared/data/mnist on the team's machines)")
    }
    return directory
}

/// Checks that `expression` throws an `InputError` on one line whose message contains each of `parts`.
public func assertInputError<Result>(_ expression: @autoclosure () throws -> Result, contains parts: [String],
                                     file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("no error; expected one containing \(parts)", file: file, line: line)
    } catch let error as InputError {
        for part in parts where !error.message.contains(part) {
            XCTFail("\"\(error.message)\" does not contain \"\(part)\"", file: file, line: line)
        }
        XCTAssertFalse(error.message.contains("\n"), "message is not one line: \(error.message)", file: file, line: line)
    } catch {
        XCTFail("\(error) is not an InputError", file: file, line: line)
    }
}

/// An IDX file of unsigned bytes: magic, dimensions (big-endian), data.
public func idx(magic: UInt32, dimensions: [UInt32], data: [UInt8]) -> [UInt8] {
    ([magic] + dimensions).flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) } + data
}

/// `bytes` gzipped by zlib (windowBits 15 + 16 writes a gzip header and trailer).
public func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    precondition(deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
    let status = input.withUnsafeMutableBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
            stream.next_in = input.baseAddress
            stream.avail_in = UInt32(input.count)
            stream.next_out = output.baseAddress
            stream.avail_out = UInt32(output.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    precondition(status == Z_STREAM_END)
    return Array(output.prefix(Int(stream.total_out)))
}

/// A C-order, little-endian `.npy` (as NumPy writes it) of `values` as `type` with `shape`.
/// Unsigned 64-bit values at or past 2⁶⁴ become UInt64.max.
public func npyBytes(_ values: [Double], _ type: NPYHeader.ElementType, shape: [Int]) -> [UInt8] {
    var bytes = NPYHeader(elementType: type, shape: shape).encoded()
    for value in values {
        switch type {
        case .float32: withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { bytes += $0 }
        case .float64: withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
        case .int8: bytes.append(UInt8(bitPattern: Int8(value)))
        case .uint8: bytes.append(UInt8(value))
        case .int16: withUnsafeBytes(of: Int16(value).littleEndian) { bytes += $0 }
        case .uint16: withUnsafeBytes(of: UInt16(value).littleEndian) { bytes += $0 }
        case .int32: withUnsafeBytes(of: Int32(value).littleEndian) { bytes += $0 }
        case .uint32: withUnsafeBytes(of: UInt32(value).littleEndian) { bytes += $0 }
        case .int64: withUnsafeBytes(of: Int64(value).littleEndian) { bytes += $0 }
        case .uint64: withUnsafeBytes(of: (value >= 0x1p64 ? UInt64.max : UInt64(value)).littleEndian) { bytes += $0 }
        }
    }
    return bytes
}

/// A safetensors file's content that exercises the format: metadata needing JSON escapes, both
/// dtypes, a scalar and an empty tensor.
public enum SafeTensorsSample {
    public static let metadata = ["format": "mlp", "quote\"and\\slash": "line\nbreak\ttab \u{1} é ✓", "empty": ""]

    public static var tensors: [SafeTensor] {
        [SafeTensor(name: "layers.0.weight", shape: [2, 3], values: [1, -2.5, 3, 0, 0.1, -0.0] as [Float]),
         SafeTensor(name: "layers.0.bias", shape: [2], values: [0.1, -1e300] as [Double]),
         SafeTensor(name: "scalar", shape: [], values: [42] as [Float]),
         SafeTensor(name: "empty", shape: [0, 3], values: [] as [Double])]
    }
}

/// A test case with a scratch folder of its own (removed when the test ends) and file names in it.
open class ScratchFolderTestCase: XCTestCase {
    public var directory: URL!

    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    open override func setUpWithError() throws {
        try super.setUpWithError()
        directory = try temporaryDirectory(self)
    }
}
