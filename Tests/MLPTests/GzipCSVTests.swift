import Foundation
import XCTest
@testable import MLP
import TestSupport

/// Gzipped CSV, read as a stream through a window onto the inflated bytes: the same rows and
/// values as the text, whatever the file's name; the same result or error as the whole-file
/// reader wherever the window's edges fall; the CSV's bounds on a stream; corrupted streams.
final class GzipCSVTests: ScratchFolderTestCase {
    // MARK: The same data as the text

    func testGzippedCSVReadsAsItsText() throws {
        try writeClassificationCSV(directory.appendingPathComponent("c.csv"), rows: 700, seed: 3)
        try writeRegressionCSV(directory.appendingPathComponent("r.csv"), rows: 700, seed: 4)
        let cases: [(name: String, targets: [String]?, kind: TargetKind)] = [
            ("c", nil, .classes(classNames: nil)),
            ("c", nil, .classes(classNames: ["emu", "dog", "cat"])),
            ("c", ["label"], .none),
            ("r", ["y2", "y1"], .values),
        ]
        for testCase in cases {
            let text = try [UInt8](Data(contentsOf: directory.appendingPathComponent(testCase.name + ".csv")))
            try write(gzip(text), name: testCase.name + ".csv.gz")
            try write(gzip(text), name: testCase.name + "-gzip.csv")   // gzip under a .csv name
            // Two members cut inside a record, as `cat a.gz b.gz` makes them.
            let cut = text.count / 3 + 5
            try write(gzip(Array(text[..<cut])) + gzip(Array(text[cut...])), name: testCase.name + "-members.csv.gz")
            let variants = [".csv.gz", "-gzip.csv", "-members.csv.gz"].map { path(testCase.name + $0) }
            let single: Dataset<Float> = try CSVReader.read(path: path(testCase.name + ".csv"), targetColumns: testCase.targets, kind: testCase.kind)
            let double: Dataset<Double> = try CSVReader.read(path: path(testCase.name + ".csv"), targetColumns: testCase.targets, kind: testCase.kind)
            XCTAssertEqual(single.rowCount, 700)
            for variant in variants {
                assertSameData(try CSVReader.read(path: variant, targetColumns: testCase.targets, kind: testCase.kind), single, variant)
                assertSameData(try CSVReader.read(path: variant, targetColumns: testCase.targets, kind: testCase.kind), double, variant)
            }
        }
    }

    func testGzippedCSVFromAPipe() throws {
        try writeClassificationCSV(directory.appendingPathComponent("c.csv"), rows: 50, seed: 5)
        let compressed = Data(gzip(try [UInt8](Data(contentsOf: directory.appendingPathComponent("c.csv")))))
        let fifo = path("pipe")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        Thread {
            guard let pipe = FileHandle(forWritingAtPath: fifo) else { return }
            pipe.write(compressed)
            try? pipe.close()
        }.start()
        let piped: Dataset<Double> = try CSVReader.read(path: fifo, targetColumns: nil, kind: .classes(classNames: nil))
        assertSameData(piped, try CSVReader.read(path: path("c.csv"), targetColumns: nil, kind: .classes(classNames: nil)), "pipe")
    }

    func testEmptyAndTinyGzipMembers() throws {
        try write(gzip([]), name: "empty.csv.gz")
        assertInputError(try CSVReader.read(path: path("empty.csv.gz"), targetColumns: nil, kind: .values) as Dataset<Double>,
                         contains: ["empty.csv.gz: file is empty"])
        // Empty members between and around the data are nothing, as for zcat.
        try write(gzip([]) + gzip(Array("a,b\n1,".utf8)) + gzip([]) + gzip(Array("2\n".utf8)) + gzip([]), name: "members.csv.gz")
        let data: Dataset<Double> = try CSVReader.read(path: path("members.csv.gz"), targetColumns: nil, kind: .values)
        XCTAssertEqual(data.features, [1])
        XCTAssertEqual(data.targetValues, [2])
    }

