import Foundation
import XCTest
@testable import MLP
import TestSupport

/// CSV, IDX/MNIST, gzip and the synthetic spirals: what they read, and the error for each
/// kind of bad input (file, line and value named).
final class DataReaderTests: XCTestCase {
    // MARK: CSV

    func testCSVWithByteOrderMarkCRLFAndQuotedFields() throws {
        let path = try write("\u{FEFF}id,\"x, y\", z ,label\r\n"
                             + "1, \"2.5\" ,-3e2,\"say \"\"hi\"\"\"\r\n"
                             + "4,5,6,\"a,b\"\r\n"
                             + "\"7\",8,9,plain\r\n", name: "quoted.csv")
        let data: Dataset<Double> = try CSVReader.read(path: path, targetColumns: nil, kind: .classes(classNames: nil))
        XCTAssertEqual(data.rowCount, 3)
        XCTAssertEqual(data.featureNames, ["id", "x, y", "z"])
        XCTAssertEqual(data.features, [1, 2.5, -300, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(data.targetNames, ["label"])
        XCTAssertEqual(data.classNames, ["a,b", "plain", "say \"hi\""])
        XCTAssertEqual(data.labels, [2, 0, 1])
        XCTAssertTrue(data.targetValues.isEmpty)
    }

    func testCSVWithoutFinalNewlineAndWithTrailingBlankLines() throws {
        let withoutNewline = try write("a,b\n1,2\n3,4", name: "no-newline.csv")
        let withBlankLines = try write("a,b\n1,2\n3,4\n\n  \r\n\n", name: "blank-lines.csv")
        for path in [withoutNewline, withBlankLines] {
            let data: Dataset<Float> = try CSVReader.read(path: path, targetColumns: nil, kind: .values)
            XCTAssertEqual(data.rowCount, 2, path)
            XCTAssertEqual(data.features, [1, 3], path)
            XCTAssertEqual(data.targetValues, [2, 4], path)
        }
    }

    func testQuotedFieldMayHoldALineBreakAndLinesAreStillCounted() throws {
        let path = try write("x,label\n1,\"two\nlines\"\noops,b\n", name: "multiline.csv")
        assertInputError(try CSVReader.read(path: path, targetColumns: nil, kind: .classes(classNames: nil)) as Dataset<Double>,
                         contains: ["multiline.csv:4:", "feature 'x'", "\"oops\""])
        let good = try write("x,label\n1,\"two\r\nlines\"\r\n2,b\r\n", name: "multiline-label.csv")
        let data: Dataset<Double> = try CSVReader.read(path: good, targetColumns: nil, kind: .classes(classNames: nil))
        XCTAssertEqual(data.classNames, ["b", "two\r\nlines"])
    }

    func testIntegerLabelsAreTheirOwnClassIndex() throws {
        let path = try write("x,label\n0.5,3\n1.5,0\n2.5,3\n3.5,1\n", name: "integers.csv")
        let data: Dataset<Double> = try CSVReader.read(path: path, targetColumns: nil, kind: .classes(classNames: nil))
        XCTAssertEqual(data.classNames, ["0", "1", "2", "3"])
        XCTAssertEqual(data.labels, [3, 0, 3, 1])
    }

    func testStringLabelsAreSortedAndNumbered() throws {
        let path = try write("x,label\n1,dog\n2, cat \n3,emu\n4,dog\n5,10\n", name: "strings.csv")
        let data: Dataset<Double> = try CSVReader.read(path: path, targetColumns: nil, kind: .classes(classNames: nil))
        XCTAssertEqual(data.classNames, ["10", "cat", "dog", "emu"])
        XCTAssertEqual(data.labels, [2, 1, 3, 2, 0])
    }

    func testLabelsWithALeadingZeroAreStrings() throws {
        let path = try write("x,label\n1,01\n2,2\n", name: "leading-zero.csv")
        let data: Dataset<Double> = try CSVReader.read(path: path, targetColumns: nil, kind: .classes(classNames: nil))
        XCTAssertEqual(data.classNames, ["01", "2"])
    }

    func testGivenClassNamesMapLabelsByName() throws {
        let path = try write("label,x\nemu,1\ncat,2\n", name: "given.csv")
        let data: Dataset<Double> = try CSVReader.read(path: path, targetColumns: ["label"],
                                                        kind: .classes(classNames: ["emu", "dog", "cat"]))
        XCTAssertEqual(data.classNames, ["emu", "dog", "cat"])
        XCTAssertEqual(data.labels, [0, 2])
        XCTAssertEqual(data.featureNames, ["x"])
        let unknown = try write("label,x\nemu,1\nyak,2\n", name: "unknown-label.csv")
        assertInputError(try CSVReader.read(path: unknown, targetColumns: ["label"],
                                            kind: .classes(classNames: ["emu", "dog", "cat"])) as Dataset<Double>,
                         contains: ["unknown-label.csv:3:", "\"yak\""])
    }

    func testRegressionTargetsInTheGivenOrderWithFeaturesInFileOrder() throws {
        let path = try write("y1,a,y2,b\n1,2,3,4\n5,6,7,8\n", name: "regression.csv")
        let data: Dataset<Float> = try CSVReader.read(path: path, targetColumns: ["y2", "y1"], kind: .values)
        XCTAssertEqual(data.featureNames, ["a", "b"])
        XCTAssertEqual(data.features, [2, 4, 6, 8])
        XCTAssertEqual(data.targetNames, ["y2", "y1"])
        XCTAssertEqual(data.targetValues, [3, 1, 7, 5])
        XCTAssertFalse(data.isClassification)
        XCTAssertEqual(data.outputCount, 2)
    }

    func testCSVErrorsNameFileLineAndValue() throws {
        let cases: [(name: String, text: String, targets: [String]?, kind: TargetKind, expected: [String])] = [
            ("empty.csv", "", nil, .values, ["empty.csv: file is empty"]),
            ("header-only.csv", "a,b\r\n\r\n", nil, .values, ["header-only.csv: no data rows"]),
            ("ragged.csv", "a,b,c\n1,2,3\n1,2,3,4\n", nil, .values, ["ragged.csv:3:", "expected 3 fields, got 4"]),
            ("short.csv", "a,b,c\n1,2\n", nil, .values, ["short.csv:2:", "expected 3 fields, got 2"]),
            ("blank-middle.csv", "a,b\n1,2\n\n3,4\n", nil, .values, ["blank-middle.csv:3:", "blank line"]),
            ("feature.csv", "x1,x2,y\n1,2,3\n4,5,6\n7,abc,8\n", nil, .values, ["feature.csv:4:", "feature 'x2' is not a number: \"abc\""]),
            ("nan.csv", "x1,y\n1,2\nNaN,3\n", nil, .values, ["nan.csv:3:", "feature 'x1' is not finite", "\"NaN\""]),
            ("inf.csv", "x1,y\n-inf,3\n", nil, .values, ["inf.csv:2:", "not finite", "\"-inf\""]),
            ("missing-value.csv", "x1,x2,y\n1,,3\n", nil, .values, ["missing-value.csv:2:", "feature 'x2' has no value"]),
            ("target.csv", "x,y\n1,2\n3,four\n", nil, .values, ["target.csv:3:", "target 'y' is not a number: \"four\""]),
            ("duplicate.csv", "a,b,a\n1,2,3\n", nil, .values, ["duplicate.csv:1:", "duplicate column name 'a'"]),
            ("no-name.csv", "a,,c\n1,2,3\n", nil, .values, ["no-name.csv:1:", "column 2 has no name"]),
            ("unknown-target.csv", "a,b,c\n1,2,3\n", ["foo"], .values, ["unknown-target.csv: no target column 'foo' (columns: a, b, c)"]),
            ("two-classes.csv", "a,b,c\n1,2,3\n", ["b", "c"], .classes(classNames: nil), ["two-classes.csv:", "exactly one target column"]),
            ("all-targets.csv", "a,b\n1,2\n", ["a", "b"], .values, ["all-targets.csv:1:", "no feature columns"]),
            ("unclosed.csv", "a,b\n1,2\n\"3,4\n", nil, .values, ["unclosed.csv:3:", "never closed"]),
            ("after-quote.csv", "a,b\n\"1\"x,2\n", nil, .values, ["after-quote.csv:2:", "'x' after a closing quote"]),
            ("empty-label.csv", "a,b\n1,\n", nil, .classes(classNames: nil), ["empty-label.csv:2:", "label is empty"]),
            ("huge-label.csv", "a,b\n1,0\n2,70000\n", nil, .classes(classNames: nil), ["huge-label.csv:3:", "\"70000\"", "too large"]),
            ("float-range.csv", "a,b\n1e39,0\n", nil, .values, ["float-range.csv:2:", "too large for float32", "\"1e39\""]),
        ]
        for testCase in cases {
            let path = try write(testCase.text, name: testCase.name)
            assertInputError(try CSVReader.read(path: path, targetColumns: testCase.targets, kind: testCase.kind) as Dataset<Float>,
                             contains: testCase.expected)
        }
        assertInputError(try CSVReader.read(path: "/nonexistent/data.csv", targetColumns: nil, kind: .values) as Dataset<Float>,
                         contains: ["/nonexistent/data.csv", "No such file"])
    }

    func testCSVAcceptsFloat32RangeWhenReadAsDouble() throws {
        let path = try write("a,b\n1e39,0\n", name: "double-range.csv")
        let data: Dataset<Double> = try CSVReader.read(path: path, targetColumns: nil, kind: .values)
        XCTAssertEqual(data.features, [1e39])
    }

    /// The fast path must agree bit for bit with a correctly rounded parser (Swift's own).
    func testNumberParsingMatchesSwiftsDoubleParser() {
        var generator = SplitMix64(seed: 7)
        func digits(_ count: Int) -> String {
            String((0 ..< count).map { _ in Character(String(generator.next() % 10)) })
        }
        var texts = ["0", "-0", "+1", "1.", ".5", "0.1", "1e22", "1e23", "9007199254740993", "123456789012345",
                     "1234567890123456", "0.000001", "1e-22", "4.9e-324", "1.7976931348623157e308", "0x1p3",
                     "inf", "-Infinity", "nan", "1e", "e5", "1.2.3", "--1", "1 2", "", ".", "+", "1e+", "12abc"]
        for _ in 0 ..< 20_000 {
            var text = generator.next() % 2 == 0 ? "-" : ""
            text += digits(Int(generator.next() % 10) + 1)
            if generator.next() % 2 == 0 { text += "." + digits(Int(generator.next() % 12)) }
            if generator.next() % 3 == 0 { text += "e" + (generator.next() % 2 == 0 ? "-" : "") + String(generator.next() % 40) }
            texts.append(text)
        }
        for text in texts {
            let parsed = Array(text.utf8).withUnsafeBufferPointer { parseDouble($0) }
            let expected = Double(text)
            if let expected, expected.isNaN {
                XCTAssertTrue(parsed?.isNaN ?? false, text)
            } else {
                XCTAssertEqual(parsed?.bitPattern, expected?.bitPattern, text)
            }
        }
    }

    // MARK: IDX and MNIST

    /// Three 2×3 images with labels 5, 0, 9.
    private let images: [UInt8] = [0, 255, 51, 102, 0, 1, 2, 3, 4, 5, 6, 7, 255, 255, 255, 0, 0, 0]
    private let digits: [UInt8] = [5, 0, 9]

    func testMNISTFromRawAndGzippedFiles() throws {
        let directory = try temporaryDirectory(self)
        try Data(idx(magic: 2051, dimensions: [3, 2, 3], data: images)).write(to: directory.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idx(magic: 2049, dimensions: [3], data: digits)).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(gzip(idx(magic: 2051, dimensions: [3, 2, 3], data: images))).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try Data(gzip(idx(magic: 2049, dimensions: [3], data: digits))).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        for split in [MNIST.Split.train, .test] {
            let data: Dataset<Float> = try MNIST.load(directory: directory.path, split: split)
            XCTAssertEqual(data.rowCount, 3)
            XCTAssertEqual(data.featureCount, 6)
            XCTAssertEqual(data.featureNames, ["pixel0", "pixel1", "pixel2", "pixel3", "pixel4", "pixel5"])
            XCTAssertEqual(data.features, images.map { Float($0) / 255 })
            XCTAssertEqual(data.labels, [5, 0, 9])
            XCTAssertEqual(data.classNames, (0 ... 9).map(String.init))
            XCTAssertEqual(data.targetNames, ["label"])
        }
        let double: Dataset<Double> = try MNIST.load(directory: directory.path, split: .test)
        XCTAssertEqual(double.features, images.map { Double($0) / 255 })
    }

    func testMNISTErrors() throws {
        let goodImages = idx(magic: 2051, dimensions: [3, 2, 3], data: images)
        let goodLabels = idx(magic: 2049, dimensions: [3], data: digits)
        var corrupted = gzip(goodImages)
        corrupted.replaceSubrange(12 ..< 20, with: repeatElement(0xAA, count: 8))
        let cases: [(images: [UInt8], labels: [UInt8], gzipImages: Bool, expected: [String])] = [
            (goodLabels, goodLabels, false, ["train-images-idx3-ubyte:", "magic number 2049", "expected 2051"]),
            (goodImages, goodImages, false, ["train-labels-idx1-ubyte:", "magic number 2051", "expected 2049"]),
            (Array(goodImages.dropLast()), goodLabels, false, ["train-images-idx3-ubyte:", "truncated", "18 bytes of data, the file has 17"]),
            (goodImages + [0], goodLabels, false, ["train-images-idx3-ubyte:", "19"]),
            (Array(goodImages.prefix(10)), goodLabels, false, ["train-images-idx3-ubyte:", "truncated"]),
            // A header claiming 4 billion 65535×65535 images: refused by size, not by allocating.
            (idx(magic: 2051, dimensions: [0xFFFF_FFFF, 0xFFFF, 0xFFFF], data: images), goodLabels, false,
             ["train-images-idx3-ubyte:", "truncated"]),
            (goodImages, idx(magic: 2049, dimensions: [2], data: [1, 2]), false, ["train-labels-idx1-ubyte:", "2 labels", "3 images"]),
            (goodImages, idx(magic: 2049, dimensions: [3], data: [1, 12, 2]), false, ["train-labels-idx1-ubyte:", "label 12"]),
            (corrupted, goodLabels, true, ["train-images-idx3-ubyte.gz: corrupted gzip stream ("]),
            (Array(gzip(goodImages).dropLast(12)), goodLabels, true, ["train-images-idx3-ubyte.gz: corrupted gzip stream (", "truncated"]),
            (goodImages, goodLabels, true, ["train-images-idx3-ubyte.gz: corrupted gzip stream ("]),
        ]
        for testCase in cases {
            let directory = try temporaryDirectory(self)
            let imagesName = "train-images-idx3-ubyte" + (testCase.gzipImages ? ".gz" : "")
            try Data(testCase.images).write(to: directory.appendingPathComponent(imagesName))
            try Data(testCase.labels).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
            assertInputError(try MNIST.load(directory: directory.path, split: .train) as Dataset<Float>, contains: testCase.expected)
        }
        let empty = try temporaryDirectory(self)
        assertInputError(try MNIST.load(directory: empty.path, split: .test) as Dataset<Float>,
                         contains: ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "not found"])
    }

    func testGzipReadsConcatenatedMembers() throws {
        let joined = gzip(Array("hello, ".utf8)) + gzip(Array("world".utf8))
        XCTAssertEqual(try Gzip.decompress(joined, path: "x.gz"), Array("hello, world".utf8))
        let large = (0 ..< 300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        XCTAssertEqual(try Gzip.decompress(gzip(large), path: "large.gz"), large)
    }

    // MARK: Synthetic spirals

    func testSpiralsAreDeterministicBalancedAndBounded() {
        let a: Dataset<Double> = Synthetic.spirals(rows: 300, seed: 42)
        let b: Dataset<Double> = Synthetic.spirals(rows: 300, seed: 42)
        let c: Dataset<Double> = Synthetic.spirals(rows: 300, seed: 43)
        XCTAssertEqual(a.features, b.features)
        XCTAssertNotEqual(a.features, c.features)
        XCTAssertEqual(a.featureNames, ["x", "y"])
        XCTAssertEqual(a.classNames, ["0", "1", "2"])
        XCTAssertEqual(a.labels.prefix(6), [0, 1, 2, 0, 1, 2])
        for row in 0 ..< a.rowCount {
            XCTAssertLessThanOrEqual(a.features[2 * row] * a.features[2 * row] + a.features[2 * row + 1] * a.features[2 * row + 1], 1)
        }
        let single: Dataset<Float> = Synthetic.spirals(rows: 300, seed: 42)
        XCTAssertEqual(single.features, a.features.map { Float($0) })
        let five: Dataset<Float> = Synthetic.spirals(rows: 10, classes: 5, seed: 1)
        XCTAssertEqual(five.classNames.count, 5)
        XCTAssertEqual(five.labels, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    }

    // MARK: Helpers

    func write(_ text: String, name: String) throws -> String {
        let url = try temporaryDirectory(self).appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }
}
