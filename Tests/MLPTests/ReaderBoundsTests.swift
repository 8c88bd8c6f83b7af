import Foundation
import XCTest
@testable import MLP
import TestSupport

/// The readers against hostile input, as functions: what one CSV record may take, text that is
/// not UTF-8 CSV, non-finite `.npy` values and model weights, bounded gzip output and CSV values
/// in memory. (The same inputs through the real `mlp` are `AdversarialInputTests`.)
extension DataReaderTests {
    private func scanner<Result>(_ text: [UInt8], maximumRecordBytes: Int = 100, maximumFieldCount: Int = 10,
                                 _ body: (inout CSVScanner) throws -> Result) rethrows -> Result {
        try text.withUnsafeBufferPointer { bytes in
            var scanner = CSVScanner(bytes: bytes, path: "t.csv", maximumRecordBytes: maximumRecordBytes, maximumFieldCount: maximumFieldCount)
            return try body(&scanner)
        }
    }

    func testRecordsAreBoundedInBytesAndFields() throws {
        var fields: [CSVField] = []
        // At the bound: read; past it: refused, naming the line the record starts on.
        XCTAssertEqual(try scanner(Array((String(repeating: "x", count: 100) + "\n").utf8)) { try $0.nextRecord(into: &fields) }, 1)
        assertInputError(try scanner(Array(("a\n" + String(repeating: "x", count: 101)).utf8)) { scanner in
            _ = try scanner.nextRecord(into: &fields)
            return try scanner.nextRecord(into: &fields)
        }, contains: ["t.csv:2:", "a record longer than 100 bytes (no line break)", "at most 100 bytes"])
        assertInputError(try scanner(Array(("\"" + String(repeating: "q", count: 200) + "\"\n").utf8)) { try $0.nextRecord(into: &fields) },
                         contains: ["t.csv:1:", "longer than 100 bytes"])
        assertInputError(try scanner(Array(String(repeating: ",", count: 20).utf8)) { try $0.nextRecord(into: &fields) },
                         contains: ["more than 10 fields in one record"])
    }

    func testAStreamWithoutLineBreaksIsRefusedAsItArrives() throws {
        var check = CSVStreamCheck(path: "pipe")
        check.maximumRecordBytes = 100
        var bytes = Array("a,b\n1,2\n".utf8)
        try bytes.withUnsafeBufferPointer { try check.check($0, newBytesStart: 0) }
        for _ in 0 ..< 2 {
            let start = bytes.count
            bytes += Array(repeating: UInt8(ascii: "7"), count: 60)
            if start + 60 - 8 <= 100 {
                try bytes.withUnsafeBufferPointer { try check.check($0, newBytesStart: start) }
            } else {
                assertInputError(try bytes.withUnsafeBufferPointer { try check.check($0, newBytesStart: start) },
                                 contains: ["pipe: more than 100 bytes without a line break"])
            }
        }
        var binary = CSVStreamCheck(path: "zero")
        let zeros = [UInt8](repeating: 0, count: 64)
        assertInputError(try zeros.withUnsafeBufferPointer { try binary.check($0, newBytesStart: 0) }, contains: ["zero: holds a NUL byte at offset 0"])
    }

