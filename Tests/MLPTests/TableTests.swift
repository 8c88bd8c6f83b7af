import XCTest
@testable import MLP
import TestSupport

/// Tables as they come (docs/data.md): column roles, missing values, categories, the fitted
/// preprocessing and its encoding, and how the model file keeps it.
final class TableTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory(self) }

    func write(_ text: String, name: String = "t.csv") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func table(_ text: String, options: TableOptions = TableOptions(), target: [String]? = nil,
               kind: TargetKind = .classes(classNames: nil)) throws -> RawTable {
        let path = try write(text)
        var table = try CSVReader.readTable(path: path, targetColumns: target, kind: kind, plan: .infer(options), singlePrecision: false)
        return RawTable(&table, path: path)
    }

    // MARK: Roles and missing values

    func testRolesFollowTheValuesAndMissingSpellingsAreGaps() throws {
        let raw = try table("n,c,m,code,y\n1.5,red,,3,a\n2,blue,NA,4,b\n-3e2,red,7,3,a\nNaN,?,null,5,b\n")
        XCTAssertEqual(raw.columns.map(\.kind), [.numeric, .categorical, .numeric, .numeric])
        XCTAssertEqual(raw.columns.map(\.missing), [1, 1, 3, 0])
        XCTAssertEqual(raw.columns[1].categories.texts, ["red", "blue"], "numbered by first appearance")
        // Row-major: the numbers, a category's number, NaN where missing.
        XCTAssertEqual(raw.values[0 ..< 4].map { $0.isNaN ? -99 : $0 }, [1.5, 0, -99, 3])
        XCTAssertTrue(raw.values[12].isNaN && raw.values[13].isNaN)
        // Named categorical: integer codes are texts.
        var options = TableOptions()
        options.categorical = ["code"]
        let coded = try table("n,code,y\n1,3,a\n2,03,b\n3,3,a\n", options: options)
        XCTAssertEqual(coded.columns[1].kind, .categorical)
        XCTAssertEqual(coded.columns[1].categories.texts, ["3", "03"], "\"03\" is not \"3\": a category is its text")
        // A column of text only is categorical whatever the list of missing spellings says of the rest.
        options = TableOptions()
        options.missingValues = ["-999"]
        let sentinel = try table("n,y\n-999,a\n4,b\n\n", options: options)
        XCTAssertEqual(sentinel.columns[0].missing, 1)
        XCTAssertThrowsError(try table("n,y\n,a\n4,b\n", options: options)) { error in
            XCTAssertTrue("\(error)".contains("feature 'n' is not a number: \"\"") || "\(error)".contains("feature 'n'"), "\(error)")
        }
    }

    func testAColumnOfNumbersAndTextIsRefusedNamingItsFirstText() throws {
        for text in ["x,y\n1,a\n2,b\nabc,a\n4,b\nxyz,a\n", "x,y\nabc,a\n2,b\n"] {
            XCTAssertThrowsError(try table(text)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(":\(text.hasPrefix("x,y\n1") ? 4 : 2): feature 'x' is not a number: \"abc\""), message)
                XCTAssertTrue(message.contains("--categorical x") && message.contains("--missing-values"), message)
                XCTAssertFalse(message.contains("\n"), "one line")
            }
        }
        // A typo among numbers is not a category.
        XCTAssertThrowsError(try table("x,y\n1.5,a\n1..5,b\n2.5,a\n")) { XCTAssertTrue("\($0)".contains("\"1..5\""), "\($0)") }
        // "nan" is not in the default list: a number that is not finite, as before.
        XCTAssertThrowsError(try table("x,y\n1,a\nnan,b\n")) { XCTAssertTrue("\($0)".contains("is not finite"), "\($0)") }
    }

    func testCategoricalOptionsNameFeatures() throws {
        for (columns, expected) in [(["y"], "--categorical y is the target"), (["w"], "--categorical w is the --sample-weight column"),
                                    (["nope"], "--categorical nope: no such column")] {
            var options = TableOptions()
            options.categorical = columns
            let path = try write("x,w,y\n1,1,a\n2,1,b\n")
            XCTAssertThrowsError(try CSVReader.readTable(path: path, targetColumns: ["y"], kind: .classes(classNames: nil),
                                                         plan: .infer(options), singlePrecision: false, weightColumn: "w")) {
                XCTAssertTrue("\($0)".contains(expected), "\($0)")
            }
        }
        XCTAssertThrowsError(try TableOptions.missingValues(parsing: "")) { XCTAssertTrue("\($0)".contains("at least one spelling"), "\($0)") }
        XCTAssertEqual(try TableOptions.missingValues(parsing: ",NA,NA"), ["", "NA"])
        XCTAssertThrowsError(try TableOptions.columns(parsing: "a,,b", option: "--categorical"))
        XCTAssertThrowsError(try TableOptions.columns(parsing: "a,a", option: "--categorical"))
    }

    func testAMissingTargetIsRefusedOrDropped() throws {
        XCTAssertThrowsError(try table("x,y\n1,a\n2,NA\n3,b\n")) { error in
            XCTAssertTrue("\(error)".contains("t.csv:3: target 'y' is missing (\"NA\")"), "\(error)")
            XCTAssertTrue("\(error)".contains("--drop-missing-target"), "\(error)")
        }
        XCTAssertThrowsError(try table("x,y\n1,2\n2,\n", kind: .values)) { XCTAssertTrue("\($0)".contains("t.csv:3: target 'y' is missing"), "\($0)") }
        var options = TableOptions()
        options.dropMissingTarget = true
        let dropped = try table("x,y\n1,a\n2,NA\n3,b\n4,\n", options: options)
        XCTAssertEqual(dropped.rowCount, 2)
        XCTAssertEqual(dropped.droppedRows, 2)
        XCTAssertEqual(dropped.values, [1, 3], "the dropped rows' features are not kept")
        XCTAssertThrowsError(try table("x,y\n1,\n", options: options)) { XCTAssertTrue("\($0)".contains("every row's target is missing"), "\($0)") }
    }

    /// A category is its exact bytes: quotes, commas, line breaks, and "é" composed and decomposed
    /// are different categories (`String`'s == would make those two one).
    func testCategoriesAreKeptExactly() throws {
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        let text = "c,y\n\"a,b\",x\n\"say \"\"hi\"\"\",y\n\"two\nlines\",x\n\(composed),y\n\(decomposed),x\n\"a,b\",y\n"
        let raw = try table(text)
        let expected = ["a,b", "say \"hi\"", "two\nlines", composed, decomposed]
        XCTAssertEqual(raw.columns[0].categories.count, 5)
        for (number, text) in expected.enumerated() { XCTAssertEqual(Array(raw.columns[0].categories.bytes(of: number)), Array(text.utf8)) }
        let fitted = try TablePreprocessing(fitting: raw, rows: Array(0 ..< raw.rowCount), options: TableOptions())
        guard case .categorical(let column) = fitted.columns[0] else { return XCTFail("not categorical") }
        XCTAssertEqual(column.categories.map { Array($0.utf8) }, expected.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
    }

    // MARK: Fitting

    func testMediansAreExact() throws {
        var random = SystemRandomNumberGenerator()
        for count in [1, 2, 3, 10, 11, 1000, 1001] {
            for duplicates in [false, true] {
                let values = (0 ..< count).map { _ in duplicates ? Double(Int.random(in: 0 ..< 5, using: &random)) : Double.random(in: -1e6 ... 1e6) }
                let sorted = values.sorted()
                let expected = count % 2 == 1 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2
                var scratch = values
                XCTAssertEqual(median(&scratch), expected, "\(count) values")
                for k in [0, count / 3, count - 1] {
                    var again = values
                    XCTAssertEqual(select(&again, k), sorted[k])
                }
            }
        }
        var sorted = (0 ..< 5000).map(Double.init)   // quickselect's bad case for a naive pivot
        XCTAssertEqual(median(&sorted), 2499.5)
    }

    /// Nothing of the held-out rows is fitted: medians, indicators and categories come from `rows`.
    func testFittedOnTheTrainingRowsOnly() throws {
        let raw = try table("n,c,y\n1,red,a\n2,blue,b\n3,red,a\n,green,b\n1000,gold,a\n")
        let fitted = try TablePreprocessing(fitting: raw, rows: [0, 1, 2], options: TableOptions())
        XCTAssertEqual(fitted.columns, [.numeric(.init(name: "n", median: 2, indicator: false)),
                                        .categorical(.init(name: "c", categories: ["blue", "red"], missingColumn: false, infrequent: [],
                                                           missingIsInfrequent: false))])
        let (data, unseen): (Dataset<Double>, [Int]) = try fitted.encode(raw, rows: [3, 4])
        XCTAssertEqual(unseen, [2], "green and gold were not seen")
        XCTAssertEqual(gathered(data), [[2, 0, 0], [1000, 0, 0]], "a missing number is the median; unseen categories are zeros")
        XCTAssertThrowsError(try TablePreprocessing(fitting: raw, rows: [3], options: TableOptions())) {
            XCTAssertTrue("\($0)".contains("column 'n' is missing in every training row"), "\($0)")
        }
    }

    /// The layout: numbers, indicators, then each categorical column's categories, its missing
    /// values' column and its infrequent column; gathering writes the zeros and ones.
    func testEncodingLayout() throws {
        var options = TableOptions()
        options.minCategoryCount = 2
        let raw = try table("c,n,d,y\nb,1,x,a\na,,x,b\nb,3,,a\nz,4,x,b\n,5,y,a\na,6,y,b\n", options: options)
        let fitted = try TablePreprocessing(fitting: raw, rows: Array(0 ..< 6), options: options)
        XCTAssertEqual(fitted.featureNames, ["n", "n_missing", "c=a", "c=b", "c=<infrequent>", "d=x", "d=y", "d=<infrequent>"])
        XCTAssertEqual(fitted.blockWidths, [1, 3, 3])
        let (data, _): (Dataset<Float>, [Int]) = try fitted.encode(raw, rows: Array(0 ..< 6))
        XCTAssertEqual(gathered(data), [
            [1, 0, 0, 1, 0, 1, 0, 0],
            [4, 1, 1, 0, 0, 1, 0, 0],   // n missing: its median 4 and the indicator
            [3, 0, 0, 1, 0, 0, 0, 1],   // d missing once: infrequent, as scikit-learn groups a rare NaN
            [4, 0, 0, 0, 1, 1, 0, 0],   // z seen once: infrequent
            [5, 0, 0, 0, 1, 0, 1, 0],   // c missing once: infrequent
            [6, 0, 1, 0, 0, 0, 1, 0],
        ])
        // The one-hot columns are never standardized; the numbers are, as before.
        let statistics = Standardization(of: data)
        XCTAssertEqual(Array(statistics.mean.dropFirst()), [0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(statistics.standardDeviation.dropFirst()), [1, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(statistics.mean[0], Double(1 + 4 + 3 + 4 + 5 + 6) / 6, accuracy: 1e-12)
        // Rows selected (a validation split) keep their 0/1 columns.
        XCTAssertEqual(gathered(data.rows([5, 0])), [gathered(data)[5], gathered(data)[0]])
    }

    /// `--max-categories` and `--min-category-count` group as scikit-learn's OneHotEncoder: counts
    /// a:5 b:3 c:3 d:1 and missing:2 (sorted a, b, c, d, NaN). max_categories=3: 6 columns > 3, so
    /// the 2 most frequent by a stable sort of the counts stay (a, c: b ties with c and comes
    /// first, so it goes); min_frequency=3: d and NaN; both: b, d and NaN, then a, c stay.
    func testInfrequentCategoriesAsScikitLearn() throws {
        let rows = ["a", "a", "a", "a", "a", "b", "b", "b", "c", "c", "c", "d", "", ""]
        let raw = try table("c,y\n" + rows.map { "\($0),k\n" }.joined())
        func fitted(max: Int?, min: Int?) throws -> TablePreprocessing.CategoricalColumn {
            var options = TableOptions()
            (options.maxCategories, options.minCategoryCount) = (max, min)
            guard case .categorical(let column) = try TablePreprocessing(fitting: raw, rows: Array(0 ..< rows.count), options: options).columns[0]
            else { throw InputError("not categorical") }
            return column
        }
        let byMax = try fitted(max: 3, min: nil)
        XCTAssertEqual([byMax.categories, byMax.infrequent], [["a", "c"], ["b", "d"]])
        XCTAssertTrue(byMax.missingIsInfrequent && !byMax.missingColumn)
        XCTAssertEqual(byMax.width, 3)
        let byCount = try fitted(max: nil, min: 3)
        XCTAssertEqual([byCount.categories, byCount.infrequent], [["a", "b", "c"], ["d"]])
        XCTAssertTrue(byCount.missingIsInfrequent)
        let none = try fitted(max: 6, min: nil)
        XCTAssertEqual([none.categories, none.infrequent], [["a", "b", "c", "d"], []])
        XCTAssertTrue(none.missingColumn)
        let one = try fitted(max: 1, min: nil)
        XCTAssertEqual([one.categories, one.infrequent], [[], ["a", "b", "c", "d"]])
        XCTAssertEqual(one.width, 1)
    }

    func testTooManyCategoriesAreRefused() throws {
        let count = TableOptions.largestCategoryCount + 1
        let raw = try table("id,y\n" + (0 ..< count).map { "id\($0),k\n" }.joined())
        XCTAssertThrowsError(try TablePreprocessing(fitting: raw, rows: Array(0 ..< count), options: TableOptions())) { error in
            XCTAssertTrue("\(error)".contains("column 'id' has 65537 distinct values") && "\(error)".contains("--max-categories"), "\(error)")
        }
        var options = TableOptions()
        options.maxCategories = 10
        XCTAssertEqual(try TablePreprocessing(fitting: raw, rows: Array(0 ..< count), options: options).inputCount, 10)
    }

    // MARK: The model file

    func testModelFileKeepsThePreprocessingExactly() throws {
        let text = "c,n,y\n\"a,b\",1.25,x\n\"q\"\"uote\",,y\n\"line\nbreak\",0.1,x\ncaf\u{E9},3,y\ncafe\u{301},1e-300,x\n"
        let raw = try table(text)
        let preprocessing = try TablePreprocessing(fitting: raw, rows: Array(0 ..< raw.rowCount), options: TableOptions())
        let file = try modelFile(preprocessing)
        let path = directory.appendingPathComponent("m.safetensors").path
        try file.write(to: path)
        let read = try ModelFile.read(path: path)
        XCTAssertEqual(read.preprocessing, preprocessing)
        guard case .categorical(let column) = try XCTUnwrap(read.preprocessing).columns[0] else { return XCTFail() }
        XCTAssertTrue(column.categories.contains { $0.utf8.elementsEqual("cafe\u{301}".utf8) })
        XCTAssertTrue(column.categories.contains { $0.utf8.elementsEqual("caf\u{E9}".utf8) })
        XCTAssertEqual(read.featureNames, preprocessing.featureNames)
        // Writing it again gives the same bytes.
        let again = directory.appendingPathComponent("again.safetensors").path
        try read.write(to: again)
        XCTAssertEqual(FileManager.default.contents(atPath: again), FileManager.default.contents(atPath: path))
    }

    /// A model file whose categories, medians or options were edited is refused when read; so is
    /// a newer format; a file without a format version (before preprocessing) still loads.
    func testEditedPreprocessingIsRefused() throws {
        let raw = try table("c,n,y\nred,1,x\nblue,,y\nred,3,x\n")
        let file = try modelFile(try TablePreprocessing(fitting: raw, rows: [0, 1, 2], options: TableOptions()))
        let metadata = file.metadata()
        let columns = try XCTUnwrap(metadata[TablePreprocessing.Key.columns])
        let edits: [(String, String, String)] = [
            (TablePreprocessing.Key.columns, columns.replacingOccurrences(of: "\"red\"", with: "\"rose\""), "does not match its checksum"),
            (TablePreprocessing.Key.columns, columns.replacingOccurrences(of: "\"median\":2", with: "\"median\":2.5"),
             "does not match its checksum"),
            (TablePreprocessing.Key.options, "{}", "does not match its checksum"),
            (TablePreprocessing.Key.formatVersion, "3", "model format version 3 was written by a newer mlp"),
            (TablePreprocessing.Key.formatVersion, "x", "'format_version' is not valid"),
        ]
        for (key, value, expected) in edits {
            var edited = metadata
            edited[key] = value
            let path = directory.appendingPathComponent("edited.safetensors").path
            try SafeTensors.write(tensors: file.tensors(), metadata: edited, to: path)
            XCTAssertThrowsError(try ModelFile.read(path: path), key) { XCTAssertTrue("\($0)".contains(expected), "\(key): \($0)") }
        }
        var withoutVersion = metadata
        withoutVersion[TablePreprocessing.Key.formatVersion] = nil
        let path = directory.appendingPathComponent("unversioned.safetensors").path
        try SafeTensors.write(tensors: file.tensors(), metadata: withoutVersion, to: path)
        XCTAssertThrowsError(try ModelFile.read(path: path)) { XCTAssertTrue("\($0)".contains("without 'format_version'"), "\($0)") }
        // A category that is also a missing spelling cannot be told from a gap.
        var options = TableOptions()
        options.missingValues = ["?"]
        let preprocessing = TablePreprocessing(columns: [.categorical(.init(name: "c", categories: ["?", "a"], missingColumn: false,
                                                                            infrequent: [], missingIsInfrequent: false))],
                                               options: options)
        let clash = directory.appendingPathComponent("clash.safetensors").path
        try modelFile(preprocessing).write(to: clash)
        XCTAssertThrowsError(try ModelFile.read(path: clash)) { XCTAssertTrue("\($0)".contains("a spelling of a missing value"), "\($0)") }
    }

    // MARK: Helpers

    /// Every row's inputs as gathering writes them.
    func gathered<T: Scalar>(_ data: Dataset<T>) -> [[T]] {
        var buffer = [T](repeating: -7, count: data.rowCount * data.featureCount)
        buffer.withUnsafeMutableBufferPointer { data.copyFeatures(count: data.rowCount, into: $0.baseAddress!) { $0 } }
        return (0 ..< data.rowCount).map { Array(buffer[$0 * data.featureCount ..< ($0 + 1) * data.featureCount]) }
    }

    /// A small classifier's model file around `preprocessing`.
    func modelFile(_ preprocessing: TablePreprocessing) throws -> ModelFile {
        let network = Network<Float>(layerSizes: [preprocessing.inputCount, 3, 2], activation: .relu, loss: .crossEntropy)
        network.initialize(seed: 1)
        let data = Dataset<Float>(rowCount: 0, featureCount: preprocessing.inputCount, features: [],
                                  oneHot: OneHotBlocks(widths: preprocessing.blockWidths, indices: []),
                                  featureNames: preprocessing.featureNames, labels: [], classNames: ["x", "y"], targetNames: ["y"])
        let standardization = Standardization(mean: Array(repeating: 0, count: preprocessing.inputCount),
                                              standardDeviation: Array(repeating: 1, count: preprocessing.inputCount))
        return ModelFile(network: network, data: data, standardization: standardization, preprocessing: preprocessing)
    }
}