    // MARK: The window's edges

    /// The streamed reader gives the whole-file reader's table, or its error, for text whose
    /// special bytes (quotes, CRLF, lone CR, blank lines, errors) fall at every place relative
    /// to the window's edges: every first read from 1 byte to the whole text, with refills of
    /// at least 1, 2, 3 or 7 bytes.
    func testStreamedReaderMatchesTheWholeFileReaderWhereverTheWindowEnds() throws {
        let texts = [
            "id,\"x, y\", z ,label\r\n1, \"2.5\" ,-3e2,\"say \"\"hi\"\"\"\r\n4,5,6,\"a,b\"\r\n\"7\",8,9,plain\r\n",
            "\u{FEFF}x,label\r\n1,\"two\r\nlines\"\r\n2,b\r\n",
            "x,label\n1,\"two\nlines\"\noops,b\n",
            "x,label\n1,\"\"\"\"\n2,\"a\"\"b\"\n3,\"\"\n",
            "a,b\n1,2\n3,4\n\n  \r\n\n",
            "a,b\n1,2\n3,4",
            "a,b\r1,2\r3,4\r\r",
            "a,b\r\n1,2\r\n\r\n3,4\r\n",
            "a,b\n1,2\n\"3,4\n",
            "a,b\n\"1\"x,2\n",
            "a,b\n1,2,3\n",
            "a,b\n1,abc\n",
            "a,b\n1,0\n2,70000\n",
            "a,b\n\t 1 \t, 2 \n 3,\"4\"  \n",
            "a;b;label\n1;2;0\n",
            "", "\n\n", "a,b\n", "a,b\n\n\n",
        ]
        let kinds: [TargetKind] = [.classes(classNames: nil), .values, .none]
        var compared = 0
        for text in texts {
            let bytes = Array(text.utf8)
            for kind in kinds {
                let whole = table(bytes, kind: kind, chunkSize: nil)
                for firstReadSize in 1 ... max(bytes.count, 1) {
                    for chunkSize in [1, 2, 3, 7] {
                        XCTAssertEqual(table(bytes, kind: kind, chunkSize: chunkSize, firstReadSize: firstReadSize), whole,
                                       "\(kind), first read \(firstReadSize), refills of \(chunkSize): \(text.debugDescription)")
                        compared += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(compared, 3000)
    }

    /// A stream of short records is read through a window of about two chunks.
    func testTheWindowStaysSmall() throws {
        let text = Array(("a,b\n" + String(repeating: "0.123456,1\n", count: 50_000)).utf8)
        let window = CSVStreamWindow(chunkSize: 1 << 14, source: bytesSource(text))
        var reader = try CSVTableReader(window: window, path: "w.csv", singlePrecision: false)
        let table = try reader.read(targetColumns: nil, kind: .values)
        XCTAssertEqual(table.rowCount, 50_000)
        XCTAssertEqual(window.bytesRead, text.count)
        XCTAssertLessThanOrEqual(window.capacity, 2 << 14, "a window of \(window.capacity) bytes for records of 11")
    }

    // MARK: Bounds on a stream

    func testRecordBoundsOnAStream() throws {
        func scan(_ text: String, chunkSize: Int = 7) throws -> (line: Int, capacity: Int) {
            let window = CSVStreamWindow(chunkSize: chunkSize, source: bytesSource(Array(text.utf8)))
            var scanner = try CSVScanner(window: window, path: "s.csv", maximumRecordBytes: 100, maximumFieldCount: 10)
            var fields: [CSVField] = []
            var line = 0
            while try !scanner.restIsBlank() { line = try scanner.nextRecord(into: &fields) }
            return (line, window.capacity)
        }
        XCTAssertEqual(try scan("a\n" + String(repeating: "x", count: 100) + "\n").line, 2)
        assertInputError(try scan("a\n" + String(repeating: "x", count: 5000)),
                         contains: ["s.csv:2: a record longer than 100 bytes (no line break)", "at most 100 bytes"])
        assertInputError(try scan("a\n" + String(repeating: "x", count: 5000), chunkSize: 1),
                         contains: ["s.csv:2: a record longer than 100 bytes"])
        // A quote that is never closed: on a stream, refused at the bound (it might close later).
        assertInputError(try scan("a\n\"" + String(repeating: "q\n", count: 5000)),
                         contains: ["s.csv:2: a record longer than 100 bytes"])
        assertInputError(try scan(String(repeating: ",", count: 50)), contains: ["more than 10 fields in one record"])
        // Blank lines, which are accepted at the end of a file: a run is bounded like a record.
        XCTAssertEqual(try scan("a\n1\n" + String(repeating: "\n", count: 100)).line, 2)
        assertInputError(try scan("a\n1\n" + String(repeating: " \n", count: 5000)),
                         contains: ["s.csv:3: more than 100 bytes of blank lines"])
        // The window reads the record bound and about a chunk more, not the stream.
        let window = CSVStreamWindow(chunkSize: 1, source: bytesSource(Array(("a\n" + String(repeating: "x", count: 100_000)).utf8)))
        var scanner = try CSVScanner(window: window, path: "s.csv", maximumRecordBytes: 10_000, maximumFieldCount: 10)
        var fields: [CSVField] = []
        XCTAssertEqual(try scanner.nextRecord(into: &fields), 1)
        assertInputError(try scanner.nextRecord(into: &fields), contains: ["s.csv:2: a record longer than 10000 bytes"])
        XCTAssertLessThanOrEqual(window.bytesRead, 10_000 + 4096, "read \(window.bytesRead) bytes of a line refused at 10,000")
    }

    // MARK: Corrupted streams

    func testCorruptedStreamsAreOneErrorNamingTheFile() throws {
        try writeClassificationCSV(directory.appendingPathComponent("c.csv"), rows: 300, seed: 6)
        let good = gzip(try [UInt8](Data(contentsOf: directory.appendingPathComponent("c.csv"))))
        func flipped(_ offset: Int, _ mask: UInt8 = 0xFF) -> [UInt8] { var bytes = good; bytes[offset] ^= mask; return bytes }
        let cases: [(name: String, bytes: [UInt8], expected: String)] = [
            ("truncated", Array(good.prefix(good.count / 2)), "unexpected end of file: the file is truncated"),
            ("no-trailer", Array(good.dropLast(8)), "unexpected end of file: the file is truncated"),
            ("crc", flipped(good.count - 8, 1), "incorrect data check"),
            ("length", flipped(good.count - 3, 1), "incorrect length check"),
            ("method", flipped(2, 0x01), "unknown compression method"),
            ("flags", flipped(3, 0xE0), "unknown header flags set"),
            ("trailing-garbage", good + Array("garbage".utf8), "trailing data after the end of the gzip stream, at byte \(good.count)"),
            ("trailing-zeros", good + [0, 0, 0, 0], "trailing data after the end of the gzip stream"),
            ("trailing-byte", good + [0x1f], "trailing data after the end of the gzip stream"),
            ("magic-only", [0x1f, 0x8b], "unexpected end of file: the file is truncated"),
        ]
        for testCase in cases {
            try write(testCase.bytes, name: testCase.name + ".csv.gz")
            assertInputError(try CSVReader.read(path: path(testCase.name + ".csv.gz"), targetColumns: nil, kind: .classes(classNames: nil)) as Dataset<Float>,
                             contains: [testCase.name + ".csv.gz: corrupted gzip stream (" + testCase.expected])
        }
        // Cut anywhere: always the truncated stream, never a partial file read as whole.
        for length in stride(from: 2, to: good.count, by: 97) {
            try write(Array(good.prefix(length)), name: "cut.csv.gz")
            assertInputError(try CSVReader.read(path: path("cut.csv.gz"), targetColumns: nil, kind: .classes(classNames: nil)) as Dataset<Float>,
                             contains: ["cut.csv.gz: corrupted gzip stream (unexpected end of file"])
        }
        // One byte flipped anywhere in the deflate data: a corrupted stream, or (where the
        // bad bytes still inflate) the CRC-32 at the end; never read as good data.
        for offset in stride(from: 10, to: good.count - 8, by: 211) {
            try write(flipped(offset), name: "flipped.csv.gz")
            assertInputError(try CSVReader.read(path: path("flipped.csv.gz"), targetColumns: nil, kind: .classes(classNames: nil)) as Dataset<Float>,
                             contains: ["flipped.csv.gz: corrupted gzip stream ("])
        }
    }

    /// The same messages as for text: a gzip file whose content is not CSV.
    func testGzipOfSomethingElseIsNamedAsTextWouldBe() throws {
        let contents: [(bytes: [UInt8], expected: String)] = [
            ([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0], "holds a NUL byte at offset 7: a binary file, not CSV text"),
            ([0xFF, 0xFE] + Array("a,b\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, "looks like UTF-16"),
            (Array("a;b;label\n1;2;0\n".utf8), ":1: no commas in the header; the file seems to use ';'"),
        ]
        for (index, content) in contents.enumerated() {
            try write(content.bytes, name: "plain\(index).csv")
            try write(gzip(content.bytes), name: "packed\(index).csv")
            assertInputError(try CSVReader.read(path: path("plain\(index).csv"), targetColumns: nil, kind: .values) as Dataset<Float>,
                             contains: ["plain\(index).csv" + (content.expected.hasPrefix(":") ? "" : ": ") + content.expected])
            assertInputError(try CSVReader.read(path: path("packed\(index).csv"), targetColumns: nil, kind: .values) as Dataset<Float>,
                             contains: ["packed\(index).csv" + (content.expected.hasPrefix(":") ? "" : ": ") + content.expected])
        }
    }

    // MARK: Helpers

    func write(_ bytes: [UInt8], name: String) throws { try Data(bytes).write(to: directory.appendingPathComponent(name)) }

    /// What `CSVTableReader` makes of `bytes`: the whole file (`chunkSize` nil) or a stream
    /// through a window that reads `firstReadSize` bytes first and `chunkSize` bytes at least
    /// on each refill.
    func table(_ bytes: [UInt8], kind: TargetKind, chunkSize: Int?, firstReadSize: Int = 4096) -> Result<CSVTable, InputError> {
        Result {
            guard let chunkSize else {
                return try bytes.withUnsafeBufferPointer { bytes in
                    var reader = CSVTableReader(bytes: bytes, path: "t.csv", singlePrecision: true)
                    return try reader.read(targetColumns: nil, kind: kind)
                }
            }
            let window = CSVStreamWindow(chunkSize: chunkSize, firstReadSize: firstReadSize, source: bytesSource(bytes))
            var reader = try CSVTableReader(window: window, path: "t.csv", singlePrecision: true)
            return try reader.read(targetColumns: nil, kind: kind)
        }.mapError { $0 as? InputError ?? InputError("not an InputError: \($0)") }
    }

    func assertSameData<T: Scalar>(_ a: Dataset<T>, _ b: Dataset<T>, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.rowCount, b.rowCount, name, file: file, line: line)
        XCTAssertEqual(a.featureCount, b.featureCount, name, file: file, line: line)
        XCTAssertTrue(a.features == b.features, name, file: file, line: line)
        XCTAssertEqual(a.featureNames, b.featureNames, name, file: file, line: line)
        XCTAssertEqual(a.labels, b.labels, name, file: file, line: line)
        XCTAssertEqual(a.classNames, b.classNames, name, file: file, line: line)
        XCTAssertTrue(a.targetValues == b.targetValues, name, file: file, line: line)
        XCTAssertEqual(a.targetNames, b.targetNames, name, file: file, line: line)
    }
}
