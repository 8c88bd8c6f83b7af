import Foundation

/// What a model file or checkpoint holds, for `mlp info` and for `launch --restarts` (which
/// resumes from a checkpoint's step): read with the same readers as training and evaluation
/// (`SafeTensors`, `ModelFile`, `CheckpointSchema`), so it accepts exactly what they accept.
public struct ModelInfo {
    public enum Kind: String, Sendable { case model, checkpoint }

    public var path: String
    public var model: ModelFile
    /// nil for a model file.
    public var checkpoint: Checkpoint?
    /// The checkpoint's `checkpoint.version`: 0 for files written before versions existed.
    public var schemaVersion: Int?

    public var kind: Kind { checkpoint == nil ? .model : .checkpoint }

    /// Reads the file at `path`. Only a regular file is opened: a FIFO or a device would block
    /// or never end, and `info` describes files, not streams. Every problem is one `InputError`.
    public static func read(path: String) throws -> ModelInfo {
        var info = stat()
        guard stat(path, &info) == 0 else { throw InputError("\(path): cannot open: \(errnoDescription())") }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw InputError("\(path): is a directory, not a model file or checkpoint")
        case let kind: throw InputError("\(path): is \(fileKind(kind)), not a regular file: give a model file or checkpoint")
        }
        return try decode(readFileBytes(path), path: path)
    }

    /// The description of a safetensors file's bytes; `path` names it in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> ModelInfo {
        let (tensors, metadata) = try SafeTensors.decode(bytes, path: path)
        // A safetensors file another program wrote: say what makes a file ours instead of the
        // first check of ModelFile that it happens to fail.
        guard metadata[ModelFile.Key.format] == "mlp" else {
            let names = tensors.map(\.name).sorted()
            var missing = ["no \"\(ModelFile.Key.format)\": \"mlp\" in its metadata"]
            // Layers alone (PyTorch, numpy) are a model that evaluate, predict and --init-from read, given --loss.
            let layersOnly = names.contains("layers.0.weight")
            if !layersOnly { missing.append("no tensor layers.0.weight") }
            let holds = names.isEmpty ? "no tensors" : "tensors \(listed(names))"
            throw InputError("\(path): a safetensors file, but not an mlp model or checkpoint: \(missing.joined(separator: ", ")) "
                             + "(it holds \(holds))" + (layersOnly ? "; evaluate and predict read its layers with --loss" : ""))
        }
        let file = try ModelFile.decode(bytes, path: path)
        guard file.extraMetadata.keys.contains(where: { $0.hasPrefix(CheckpointSchema.prefix) }) else {
            return ModelInfo(path: path, model: file, checkpoint: nil, schemaVersion: nil)
        }
        let checkpoint = try Checkpoint(file: file, path: path)
        // The schema reader accepted the version: absent (0) or a number it knows.
        let version = file.extraMetadata[CheckpointSchema.Key.version].flatMap { Int($0) } ?? 0
        return ModelInfo(path: path, model: checkpoint.model, checkpoint: checkpoint, schemaVersion: version)
    }

    private static func fileKind(_ kind: mode_t) -> String {
        switch kind {
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }
}

