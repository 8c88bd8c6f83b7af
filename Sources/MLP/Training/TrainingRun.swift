import Foundation

/// Runs `mlp train` on this rank: load and check everything (all ranks agree on failure before
/// training starts), train, write checkpoints and the model. `output` receives rank 0's lines.
/// Returns the per-epoch reports (the same on every rank).
@discardableResult
public func runTraining(_ options: TrainingOptions, communicator: Communicator,
                        output: TrainingOutput) throws -> [EpochReport] {
    try options.validate()
    // Every rank reads the checkpoint itself; they agree on whether that worked.
    let checkpoint = try communicator.agree { try options.resume.map { try Checkpoint.read(path: $0) } }
    let resolved = try communicator.agree { try options.resolved(resuming: checkpoint) }
    switch resolved.precision! {
    case .float32: return try TrainingRun<Float>(resolved, checkpoint: checkpoint, communicator: communicator, output: output).run()
    case .float64: return try TrainingRun<Double>(resolved, checkpoint: checkpoint, communicator: communicator, output: output).run()
    }
}

/// Where rank 0's output goes: whole lines, and (on a terminal) a progress line redrawn in place.
public struct TrainingOutput {
    public var line: (String) -> Void
    public var progress: ((String) -> Void)?
    public init(line: @escaping (String) -> Void, progress: ((String) -> Void)? = nil) {
        self.line = line
        self.progress = progress
    }
}

/// One `mlp train` on one rank, in one precision. `options` are resolved: every optional
/// setting but the model's (loss, activation, hidden) is decided.
final class TrainingRun<T: Scalar> {
    let options: TrainingOptions
    let checkpoint: Checkpoint?
    let communicator: Communicator
    let output: TrainingOutput
    var isRoot: Bool { communicator.rank == 0 }
    var batchSize: Int { options.batchSize! }

    init(_ options: TrainingOptions, checkpoint: Checkpoint?, communicator: Communicator, output: TrainingOutput) {
        self.options = options
        self.checkpoint = checkpoint
        self.communicator = communicator
        self.output = output
    }