    func testTextThatIsNotUTF8CSVIsNamed() {
        func problem(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBufferPointer(csvEncodingProblem) }
        let text = Array("a,b,label\n1,2,0\n".utf16)
        XCTAssertEqual(problem([0xFF, 0xFE] + text.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }),
                       "looks like UTF-16 (it starts with the byte order mark FF FE): save it as UTF-8")
        XCTAssertEqual(problem([0xFE, 0xFF] + text.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }),
                       "looks like UTF-16 (it starts with the byte order mark FE FF): save it as UTF-8")
        XCTAssertEqual(problem(text.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }), "looks like UTF-16 (little-endian, no byte order mark): save it as UTF-8")
        XCTAssertEqual(problem(text.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }), "looks like UTF-16 (big-endian, no byte order mark): "
            + "save it as UTF-8")
        XCTAssertEqual(problem([0xFF, 0xFE, 0, 0, 0x61, 0, 0, 0]), "looks like UTF-32 (it starts with a UTF-32 byte order mark): "
            + "save it as UTF-8")
        XCTAssertEqual(problem(Array("a,b\n1,".utf8) + [0, 7, 7, 7, 1, 2]), "holds a NUL byte at offset 6: a binary file, not CSV text")
        XCTAssertNil(problem([0xEF, 0xBB, 0xBF] + Array("a,b\n1,2\n".utf8)), "UTF-8 with its byte order mark is CSV")
    }

    func testOtherDelimitersAreNamed() throws {
        for (text, delimiter) in [("a;b;label\n1;2;0\n", "';'"), ("a\tb\tlabel\n1\t2\t0\n", "tabs"), ("a|b|label\n1|2|0\n", "'|'")] {
            let path = try write(text, name: "delimited.csv")
            assertInputError(try CSVReader.read(path: path, targetColumns: nil, kind: .classes(classNames: nil)) as Dataset<Double>,
                             contains: ["delimited.csv:1: no commas in the header; the file seems to use \(delimiter) as its delimiter"])
        }
    }

    func testLabelsAndNamesMustBeUTF8() throws {
        // Two different Latin-1 labels: decoded as U+FFFD they were one class.
        let url = try temporaryDirectory(self).appendingPathComponent("latin1.csv")
        try Data(Array("x,label\n1,".utf8) + [0xE9] + Array("\n2,".utf8) + [0xE8] + Array("\n".utf8)).write(to: url)
        assertInputError(try CSVReader.read(path: url.path, targetColumns: nil, kind: .classes(classNames: nil)) as Dataset<Double>,
                         contains: ["latin1.csv:2: class label is not valid UTF-8 (bytes E9)"])
        try Data(Array("x,".utf8) + [0xFF] + Array("\n1,2\n".utf8)).write(to: url)
        assertInputError(try CSVReader.read(path: url.path, targetColumns: nil, kind: .values) as Dataset<Double>,
                         contains: ["latin1.csv:1: a column name is not valid UTF-8 (bytes FF)"])
    }

    func testLongListsInMessagesAreCut() throws {
        XCTAssertEqual(listed(["a", "b", "c"]), "a, b, c")
        XCTAssertEqual(listed((0 ..< 10).map(String.init), limit: 3), "0, 1, 2, … and 7 more")
        let names = (0 ..< 784).map { "pixel\($0)" }
        let path = try write(names.joined(separator: ",") + "\n" + names.map { _ in "1" }.joined(separator: ",") + "\n", name: "wide.csv")
        assertInputError(try CSVReader.read(path: path, targetColumns: ["label"], kind: .classes(classNames: nil)) as Dataset<Double>,
                         contains: ["no target column 'label' (columns: pixel0, pixel1", "pixel7, … and 776 more)"])
    }

    /// The values a CSV puts in memory are bounded (half of physical memory by default), so
    /// that a small gzip file of valid rows is refused rather than exhausting memory.
    func testValuesInMemoryAreBounded() throws {
        let text = Array(("a,b\n" + String(repeating: "1,2\n", count: 100)).utf8)
        try text.withUnsafeBufferPointer { bytes in
            var reader = CSVTableReader(bytes: bytes, path: "m.csv", singlePrecision: false)
            reader.maximumValueBytes = 800
            assertInputError(try reader.read(targetColumns: nil, kind: .values),
                             contains: ["m.csv:52: the values read so far take more than 800 bytes", "mlp convert"])
        }
        XCTAssertEqual(CSVTableReader.defaultMaximumValueBytes, MemoryEstimate.physicalMemory / 2)
    }

    func testGzipOutputIsBounded() throws {
        let compressed = gzip([UInt8](repeating: 0, count: 1 << 20))
        XCTAssertEqual(try Gzip.decompress(compressed, path: "z.gz", limit: 2 << 20).count, 1 << 20)
        assertInputError(try Gzip.decompress(compressed, path: "z.gz", limit: 1 << 18),
                         contains: ["z.gz: decompresses to more than 256 KiB"])
    }
}