extension ModelInfo {
    /// One JSON object; its keys are documented in docs/model-files.md ("mlp info"). JSON has no
    /// infinity or NaN: such a value (early stopping's best loss before any epoch) is null.
    public var json: String {
        let data = try! JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    var jsonObject: [String: Any] {
        func value(_ item: Any?) -> Any {
            switch item {
            case nil: return NSNull()
            case let number as Double: return number.isFinite ? number : NSNull()
            case let some?: return some
            }
        }
        var object: [String: Any] = [
            "kind": kind.rawValue, "path": path, "layer_sizes": model.layerSizes, "parameters": model.parameters.count,
            "activation": value(model.activation?.rawValue), "loss": value(model.loss?.rawValue),
            "precision": model.precision.rawValue, "feature_names": value(model.featureNames), "class_names": value(model.classNames),
            "target_names": value(model.targetNames), "sample_weight_column": value(model.sampleWeightColumn),
            "standardization": value(model.standardization.map { ["features": $0.mean.count] }),
            "format_version": model.preprocessing == nil ? 1 : TablePreprocessing.formatVersion,
            "preprocessing": value(model.preprocessing?.jsonObject),
        ]
        guard let checkpoint, let schemaVersion else { return object }
        let position = checkpoint.position, settings = checkpoint.settings
        let optimizer = settings.optimizer, schedule = settings.schedule
        object.merge([
            "schema_version": schemaVersion, "epoch": position.epoch, "batch_in_epoch": position.batchInEpoch, "step": position.step,
            "optimizer_steps": checkpoint.optimizerSteps,
            "seed": settings.seed, "shuffle": settings.shuffle, "batch_size": settings.batchSize,
            "train": settings.train, "train_labels": value(settings.trainLabels), "target": settings.targetColumns,
            "standardize": settings.standardize, "train_rows": settings.trainRows,
            // A string: 64 bits do not survive JSON readers that hold numbers as doubles.
            "train_fingerprint": "\(settings.trainFingerprint)",
            "learning_rate": settings.learningRate, "epochs": settings.epochs,
            "optimizer": ["kind": optimizer.kind.rawValue, "momentum": optimizer.momentum, "nesterov": optimizer.nesterov,
                          "beta1": optimizer.beta1, "beta2": optimizer.beta2, "epsilon": optimizer.epsilon,
                          "weight_decay": value(optimizer.weightDecay)],
            "schedule": ["kind": schedule.kind.rawValue, "warmup_steps": schedule.warmupSteps, "step_size": value(schedule.stepSize),
                         "gamma": value(schedule.gamma), "plateau_patience": value(schedule.plateauPatience),
                         "plateau_factor": value(schedule.plateauFactor), "plateau_threshold": value(schedule.plateauThreshold),
                         "min_lr": value(schedule.minimumRate)],
            "clip_gradient_norm": value(settings.clipGradientNorm), "validation_split": value(settings.validationSplit),
            "early_stopping_patience": value(settings.earlyStopping), "reproducible_chunk_rows": value(settings.chunkRows),
            "dropout": settings.dropout, "sample_weight": value(settings.sampleWeight), "train_weights": value(settings.trainWeights),
            "class_weight": value(settings.classWeight?.description),
            "table": ["categorical": settings.table.categorical, "max_categories": value(settings.table.maxCategories),
                      "min_category_count": value(settings.table.minCategoryCount), "missing_values": settings.table.missingValues,
                      "drop_missing_target": settings.table.dropMissingTarget] as [String: Any],
            "plateau_state": value(checkpoint.plateau.map {
                ["rate": value($0.rate), "best": value($0.best), "bad_epochs": $0.badEpochs] as [String: Any] }),
            "early_stopping_state": value(checkpoint.earlyStopping.map {
                ["best_loss": value($0.bestLoss), "best_epoch": value($0.bestEpoch),
                 "epochs_without_improvement": $0.epochsWithoutImprovement] as [String: Any] }),
        ]) { _, new in new }
        return object
    }

    /// For people: one fact per line, `name: value`.
    public var text: String {
        func names(_ list: [String]?) -> String { list.map { $0.isEmpty ? "(none)" : listed($0) } ?? "(not stored)" }
        func optional<Value>(_ item: Value?, _ absent: String = "none") -> String { item.map { "\($0)" } ?? absent }
        var lines = [
            "\(path): \(kind == .model ? "mlp model" : "mlp checkpoint")",
            "layers: \(model.layerSizes.map(String.init).joined(separator: "-")) (\(model.parameters.count) parameters)",
            "activation: \(optional(model.activation?.rawValue, "(not stored)"))",
            "loss: \(optional(model.loss?.rawValue, "(not stored)"))",
            "precision: \(model.precision.rawValue)",
            "features: \(names(model.featureNames))",
        ]
        if let classes = model.classNames { lines.append("classes: \(names(classes))") }
        if let targets = model.targetNames { lines.append("targets: \(names(targets))") }
        lines.append("standardization: " + (model.standardization.map { "mean and std of \($0.mean.count) features" } ?? "none"))
        lines.append("sample weight column: \(optional(model.sampleWeightColumn))")
        if let preprocessing = model.preprocessing { lines += preprocessing.lines }
        guard let checkpoint, let schemaVersion else { return lines.joined(separator: "\n") }
        let position = checkpoint.position, settings = checkpoint.settings
        let optimizer = settings.optimizer, schedule = settings.schedule
        func given<Value>(_ item: Value?) -> String { optional(item, "default") }
        var optimizerText = optimizer.kind.rawValue
        switch optimizer.kind {
        case .sgd: optimizerText += " (momentum \(optimizer.momentum)\(optimizer.nesterov ? ", nesterov" : "")"
        case .adam, .adamw: optimizerText += " (beta1 \(optimizer.beta1), beta2 \(optimizer.beta2), epsilon \(optimizer.epsilon)"
        }
        optimizerText += ", weight decay \(given(optimizer.weightDecay)))"
        var scheduleText = "\(schedule.kind.rawValue), warm-up \(schedule.warmupSteps) steps"
        if schedule.kind == .step { scheduleText += ", step size \(given(schedule.stepSize)), gamma \(given(schedule.gamma))" }
        if schedule.kind == .plateau {
            scheduleText += ", patience \(given(schedule.plateauPatience)), factor \(given(schedule.plateauFactor))"
                + ", threshold \(given(schedule.plateauThreshold)), min lr \(given(schedule.minimumRate))"
        }
        let labels = settings.trainLabels.map { " (labels \($0))" } ?? ""
        lines += [
            "schema version: \(schemaVersion == 0 ? "none (written before versions)" : "\(schemaVersion)")",
            "position: epoch \(position.epoch), batch \(position.batchInEpoch) of it, step \(position.step)"
                + " (optimizer steps \(checkpoint.optimizerSteps))",
            "train: \(settings.train)\(labels) (\(settings.trainRows) rows, fingerprint \(settings.trainFingerprint))",
            "target: \(settings.targetColumns.isEmpty ? "default" : settings.targetColumns.joined(separator: ","))",
            "seed: \(settings.seed), shuffle: \(settings.shuffle), batch size: \(settings.batchSize), standardize: \(settings.standardize)",
            "learning rate: \(settings.learningRate), epochs: \(settings.epochs)",
            "optimizer: \(optimizerText)",
            "schedule: \(scheduleText)",
            "clip gradient norm: \(optional(settings.clipGradientNorm)), validation split: \(optional(settings.validationSplit))",
            "early stopping: " + (settings.earlyStopping.map { "patience \($0)" } ?? "off"),
            "reproducible: " + (settings.chunkRows.map { "chunks of \($0) rows" } ?? "off"),
            "dropout: " + (settings.dropout.isEmpty ? "none" : settings.dropout.map { "\($0)" }.joined(separator: ",")),
            "sample weight: \(optional(settings.sampleWeight)), train weights: \(optional(settings.trainWeights))"
                + ", class weight: \(optional(settings.classWeight))",
            "table: categorical \(settings.table.categorical.isEmpty ? "none given" : settings.table.categorical.joined(separator: ","))"
                + ", max categories \(given(settings.table.maxCategories)), min category count \(given(settings.table.minCategoryCount))"
                + ", missing values \(settings.table.missingValues.map(quoted).joined(separator: ","))"
                + ", drop missing target \(settings.table.dropMissingTarget)",
            "plateau state: " + (checkpoint.plateau.map { "rate \($0.rate), best \($0.best), bad epochs \($0.badEpochs)" } ?? "none"),
            "early stopping state: " + (checkpoint.earlyStopping.map {
                "best loss \($0.bestLoss), best epoch \(optional($0.bestEpoch)), epochs without improvement \($0.epochsWithoutImprovement)"
            } ?? "none"),
        ]
        return lines.joined(separator: "\n")
    }
}
