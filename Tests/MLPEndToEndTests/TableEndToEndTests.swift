import Foundation
import XCTest
@testable import MLP
import TestSupport

/// Tables as they come, end to end: the real `mlp` trains on a CSV with categorical columns and
/// missing values, and predicts, evaluates, exports, converts and resumes from it; 2 ranks
/// against 1 process; ONNX Runtime and scikit-learn as references where they are installed.
final class TableEndToEndTests: ScratchFolderTestCase {
    /// A table like Palmer penguins: two categorical columns (one with gaps), numbers with gaps in
    /// every spelling, the class last. Deterministic.
    func writeTable(_ name: String, rows: Int, seed: UInt64, columns order: [Int]? = nil, extra: Bool = false) throws {
        var state = seed
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let header = ["island", "bill", "depth", "sex", "mass", "species"]
        let spellings = ["", "NA", "NaN", "N/A", "?", "null"]
        var lines: [[String]] = []
        for row in 0 ..< rows {
            let species = row % 3
            let island = ["Biscoe", "Dream", "Torgersen"][(species + Int(uniform() * 1.4)) % 3]
            var bill = String(format: "%.1f", 35 + 5 * Double(species) + 4 * uniform())
            let depth = String(format: "%.1f", 19 - 2 * Double(species == 2 ? 1 : 0) + uniform())
            var sex = uniform() < 0.5 ? "female" : "male"
            var mass = String(format: "%.0f", 3500 + 800 * Double(species == 2 ? 1 : 0) + 500 * uniform())
            if row % 7 == 3 { bill = spellings[row % spellings.count] }
            if row % 11 == 5 { sex = spellings[(row / 11) % spellings.count] }
            if row % 13 == 6 { mass = spellings[(row / 13) % spellings.count] }
            lines.append([island, bill, depth, sex, mass, ["Adelie", "Chinstrap", "Gentoo"][species]] + (extra ? ["note \(row)"] : []))
        }
        let names = header + (extra ? ["comment"] : [])
        let permutation = order ?? Array(names.indices)
        let text = ([permutation.map { names[$0] }] + lines.map { line in permutation.map { line[$0] } })
            .map { $0.map(csvQuoted).joined(separator: ",") }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
    }

    func csvQuoted(_ field: String) -> String {
        field.contains(where: { ",\"\n".contains($0) }) ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }

    func train(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:]) throws -> MLPProcess.Output {
        let full = ["train", "--hidden", "8", "--epochs", "3", "--batch-size", "16", "--seed", "2", "--target", "species"] + arguments
        return try ranks.map { try MLPProcess.mpirun(ranks: $0, full, environment: environment) } ?? MLPProcess.run(full)
    }

    /// Train on the raw table; predict and evaluate on raw rows whose columns come in another
    /// order with one more column (ignored), with a category and a missing value not seen in
    /// training (zeros, counted); `mlp info` shows the preprocessing.
    func testRawTableTrainsPredictsAndEvaluates() throws {
        try writeTable("train.csv", rows: 120, seed: 1)
        let trained = try train(["--train", path("train.csv"), "--standardize", "--validation-split", "0.25", "--save", path("m.st")])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stdout.contains("table: 3 numeric columns (2 with missing values: median and indicator), "
                                              + "2 categorical"), trained.stdout)
        try writeTable("new.csv", rows: 30, seed: 9, columns: [6, 5, 3, 2, 1, 4, 0], extra: true)
        var text = try String(contentsOfFile: path("new.csv"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\nnote 0,Adelie,[a-z]*,", with: "\nnote 0,Adelie,unknown,", options: .regularExpression)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path("new.csv")))
        let predicted = try MLPProcess.run(["predict", "--model", path("m.st"), "--input", path("new.csv"), "--output", path("p.csv")])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        XCTAssertTrue(predicted.stderr.contains("values not seen in training, encoded as zeros: sex 1 row"), predicted.stderr)
        XCTAssertEqual(try String(contentsOfFile: path("p.csv"), encoding: .utf8).split(separator: "\n").count, 31)
        let evaluated = try MLPProcess.run(["evaluate", "--model", path("m.st"), "--data", path("new.csv"), "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["rows"] as? Int, 30)
        XCTAssertEqual(json["unseen_categories"] as? [String: Int], ["sex": 1])
        // A column the model reads is missing: refused naming it.
        try writeTable("short.csv", rows: 5, seed: 3, columns: [0, 1, 2, 3, 5])
        assertRefused(try MLPProcess.run(["predict", "--model", path("m.st"), "--input", path("short.csv"), "--output", path("q.csv")]),
                      status: ExitStatus.badInput, "missing column mass")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("q.csv")))
        // What the model file holds.
        let info = try MLPProcess.run(["info", path("m.st"), "--json"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["format_version"] as? Int, 2)
        let preprocessing = try XCTUnwrap(object["preprocessing"] as? [String: Any])
        let columns = try XCTUnwrap(preprocessing["columns"] as? [[String: Any]])
        XCTAssertEqual(columns.map { $0["name"] as? String }, ["island", "bill", "depth", "sex", "mass"])
        XCTAssertEqual(columns.map { $0["role"] as? String }, ["categorical", "numeric", "numeric", "categorical", "numeric"])
        XCTAssertEqual(columns[3]["categories"] as? [String], ["female", "male"])
        XCTAssertEqual(columns[3]["missing_column"] as? Bool, true)
        XCTAssertEqual(columns[2]["indicator"] as? Bool, false)
        XCTAssertEqual(preprocessing["missing_values"] as? [String], TableOptions.defaultMissingValues)
    }

    /// Bad tables: one line, exit 1, no model, under mpirun too.
    func testBadTablesAreRefusedInOneLine() throws {
        try writeTable("train.csv", rows: 40, seed: 1)
        let original = try String(contentsOfFile: path("train.csv"), encoding: .utf8)
        func variant(_ name: String, _ change: (String) -> String) throws -> String {
            try Data(change(original).utf8).write(to: URL(fileURLWithPath: path(name)))
            return path(name)
        }
        let mixed = try variant("mixed.csv") { $0.replacingOccurrences(of: ",19.", with: ",l9.") }
        let missingTarget = try variant("target.csv") { $0.replacingOccurrences(of: ",Gentoo\n", with: ",NA\n") }
        let empty = try variant("empty.csv") { text in
            text.split(separator: "\n").enumerated().map { $0.offset == 0 ? String($0.element) : String($0.element).replacingOccurrences(
                of: #"^([^,]*),[^,]*,"#, with: "$1,,", options: .regularExpression) }.joined(separator: "\n") + "\n"
        }
        let cases: [([String], Int32, [String])] = [
            (["--train", mixed], ExitStatus.badInput, ["mixed.csv:", "feature 'depth' is not a number: \"l9.", "--categorical depth"]),
            (["--train", missingTarget], ExitStatus.badInput, ["target.csv:4: target 'species' is missing (\"NA\")", "--drop-missing-target"]),
            (["--train", empty], ExitStatus.badInput, ["column 'bill' is missing in every training row"]),
            (["--train", path("train.csv"), "--missing-values", ""], ExitStatus.usage, ["--missing-values needs at least one spelling"]),
            (["--train", path("train.csv"), "--categorical", "species"], ExitStatus.badInput, ["--categorical species is the target"]),
            (["--train", path("train.csv"), "--max-categories", "0"], ExitStatus.usage, ["--max-categories must be at least 1"]),
        ]
        for (arguments, status, parts) in cases {
            for ranks in [nil, 2] where ranks == nil || status == ExitStatus.badInput {
                let output = try train(arguments + ["--save", path("m.st")], ranks: ranks, environment: MLPProcess.refusalEnvironment)
                let line = assertRefused(output, status: status)
                for part in parts { XCTAssertTrue(line.contains(part), "'\(part)' not in: \(line)") }
                XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.st")))
            }
        }
        // Dropped instead, and counted.
        let dropped = try train(["--train", missingTarget, "--drop-missing-target", "--save", path("m.st")])
        XCTAssertEqual(dropped.status, 0, dropped.stderr)
        XCTAssertTrue(dropped.stdout.contains("13 rows without a target left out (--drop-missing-target)"), dropped.stdout)
        // convert still writes numbers only, and says where such a table trains from.
        let converted = try MLPProcess.run(["convert", "--input", path("train.csv"), "--output", path("c"), "--target", "species"])
        assertRefused(converted, status: ExitStatus.badInput, "feature 'island' is not a number: \"", "mlp train --train")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("c.X.npy")))
    }

    /// Every rank derives the same medians and categories: 2 ranks train the single process's
    /// model, within 1e-12 in float64 and bit for bit with --reproducible.
    func testTwoRanksEqualOneProcess() throws {
        try writeTable("train.csv", rows: 150, seed: 5)
        let common = ["--train", path("train.csv"), "--precision", "float64", "--standardize", "--validation-split", "0.2",
                      "--optimizer", "adam", "--min-category-count", "2"]
        for (suffix, extra) in [("", [String]()), ("-repro", ["--reproducible"])] {
            let one = try train(common + extra + ["--save", path("one\(suffix).st")])
            XCTAssertEqual(one.status, 0, one.stderr)
            let two = try train(common + extra + ["--save", path("two\(suffix).st")], ranks: 2)
            XCTAssertEqual(two.status, 0, two.stderr)
            let a = try ModelFile.read(path: path("one\(suffix).st")), b = try ModelFile.read(path: path("two\(suffix).st"))
            XCTAssertEqual(a.preprocessing, b.preprocessing)
            XCTAssertLessThanOrEqual(maxRelativeDifference(a, b), 1e-12)
            if !extra.isEmpty {
                XCTAssertEqual(FileManager.default.contents(atPath: path("one\(suffix).st")),
                               FileManager.default.contents(atPath: path("two\(suffix).st")))
            }
        }
    }

    /// A checkpoint keeps the table options: resuming with the same ones continues, with other
    /// ones is refused; --init-from reads the columns its model reads.
    func testResumeAndInitFromKeepThePreprocessing() throws {
        try writeTable("train.csv", rows: 60, seed: 4)
        let spellings = ",NA,NaN,N/A,?,null,none"
        let first = try train(["--train", path("train.csv"), "--missing-values", spellings, "--max-steps", "5",
                               "--checkpoint", path("c.ckpt")])
        XCTAssertEqual(first.status, 0, first.stderr)
        let stored = try ModelFile.read(path: path("c.ckpt")).extraMetadata
        XCTAssertEqual(stored[CheckpointSchema.Key.version], "3")
        XCTAssertEqual(stored[CheckpointSchema.Key.missingValues], #"["","NA","NaN","N/A","?","null","none"]"#)
        let resumed = try MLPProcess.run(["train", "--resume", path("c.ckpt"), "--missing-values", spellings, "--save", path("r.st")])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let other = try MLPProcess.run(["train", "--resume", path("c.ckpt"), "--missing-values", "NA"])
        assertRefused(other, status: ExitStatus.badInput, "--missing-values NA differs from the checkpoint")
        // Another column order, one more column: the --init-from model's columns, found by name.
        try writeTable("more.csv", rows: 60, seed: 8, columns: [5, 6, 0, 4, 3, 2, 1], extra: true)
        let continued = try train(["--train", path("more.csv"), "--init-from", path("r.st"), "--save", path("i.st")])
        XCTAssertEqual(continued.status, 0, continued.stderr)
        XCTAssertEqual(try ModelFile.read(path: path("i.st")).preprocessing, try ModelFile.read(path: path("r.st")).preprocessing)
        assertRefused(try train(["--train", path("more.csv"), "--init-from", path("r.st"), "--max-categories", "2"]),
                      status: ExitStatus.badInput, "--max-categories 2 disagrees with")
    }

    // MARK: References (Python)

    /// ONNX Runtime on the raw rows equals `mlp predict`: labels, and probabilities within 1e-5,
    /// including an unseen category, categories with commas, quotes, line breaks and unicode, and
    /// a missing value in every spelling in both kinds of column.
    func testONNXRuntimeTakesTheRawRows() throws {
        let python = try python(importing: ["numpy", "onnx", "onnxruntime"], pipPackages: "numpy onnx onnxruntime",
                                skipping: "the check of an exported table model with ONNX Runtime")
        try writeTable("train.csv", rows: 90, seed: 6)
        var text = try String(contentsOfFile: path("train.csv"), encoding: .utf8)
        for odd in ["\"Dream, north\"", "\"the \"\"Rock\"\"\"", "\"two\nlines\"", "Tórgersen✓", "cafe\u{301}"] {
            if let range = text.range(of: "\nBiscoe,") { text.replaceSubrange(range, with: "\n\(odd),") }
        }
        // A class label of the same kind: kept exactly in the model, predict's output and the ONNX metadata.
        text = text.replacingOccurrences(of: ",Gentoo\n", with: ",\"Gen\"\"too, the\nthird ✓\"\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path("train.csv")))
        let trained = try train(["--train", path("train.csv"), "--standardize", "--save", path("m.st")])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        // Test rows: the training rows, one unseen island, and each missing spelling in each column.
        var rows = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        rows.append("Atlantis,40.1,18.2,male,3900,Adelie")
        for spelling in TableOptions.defaultMissingValues {
            rows.append("Dream,\(spelling),\(spelling),\(spelling),\(spelling),Adelie")
            rows.append("\(spelling),41,18,female,3700,Gentoo")
        }
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path("test.csv")))
        let exported = try MLPProcess.run(["export", "--model", path("m.st"), "--output", path("m.onnx")])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        let predicted = try MLPProcess.run(["predict", "--model", path("m.st"), "--input", path("test.csv"), "--output", path("p.csv")])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let output = try MLPProcess.launch(python, ["-c", Self.compareONNX, path("m.onnx"), path("test.csv"), path("p.csv")])
        XCTAssertEqual(output.status, 0, output.stderr)
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((output.stdout.split(separator: "\n").last ?? "").utf8))
                                   as? [String: Any], output.stdout)
        print("TableEndToEndTests ONNX: \(result)")
        XCTAssertEqual(result["rows"] as? Int, 90 + 1 + 2 * TableOptions.defaultMissingValues.count)
        XCTAssertEqual(result["disagreeing"] as? Int, 0)
        XCTAssertLessThanOrEqual(try XCTUnwrap(result["max_probability_difference"] as? Double), 1e-5)
    }

    /// The categories, the infrequent ones and the medians equal scikit-learn's
    /// `OneHotEncoder(min_frequency, max_categories)` and `SimpleImputer(strategy="median")`
    /// fitted on the same rows.
    func testPreprocessingEqualsScikitLearn() throws {
        let python = try python(importing: ["numpy", "pandas", "sklearn"], pipPackages: "numpy pandas scikit-learn",
                                skipping: "the comparison of the fitted preprocessing with scikit-learn's")
        try writeTable("train.csv", rows: 200, seed: 7)
        for (options, name) in [(["--min-category-count", "60"], "min"), (["--max-categories", "2"], "max"), ([], "none")] {
            let trained = try train(["--train", path("train.csv"), "--save", path("\(name).st"), "--max-steps", "1"] + options)
            XCTAssertEqual(trained.status, 0, trained.stderr)
            let info = try MLPProcess.run(["info", path("\(name).st"), "--json"])
            try Data(info.stdout.utf8).write(to: URL(fileURLWithPath: path("\(name).json")))
            let output = try MLPProcess.launch(python, ["-c", Self.compareScikitLearn, path("train.csv"), path("\(name).json")] + options)
            XCTAssertEqual(output.status, 0, "\(name): \(output.stdout)\(output.stderr)")
        }
    }

    /// `python3 -c … MODEL.onnx TEST.csv PREDICTIONS.csv`: the raw fields, as text, as ONNX
    /// Runtime's inputs (numbers as float32, NaN for a missing spelling); prints one JSON line.
    static let compareONNX = #"""
        import csv, json, sys, numpy as np, onnx, onnxruntime as ort
        model_path, data_path, predictions_path = sys.argv[1:]
        model = onnx.load(model_path)
        onnx.checker.check_model(model, full_check=True)
        meta = {p.key: p.value for p in model.metadata_props}
        columns, categorical = json.loads(meta["input_columns"]), set(json.loads(meta["categorical_columns"]))
        missing, classes = set(json.loads(meta["missing_values"])), json.loads(meta["class_names"])
        with open(data_path, newline="") as f:
            rows = list(csv.DictReader(f))
        feeds = {c: np.array([[r[c]] for r in rows], dtype=object) if c in categorical
                 else np.array([[np.nan if r[c] in missing else float(r[c])] for r in rows], dtype=np.float32) for c in columns}
        logits, probabilities = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"]).run(["logits", "probabilities"], feeds)
        with open(predictions_path, newline="") as f:
            predicted = list(csv.reader(f))
        assert predicted[0] == ["label"] + [f"probability_{c}" for c in classes], predicted[0]
        expected = np.array([[float(v) for v in row[1:]] for row in predicted[1:]])
        labels = [classes[k] for k in probabilities.argmax(axis=1)]
        print(json.dumps({"rows": len(rows), "disagreeing": sum(a != row[0] for a, row in zip(labels, predicted[1:])),
                          "max_probability_difference": float(np.abs(probabilities - expected).max())}))
        """#

    /// `python3 -c … TRAIN.csv INFO.json [--min-category-count N | --max-categories K]`: fits
    /// scikit-learn's encoder and imputer on the table and compares with the model's.
    static let compareScikitLearn = #"""
        import json, sys, numpy as np, pandas as pd
        from sklearn.preprocessing import OneHotEncoder
        from sklearn.impute import SimpleImputer
        data_path, info_path, *options = sys.argv[1:]
        info = json.load(open(info_path))["preprocessing"]
        df = pd.read_csv(data_path, na_values=["", "NA", "NaN", "N/A", "?", "null"], keep_default_na=False, float_precision="round_trip")
        kwargs = {}
        if options: kwargs = {"min_frequency": int(options[1])} if options[0] == "--min-category-count" else {"max_categories": int(options[1])}
        for column in info["columns"]:
            name = column["name"]
            if column["role"] == "numeric":
                median = SimpleImputer(strategy="median").fit(df[[name]]).statistics_[0]
                assert median == column["median"], (name, median, column["median"])
                assert bool(df[name].isna().any()) == column["indicator"], name
                continue
            encoder = OneHotEncoder(handle_unknown="ignore", **kwargs).fit(df[[name]].astype(object))
            def texts(values): return [v for v in values if isinstance(v, str)]
            def has_nan(values): return any(not isinstance(v, str) for v in values)
            categories = list(encoder.categories_[0])
            infrequent = list(encoder.infrequent_categories_[0]) if kwargs and encoder.infrequent_categories_[0] is not None else []
            frequent = [c for c in texts(categories) if c not in texts(infrequent)]
            assert frequent == column["categories"], (name, categories, infrequent, column)
            assert texts(infrequent) == column["infrequent"], (name, infrequent, column)
            assert (has_nan(categories) and not has_nan(infrequent)) == column["missing_column"], (name, categories, column)
            assert has_nan(infrequent) == column["missing_is_infrequent"], (name, infrequent, column)
            assert len(encoder.get_feature_names_out()) == column["width"], (name, encoder.get_feature_names_out(), column)
        print("ok")
        """#
}