    func run() throws -> [EpochReport] {
        // Phase 1: everything that can fail on bad input, agreed on by all ranks.
        let prepared = try communicator.agree { try prepare() }
        let network = prepared.network
        let metrics: MetricsWriter? = try communicator.agree {
            guard isRoot else { return nil }
            try checkWritable(options.save, option: "--save")
            try checkWritable(options.checkpoint, option: "--checkpoint")
            return try options.metrics.map { try MetricsWriter(path: $0, appending: checkpoint != nil) }
        }

        if let initial = prepared.initial { initial.load(into: network) } else { network.initialize(seed: options.seed!) }
        // Rank 0's θ for everyone: identical parameters even if hosts' math libraries differ.
        communicator.broadcast(network.parameters.values)

        var settings = Trainer<T>.Settings(batchSize: batchSize, epochs: options.epochs!, maxSteps: options.maxSteps,
                                           seed: options.seed!, shuffle: options.shuffle!, checksumEvery: options.checksumEvery,
                                           checkpointEvery: options.checkpointEvery ?? 0, clipGradientNorm: options.clipGradientNorm)
        settings.skipNonFiniteSteps = options.onNonFinite == .skipStep
        settings.allreduce = options.allreduce
        let optimizer = Optimizer<T>(settings: options.optimizer, layout: network.layout)
        let trainer = Trainer(network: network, optimizer: optimizer, schedule: schedule(trainingRows: prepared.train.rowCount),
                              train: prepared.train, validation: prepared.validation, test: prepared.test,
                              settings: settings, communicator: communicator)
        trainer.earlyStopping = options.earlyStopping.map { EarlyStopping(patience: $0, layout: network.layout) }
        if let checkpoint {
            trainer.position = checkpoint.position
            try communicator.agree { try checkpoint.restore(optimizer: optimizer, earlyStopping: trainer.earlyStopping) }
        }
        if isRoot { output.line(describe(network, prepared) + describeOptimization(validation: prepared.validation)) }

        var reports: [EpochReport] = []
        let progress = isRoot ? output.progress.map { ProgressLine(epochs: options.epochs!, draw: $0) } : nil
        let writeCheckpointTo: (String) -> (TrainingPosition) throws -> Void = { path in
            { position in
                try self.communicator.agree {
                    guard self.isRoot else { return }
                    var checkpoint = Checkpoint(model: ModelFile(network: network, data: prepared.train, standardization: prepared.standardization),
                                                position: position, settings: prepared.runSettings)
                    checkpoint.store(optimizer: optimizer, earlyStopping: trainer.earlyStopping)
                    try checkpoint.write(to: path)
                }
            }
        }
        do {
            try trainer.run(onStep: { position, batches in progress?.update(position, batchesPerEpoch: batches) },
                            onCheckpoint: options.checkpoint.map(writeCheckpointTo)) { report in
                reports.append(report)
                try communicator.agree {
                    guard isRoot else { return }
                    progress?.clear()
                    output.line(format(report))
                    try metrics?.append(report)
                }
            }
        } catch let interruption as TrainingInterrupted {
            // Every rank stopped after the same step: keep the work, then say how to go on.
            progress?.clear()
            let path = options.checkpoint ?? interruptionCheckpointPath
            try writeCheckpointTo(path)(interruption.position)
            let name = Interruption.name(interruption.signal)
            throw AgreedFailure(message: "interrupted by \(name) after step \(interruption.position.step) (epoch \(interruption.position.epoch)); checkpoint written to \(path); continue with: mlp train --resume \(path)",
                                reportingRank: 0, exitCode: 128 + interruption.signal)
        }

        if let earlyStopping = trainer.earlyStopping {
            // --save writes the best epoch's θ.
            earlyStopping.restoreBest(into: network.parameters)
            if isRoot { output.line(describe(earlyStopping, lastEpoch: reports.last?.epoch ?? 0)) }
        }

        if let save = options.save {
            try communicator.agree {
                guard isRoot else { return }
                try ModelFile(network: network, data: prepared.train, standardization: prepared.standardization).write(to: save)
                output.line("saved \(save)")
            }
        }
        if isRoot, let path = options.checkpoint { output.line("checkpoint \(path): continue with --resume \(path) --epochs N") }
        return reports
    }

    /// Where an interrupted run without `--checkpoint` keeps its work: beside `--save`, else here.
    var interruptionCheckpointPath: String {
        let directory = options.save.map { ($0 as NSString).deletingLastPathComponent } ?? ""
        return (directory.isEmpty ? "" : directory + "/") + "mlp-interrupted.safetensors"
    }

    struct Prepared {
        var network: Network<T>
        var train: Dataset<T>
        /// The `--validation-split` rows, held out of `train`.
        var validation: Dataset<T>?
        var test: Dataset<T>?
        /// The model to start from (`--init-from` or the checkpoint's), nil: initialize.
        var initial: ModelFile?
        var standardization: Standardization?
        var runSettings: Checkpoint.RunSettings
    }

