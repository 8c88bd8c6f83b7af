import Foundation
@testable import MLP
import TestSupport
import XCTest

/// `mlp info FILE [--json]` on the files mlp writes (a model, a checkpoint of today's schema and
/// of the previous one) and on everything else: one `mlp: error:` line, exit status 1, no hang.
final class InfoTests: ScratchFolderTestCase {
    /// `mlp info arguments…` as one process; its JSON object when `--json` is among them.
    func info(_ arguments: [String]) throws -> (output: MLPProcess.Output, json: [String: Any]?) {
        let output = try MLPProcess.run(["info"] + arguments, timeLimit: 60)
        XCTAssertFalse(output.timedOut, output.stderr)
        guard arguments.contains("--json"), output.status == 0 else { return (output, nil) }
        return (output, try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
    }

    func train(_ arguments: [String]) throws {
        let output = try MLPProcess.run(["train", "--train", "synthetic:spirals"] + arguments, timeLimit: 120)
        XCTAssertEqual(output.status, 0, output.stderr)
    }

    func testModelFile() throws {
        let model = path("model.safetensors")
        try train(["--epochs", "1", "--hidden", "4", "--save", model])
        let json = try XCTUnwrap(try info([model, "--json"]).json)
        XCTAssertEqual(json["kind"] as? String, "model")
        XCTAssertEqual(json["layer_sizes"] as? [Int], [2, 4, 3])
        XCTAssertEqual(json["parameters"] as? Int, 2 * 4 + 4 + 4 * 3 + 3)
        XCTAssertEqual(json["activation"] as? String, "relu")
        XCTAssertEqual(json["loss"] as? String, "cross-entropy")
        XCTAssertEqual(json["precision"] as? String, "float32")
        XCTAssertEqual(json["feature_names"] as? [String], ["x", "y"])
        XCTAssertEqual(json["class_names"] as? [String], ["0", "1", "2"])
        XCTAssertTrue(json["standardization"] is NSNull)
        XCTAssertTrue(json["sample_weight_column"] is NSNull)
        XCTAssertNil(json["step"], "a model file has no position")
        let text = try info([model]).output
        XCTAssertEqual(text.status, 0, text.stderr)
        for line in ["\(model): mlp model", "layers: 2-4-3 (27 parameters)", "activation: relu", "standardization: none"] {
            XCTAssertTrue(text.stdout.contains(line), "'\(line)' in \(text.stdout)")
        }
    }

    /// Every stored setting appears in --json with the value given on the command line.
    func testCheckpointHoldsEverySetting() throws {
        let checkpoint = path("run.checkpoint")
        try train(["--hidden", "4", "--precision", "float64", "--standardize", "--optimizer", "sgd", "--momentum", "0.9", "--nesterov",
                   "--weight-decay", "0.001", "--lr-schedule", "step", "--step-size", "1", "--gamma", "0.5", "--warmup-steps", "3",
                   "--clip-grad-norm", "2.5", "--validation-split", "0.25", "--early-stopping", "3", "--seed", "11",
                   "--batch-size", "50", "--learning-rate", "0.05", "--epochs", "4", "--max-steps", "100", "--no-shuffle",
                   "--dropout", "0.1", "--reproducible", "--chunk-rows", "16", "--class-weight", "balanced", "--checkpoint", checkpoint])
        let json = try XCTUnwrap(try info([checkpoint, "--json"]).json)
        func number(_ key: String, in object: [String: Any]? = nil) -> Double? { ((object ?? json)[key] as? NSNumber)?.doubleValue }
        XCTAssertEqual(json["kind"] as? String, "checkpoint")
        XCTAssertEqual(json["schema_version"] as? Int, 2)
        XCTAssertEqual(json["precision"] as? String, "float64")
        XCTAssertEqual((json["standardization"] as? [String: Any])?["features"] as? Int, 2)
        // 6000 rows less a quarter held out, batch 50: 90 batches per epoch; step 100 is epoch 2's 10th.
        XCTAssertEqual([json["step"], json["epoch"], json["batch_in_epoch"], json["optimizer_steps"]].map { $0 as? Int }, [100, 2, 10, 100])
        XCTAssertEqual(json["seed"] as? Int, 11)
        XCTAssertEqual(json["shuffle"] as? Bool, false)
        XCTAssertEqual(json["standardize"] as? Bool, true)
        XCTAssertEqual(json["batch_size"] as? Int, 50)
        XCTAssertEqual(json["train"] as? String, "synthetic:spirals")
        XCTAssertEqual(json["train_rows"] as? Int, 6000)
        XCTAssertNotNil(UInt64(json["train_fingerprint"] as? String ?? ""), "the fingerprint as a decimal string")
        XCTAssertEqual(number("learning_rate"), 0.05)
        XCTAssertEqual(json["epochs"] as? Int, 4)
        let optimizer = try XCTUnwrap(json["optimizer"] as? [String: Any])
        XCTAssertEqual(optimizer["kind"] as? String, "sgd")
        XCTAssertEqual(number("momentum", in: optimizer), 0.9)
        XCTAssertEqual(optimizer["nesterov"] as? Bool, true)
        XCTAssertEqual(number("weight_decay", in: optimizer), 0.001)
        let schedule = try XCTUnwrap(json["schedule"] as? [String: Any])
        XCTAssertEqual(schedule["kind"] as? String, "step")
        XCTAssertEqual([schedule["step_size"], schedule["warmup_steps"]].map { $0 as? Int }, [1, 3])
        XCTAssertEqual(number("gamma", in: schedule), 0.5)
        XCTAssertEqual(number("clip_gradient_norm"), 2.5)
        XCTAssertEqual(number("validation_split"), 0.25)
        XCTAssertEqual(json["early_stopping_patience"] as? Int, 3)
        XCTAssertEqual(json["reproducible_chunk_rows"] as? Int, 16)
        XCTAssertEqual(json["dropout"] as? [Double], [0.1])
        XCTAssertEqual(json["class_weight"] as? String, "balanced")
        XCTAssertTrue(json["sample_weight"] is NSNull)
        XCTAssertTrue(json["plateau_state"] is NSNull, "a step schedule keeps no plateau state")
        let record = try XCTUnwrap(json["early_stopping_state"] as? [String: Any])
        XCTAssertEqual(record["best_epoch"] as? Int, 1)
        XCTAssertNotNil(number("best_loss", in: record))
        let text = try info([checkpoint]).output.stdout
        for line in ["mlp checkpoint", "schema version: 2", "position: epoch 2, batch 10 of it, step 100",
                     "optimizer: sgd (momentum 0.9, nesterov, weight decay 0.001)", "reproducible: chunks of 16 rows"] {
            XCTAssertTrue(text.contains(line), "'\(line)' in \(text)")
        }
    }

    /// A checkpoint of schema version 1 (before --reproducible, dropout and weights): today's file
    /// with version 1 and without the keys version 2 added, as that build wrote them.
    func testPreviousSchemaVersion() throws {
        let checkpoint = path("v2.checkpoint"), old = path("v1.checkpoint")
        try train(["--hidden", "4", "--epochs", "1", "--max-steps", "20", "--optimizer", "adam", "--seed", "4", "--checkpoint", checkpoint])
        var file = try ModelFile.read(path: checkpoint)
        let added = [CheckpointSchema.Key.chunkRows, CheckpointSchema.Key.dropout, CheckpointSchema.Key.weightSum,
                     CheckpointSchema.Key.sampleWeight, CheckpointSchema.Key.trainWeights, CheckpointSchema.Key.classWeight,
                     CheckpointSchema.Key.plateauPatience, CheckpointSchema.Key.plateauFactor, CheckpointSchema.Key.plateauThreshold,
                     CheckpointSchema.Key.minimumRate]
        for key in added { XCTAssertNotNil(file.extraMetadata.removeValue(forKey: key), key) }
        file.extraMetadata[CheckpointSchema.Key.version] = "1"
        try file.write(to: old)
        let json = try XCTUnwrap(try info([old, "--json"]).json)
        XCTAssertEqual(json["kind"] as? String, "checkpoint")
        XCTAssertEqual(json["schema_version"] as? Int, 1)
        XCTAssertEqual(json["step"] as? Int, 20)
        XCTAssertEqual(json["seed"] as? Int, 4)
        XCTAssertEqual((json["optimizer"] as? [String: Any])?["kind"] as? String, "adam")
        XCTAssertTrue(json["reproducible_chunk_rows"] is NSNull)
        XCTAssertEqual(json["dropout"] as? [Double], [])
    }

    /// Each bad input: one line naming the file and the cause, exit status 1, within the time limit
    /// (a FIFO with no writer would block an open for reading: it is never opened).
    func testBadInputIsOneLine() throws {
        let model = path("model.safetensors")
        try train(["--epochs", "1", "--hidden", "4", "--save", model, "--checkpoint", path("run.checkpoint")])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        try bytes.prefix(100).write(to: URL(fileURLWithPath: path("truncated.safetensors")))
        try Data("a,b,label\n1,2,0\n".utf8).write(to: URL(fileURLWithPath: path("data.csv")))
        try Data(foreignSafetensors()).write(to: URL(fileURLWithPath: path("foo.safetensors")))
        XCTAssertEqual(mkfifo(path("fifo"), 0o600), 0)
        var newer = try ModelFile.read(path: path("run.checkpoint"))
        newer.extraMetadata[CheckpointSchema.Key.version] = "\(CheckpointSchema.version + 1)"
        try newer.write(to: path("newer.checkpoint"))
        let cases: [(String, [String])] = [
            ("missing.safetensors", ["cannot open: No such file or directory"]),
            ("", ["is a directory"]),
            ("fifo", ["is a FIFO (named pipe), not a regular file"]),
            ("truncated.safetensors", ["not a valid safetensors file: header length", "is larger than the 92 bytes that follow it"]),
            ("data.csv", ["not a valid safetensors file"]),
            ("foo.safetensors", ["a safetensors file, but not an mlp model or checkpoint", "no \"format\": \"mlp\" in its metadata",
                                 "no tensor layers.0.weight", "(it holds tensors foo)"]),
            ("newer.checkpoint", ["checkpoint version \(CheckpointSchema.version + 1) was written by a newer mlp"]),
        ]
        for (name, expected) in cases {
            for json in [[], ["--json"]] {
                let output = try info([path(name)] + json).output
                let lines = output.stderr.split(separator: "\n")
                XCTAssertEqual(output.status, ExitStatus.badInput, "\(name): \(output.stderr)")
                XCTAssertEqual(lines.count, 1, "\(name): one line: \(output.stderr)")
                XCTAssertEqual(output.stdout, "", name)
                let line = String(lines.first ?? "")
                XCTAssertTrue(line.hasPrefix("mlp: error: \(path(name))"), line)
                for part in expected { XCTAssertTrue(line.contains(part), "\(name): '\(part)' in \(line)") }
            }
        }
    }

    /// A minimal valid safetensors file mlp did not write: one F32 tensor `foo` of 2 elements, no metadata.
    func foreignSafetensors() -> [UInt8] {
        var header = Array(#"{"foo":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        bytes += header
        for value in [Float(1), 2] { bytes += withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
        return bytes
    }
}