extension NPYTests {
    private func writeNPY(_ values: [Double], _ type: NPYHeader.ElementType, shape: [Int], name: String) throws -> String {
        let bytes = npyBytes(values, type, shape: shape)
        let url = try temporaryDirectory(self).appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func testNonFiniteFeaturesAreRefusedWithTheirRowAndColumn() throws {
        let names = ["a", "b"]
        let nan = try writeNPY([0, 1, 2, .nan, 4, 5], .float32, shape: [3, 2], name: "nan.X.npy")
        assertInputError(try MappedFeatures<Float>(path: nan).checkFinite(rows: 0 ..< 3, featureNames: names),
                         contains: ["nan.X.npy: row 1, column 1 (feature 'b'): nan is not finite"])
        // Each rank checks its own rows only.
        XCTAssertNoThrow(try MappedFeatures<Float>(path: nan).checkFinite(rows: 2 ..< 3, featureNames: names))
        // A float64 beyond float32's range: refused in float32, read in float64.
        let large = try writeNPY([0, 1e300], .float64, shape: [1, 2], name: "large.X.npy")
        assertInputError(try MappedFeatures<Float>(path: large).checkFinite(rows: 0 ..< 1, featureNames: names),
                         contains: ["row 0, column 1 (feature 'b'): 1e+300 is too large for float32"])
        XCTAssertNoThrow(try MappedFeatures<Double>(path: large).checkFinite(rows: 0 ..< 1, featureNames: names))
        // The view's rows are the file's rows it selects.
        let selected = try MappedFeatures<Double>(path: nan).selecting([2, 1])
        assertInputError(try selected.checkFinite(rows: 0 ..< 2, featureNames: names), contains: ["row 1, column 1"])
    }

    func testNonFiniteTargetsAndHugeClassIndicesAreRefused() throws {
        let features = try writeNPY([0, 1, 2, 3], .float32, shape: [2, 2], name: "f.X.npy")
        let targets = try writeNPY([1, .infinity], .float64, shape: [2], name: "t.y.npy")
        assertInputError(try NPYDataset.load(features: features, labels: targets, kind: .values, targetColumns: nil) as Dataset<Double>,
                         contains: ["t.y.npy: row 1, target 0 ('y'): inf is not finite"])
        let classes = try writeNPY([1, 9e18], .int64, shape: [2], name: "c.y.npy")
        assertInputError(try NPYDataset.load(features: features, labels: classes, kind: .classes(classNames: nil), targetColumns: nil) as Dataset<Double>,
                         contains: ["c.y.npy: class index 9000000000000000000 is too large"])
    }
}

extension SafeTensorsTests {
    func testNonFiniteWeightsAndNamesThatDoNotFitAreRefused() throws {
        func model(weights: [Float], metadata: [String: String] = [:]) -> [UInt8] {
            SafeTensors.encode(tensors: [SafeTensor(name: "layers.0.weight", shape: [2, 3], values: weights),
                                         SafeTensor(name: "layers.0.bias", shape: [2], values: [0, 0] as [Float])], metadata: metadata)
        }
        XCTAssertEqual(try ModelFile.decode(model(weights: [1, 2, 3, 4, 5, 6]), path: "m").layerSizes, [3, 2])
        assertInputError(try ModelFile.decode(model(weights: [1, 2, 3, 4, .infinity, 6]), path: "m.safetensors"),
                         contains: ["m.safetensors: tensor layers.0.weight holds inf at row 1, column 1", "must be finite"])
        let names = ["format": "mlp", "loss": "cross-entropy", "activation": "relu"]
        assertInputError(try ModelFile.decode(model(weights: [1, 2, 3, 4, 5, 6], metadata: names.merging(["class_names": #"["a","b","c"]"#]) { $1 }), path: "m"),
                         contains: ["class_names holds 3 names for the 2 outputs"])
        assertInputError(try ModelFile.decode(model(weights: [1, 2, 3, 4, 5, 6], metadata: names.merging(["feature_names": #"["x","y"]"#]) { $1 }), path: "m"),
                         contains: ["feature_names holds 2 names for the 3 inputs"])
        assertInputError(try ModelFile.decode(model(weights: [1, 2, 3, 4, 5, 6], metadata: names.merging(["feature_names": #"["x","y","x"]"#]) { $1 }), path: "m"),
                         contains: ["feature_names names a column or class twice"])
    }
}

/// Inputs that crashed or hung a reader under the fuzzer (`Fuzz/run`), each fed again to the
/// reader that failed on it: `Tests/Fixtures/fuzz/TARGET/*`, TARGET as in `Fuzz/FuzzReaders.swift`.
final class FuzzRegressionTests: XCTestCase {
    func testEveryKeptFuzzInputIsRefusedOrReadWithoutCrashing() throws {
        let root = packageRoot.appendingPathComponent("Tests/Fixtures/fuzz")
        var count = 0
        for target in ["csv", "idx", "safetensors", "gzip", "npy", "csv-stream", "csv-gzip"] {
            let folder = root.appendingPathComponent(target)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
                let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent(name)))
                feed(target, bytes)
                count += 1
            }
        }
        XCTAssertGreaterThan(count, 0, "no input under \(root.path)")
    }


    /// What `Fuzz/FuzzReaders.swift` does with one input: a crash fails the test run.
    private func feed(_ target: String, _ input: [UInt8]) {
        input.withUnsafeBufferPointer { bytes in
            switch target {
            case "csv":
                for kind in [TargetKind.classes(classNames: nil), .values, .classes(classNames: ["0", "1"]), .none] {
                    var reader = CSVTableReader(bytes: bytes, path: "fuzz.csv", singlePrecision: kind == .values)
                    _ = try? reader.read(targetColumns: nil, kind: kind)
                }
            case "idx":
                _ = try? IDX.parse(input, path: "fuzz-idx", magic: 2051, kind: "images")
                _ = try? IDX.parse(input, path: "fuzz-idx", magic: 2049, kind: "labels")
            case "safetensors":
                _ = try? ModelFile.decode(input, path: "fuzz.safetensors")
            case "gzip":
                _ = try? Gzip.decompress(input, path: "fuzz.gz")
            case "csv-stream":
                let chunkSize = 1 + Int(input.first ?? 0) % 16
                let firstReadSize = input.withUnsafeBufferPointer(csvEncodingProblem) == nil ? 1 + Int(input.dropFirst().first ?? 0) % 64 : 4096
                for kind in [TargetKind.classes(classNames: nil), .values, .none] {
                    XCTAssertEqual(csvTable(input, kind: kind, chunkSize: chunkSize, firstReadSize: firstReadSize), csvTable(input, kind: kind, chunkSize: nil))
                }
            case "csv-gzip":
                let inflated = try? Gzip.decompress(input, path: "fuzz.csv.gz")
                for kind in [TargetKind.classes(classNames: nil), .values, .none] {
                    let streamed = Result { () throws -> CSVTable in
                        let reader = try GzipReader(path: "fuzz.csv.gz", readCompressed: bytesSource(input))
                        var tableReader = try CSVTableReader(window: CSVStreamWindow { try reader.read(into: $0) }, path: "fuzz.csv.gz", singlePrecision: false)
                        return try tableReader.read(targetColumns: nil, kind: kind)
                    }.mapError { $0 as? InputError ?? InputError("\($0)") }
                    if let inflated { XCTAssertEqual(streamed, csvTable(inflated, kind: kind, chunkSize: nil, path: "fuzz.csv.gz")) }
                }
            default:
                if let header = try? NPYHeader.parse(UnsafeRawBufferPointer(bytes), path: "fuzz.npy"),
                   bytes.count >= header.dataOffset + header.elementCount * header.elementType.size {
                    for index in 0 ..< header.elementCount {
                        _ = NPYDataset.element(UnsafeRawPointer(bytes.baseAddress!) + header.dataOffset, index, header.elementType)
                    }
                }
            }
        }
    }
}