    /// Reads the starting model (if any) and the data, and builds the network they agree on.
    func prepare() throws -> Prepared {
        let startingPath = options.resume ?? options.initFrom
        let initial = try checkpoint?.model ?? options.initFrom.map { try ModelFile.read(path: $0) }
        let loss = try resolve(options.loss, fromFile: initial?.loss, option: "--loss", path: startingPath) ?? .crossEntropy
        let activation = try resolve(options.activation, fromFile: initial?.activation, option: "--activation", path: startingPath) ?? .relu

        let trainKind: TargetKind = loss == .crossEntropy ? .classes(classNames: nil) : .values
        var train: Dataset<T> = try options.train!.load(role: .train, targetColumns: options.targetColumns,
                                                        kind: trainKind, seed: options.seed!)
        let runSettings = Checkpoint.RunSettings(seed: options.seed!, shuffle: options.shuffle!, batchSize: batchSize,
                                                 train: options.train!.text, targetColumns: options.targetColumns ?? [],
                                                 standardize: options.standardize!, trainRows: train.rowCount,
                                                 trainFingerprint: train.fingerprint, learningRate: options.learningRate!,
                                                 optimization: OptimizationSettings(options), epochs: options.epochs!,
                                                 trainLabels: options.train!.labels)
        if let checkpoint, let path = options.resume,
           (checkpoint.settings.trainRows, checkpoint.settings.trainFingerprint) != (runSettings.trainRows, runSettings.trainFingerprint) {
            throw InputError("\(options.train!.text) is not the data \(path) was trained on (\(train.rowCount) rows now, \(checkpoint.settings.trainRows) then, or the values changed)")
        }
        if let initial, let modelClasses = initial.classNames, train.isClassification, modelClasses != train.classNames {
            throw InputError("\(startingPath!): the model's classes \(modelClasses) differ from the training data's \(train.classNames)")
        }
        // --validation-split rows leave the training rows before anything is computed from them.
        var validation: Dataset<T>?
        (train, validation) = try holdOutValidation(train)
        var test: Dataset<T>?
        if let source = options.test {
            let testKind: TargetKind = loss == .crossEntropy ? .classes(classNames: train.classNames) : .values
            let data: Dataset<T> = try source.load(role: .test, targetColumns: options.targetColumns, kind: testKind, seed: options.seed!)
            guard data.featureNames == train.featureNames, data.targetNames == train.targetNames else {
                throw InputError("--test data has columns \(data.featureNames + data.targetNames) but --train has \(train.featureNames + train.targetNames)")
            }
            test = data
        }

        // Standardization: the starting model's statistics (its inputs were standardized so), else
        // the training data's when asked for.
        let standardization = initial?.standardization ?? (options.standardize! ? Standardization(of: train) : nil)
        if let standardization {
            standardization.apply(to: &train)
            if var data = test { standardization.apply(to: &data); test = data }
            if var data = validation { standardization.apply(to: &data); validation = data }
        }

        let layerSizes: [Int]
        if let initial, let path = startingPath {
            let fileHidden = Array(initial.layerSizes.dropFirst().dropLast())
            if let hidden = options.hidden, hidden != fileHidden {
                let has = fileHidden.isEmpty ? "which has no hidden layer" : "whose hidden layers are " + fileHidden.map(String.init).joined(separator: ",")
                throw InputError("--hidden \(hidden.map(String.init).joined(separator: ",")) disagrees with \(path), \(has)")
            }
            guard initial.layerSizes.first == train.featureCount, initial.layerSizes.last == train.outputCount else {
                throw InputError("\(path) has \(initial.layerSizes.first!) inputs and \(initial.layerSizes.last!) outputs but the data has \(train.featureCount) features and \(train.outputCount) \(train.isClassification ? "classes" : "targets")")
            }
            layerSizes = initial.layerSizes
        } else {
            layerSizes = [train.featureCount] + (options.hidden ?? TrainingOptions.defaultHidden) + [train.outputCount]
        }
        return Prepared(network: Network(layerSizes: layerSizes, activation: activation, loss: loss), train: train, validation: validation, test: test,
                        initial: initial, standardization: standardization, runSettings: runSettings)
    }

    /// The command line's value, which must agree with the model file's where both are given.
    func resolve<Value: RawRepresentable & Equatable>(_ option: Value?, fromFile: Value?, option name: String, path: String?) throws -> Value? where Value.RawValue == String {
        if let option, let fromFile, option != fromFile {
            throw InputError("\(name) \(option.rawValue) disagrees with \(path ?? "the model"), which was trained with \(fromFile.rawValue)")
        }
        return option ?? fromFile
    }

    func describe(_ network: Network<T>, _ prepared: Prepared) -> String {
        let P = communicator.size, train = prepared.train
        let steps = EpochOrder.batchCount(rowCount: train.rowCount, batchSize: batchSize)
        var line = "mlp: \(network.layout.layerSizes.map(String.init).joined(separator: "-")) \(network.activation.rawValue), \(network.loss.rawValue), \(T.precision.rawValue), "
        line += "\(P) rank\(P == 1 ? "" : "s"); \(train.rowCount) training rows"
        if let test = prepared.test { line += ", \(test.rowCount) test rows" }
        line += "; batch \(batchSize), \(steps) steps per epoch"
        if prepared.standardization != nil { line += ", standardized" }
        if let checkpoint, let path = options.resume {
            line += "\nresuming from \(path) at epoch \(checkpoint.position.epoch), step \(checkpoint.position.step)"
        }
        if batchSize > train.rowCount {
            line += "\nnote: --batch-size \(batchSize) exceeds the \(train.rowCount) training rows: each step uses all of them"
        }
        if batchSize < P {
            line += "\nnote: --batch-size \(batchSize) is smaller than the \(P) ranks: some ranks hold no rows in a step"
        }
        return line
    }

    func format(_ report: EpochReport) -> String {
        var line = "epoch \(report.epoch)/\(options.epochs!)  step \(report.step)  lr \(String(format: "%.4g", report.learningRate))"
        line += "  train loss \(fixed(report.trainLoss, 4))"
        if let accuracy = report.trainAccuracy { line += "  acc \(fixed(100 * accuracy, 2))%" }
        if let loss = report.validationLoss { line += "  val loss \(fixed(loss, 4))" }
        if let accuracy = report.validationAccuracy { line += "  acc \(fixed(100 * accuracy, 2))%" }
        if let loss = report.testLoss { line += "  test loss \(fixed(loss, 4))" }
        if let accuracy = report.testAccuracy { line += "  acc \(fixed(100 * accuracy, 2))%" }
        line += "  \(Int(report.samplesPerSecond.rounded())) samples/s  \(fixed(report.seconds, 1))s"
        if report.skippedSteps > 0 { line += "  (skipped \(report.skippedSteps) non-finite step\(report.skippedSteps == 1 ? "" : "s"))" }
        return line
    }
}

func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

/// Fails now, not after training, if `path`'s directory cannot be written.
func checkWritable(_ path: String?, option: String) throws {
    guard let path else { return }
    let directory = (path as NSString).deletingLastPathComponent
    let target = directory.isEmpty ? "." : directory
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw InputError("\(option) \(path): directory \(target) does not exist")
    }
    guard access(target, W_OK) == 0 else { throw InputError("\(option) \(path): directory \(target) is not writable") }
}

/// `--metrics`: one JSON object per epoch and line, flushed as it is written.
final class MetricsWriter {
    let handle: FileHandle
    let path: String

    /// Truncates the file, or appends to it when a resumed run continues its metrics.
    init(path: String, appending: Bool) throws {
        try checkWritable(path, option: "--metrics")
        let exists = FileManager.default.fileExists(atPath: path)
        guard (appending && exists) || FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw InputError("--metrics \(path): cannot create the file")
        }
        if appending { _ = try? handle.seekToEnd() }
        self.handle = handle
        self.path = path
    }

    deinit { try? handle.close() }

    func append(_ report: EpochReport) throws {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return "\(value)"
        }
        let line = "{\"epoch\":\(report.epoch),\"step\":\(report.step),\"train_loss\":\(number(report.trainLoss)),"
            + "\"train_accuracy\":\(number(report.trainAccuracy)),\"test_loss\":\(number(report.testLoss)),"
            + "\"test_accuracy\":\(number(report.testAccuracy)),\"validation_loss\":\(number(report.validationLoss)),"
            + "\"validation_accuracy\":\(number(report.validationAccuracy)),\"learning_rate\":\(number(report.learningRate)),"
            + "\"seconds\":\(number(report.seconds)),\"samples_per_second\":\(number(report.samplesPerSecond))}\n"
        do { try handle.write(contentsOf: Data(line.utf8)) } catch {
            throw InputError("--metrics \(path): cannot write (\(error.localizedDescription))")
        }
    }
}
