import Foundation

/// Everything `mlp train` is asked to do, validated.
public struct TrainingOptions: Sendable {
    public var train: DataSource
    public var test: DataSource?
    public var targetColumns: [String]?
    /// nil: from `--init-from`'s metadata, else cross-entropy.
    public var loss: Loss?
    /// Hidden layer widths; nil: from `--init-from`, else [128, 128].
    public var hidden: [Int]?
    /// nil: from `--init-from`'s metadata, else relu.
    public var activation: Activation?
    public var batchSize = 64
    public var learningRate = 0.05
    public var epochs = 10
    public var maxSteps: Int?
    public var seed: UInt64 = 0
    public var shuffle = true
    public var precision = Precision.float32
    public var initFrom: String?
    public var save: String?
    public var metrics: String?
    public var checksumEvery = 1000
    /// `--optimizer` and its hyperparameters; `--lr-schedule` and its; `--clip-grad-norm`,
    /// `--validation-split`, `--early-stopping` (see TrainingOptions+Optimization.swift).
    public var optimizer = OptimizerSettings()
    public var schedule = ScheduleSettings()
    public var clipGradientNorm: Double?
    public var validationSplit: Double?
    public var earlyStopping: Int?

    public static let defaultHidden = [128, 128]

    public init(train: DataSource) { self.train = train }

    /// The checks that need no data: they fail before any work.
    public func validate() throws {
        guard batchSize > 0 else { throw InputError("--batch-size must be at least 1 (got \(batchSize))") }
        guard learningRate > 0, learningRate.isFinite else { throw InputError("--learning-rate must be a positive number (got \(learningRate))") }
        guard epochs > 0 else { throw InputError("--epochs must be at least 1 (got \(epochs))") }
        if let maxSteps, maxSteps <= 0 { throw InputError("--max-steps must be at least 1 (got \(maxSteps))") }
        if let hidden, let bad = hidden.first(where: { $0 <= 0 }) { throw InputError("--hidden widths must be positive (got \(bad))") }
        guard checksumEvery >= 0 else { throw InputError("--checksum-every must be 0 or more (got \(checksumEvery))") }
        try validateOptimization()
    }
}

/// Runs `mlp train` on this rank: load and check everything (all ranks agree on failure before
/// training starts), train, write the model. `log` receives rank 0's output lines.
/// Returns the per-epoch reports (the same on every rank).
@discardableResult
public func runTraining(_ options: TrainingOptions, communicator: Communicator,
                        log: @escaping (String) -> Void) throws -> [EpochReport] {
    try options.validate()
    switch options.precision {
    case .float32: return try TrainingRun<Float>(options, communicator: communicator, log: log).run()
    case .float64: return try TrainingRun<Double>(options, communicator: communicator, log: log).run()
    }
}

/// One `mlp train` on one rank, in one precision.
final class TrainingRun<T: Scalar> {
    let options: TrainingOptions
    let communicator: Communicator
    let log: (String) -> Void
    var isRoot: Bool { communicator.rank == 0 }

    init(_ options: TrainingOptions, communicator: Communicator, log: @escaping (String) -> Void) {
        self.options = options
        self.communicator = communicator
        self.log = log
    }

    func run() throws -> [EpochReport] {
        // Phase 1: everything that can fail on bad input, agreed on by all ranks.
        let (network, loaded, test, initial) = try communicator.agree { try prepare() }
        let (train, validation) = try communicator.agree { try holdOutValidation(loaded) }
        let metrics: MetricsWriter? = try communicator.agree {
            guard isRoot else { return nil }
            try checkWritable(options.save, option: "--save")
            return try options.metrics.map { try MetricsWriter(path: $0) }
        }

        if let initial { initial.load(into: network) } else { network.initialize(seed: options.seed) }
        // Rank 0's θ for everyone: identical parameters even if hosts' math libraries differ.
        communicator.broadcast(network.parameters.values)

        let settings = Trainer<T>.Settings(batchSize: options.batchSize, epochs: options.epochs, maxSteps: options.maxSteps,
                                           seed: options.seed, shuffle: options.shuffle, checksumEvery: options.checksumEvery,
                                           clipGradientNorm: options.clipGradientNorm)
        let trainer = Trainer(network: network, optimizer: Optimizer<T>(settings: options.optimizer, layout: network.layout),
                              schedule: schedule(trainingRows: train.rowCount), train: train, validation: validation,
                              test: test, settings: settings, communicator: communicator)
        trainer.earlyStopping = options.earlyStopping.map { EarlyStopping(patience: $0, layout: network.layout) }
        if isRoot { log(describe(network, train: train, test: test) + describeOptimization(validation: validation)) }

        var reports: [EpochReport] = []
        try trainer.run { report in
            reports.append(report)
            try communicator.agree {
                guard isRoot else { return }
                log(format(report))
                try metrics?.append(report)
            }
        }
        if let earlyStopping = trainer.earlyStopping {
            // --save writes the best epoch's θ.
            earlyStopping.restoreBest(into: network.parameters)
            if isRoot { log(describe(earlyStopping, lastEpoch: reports.last?.epoch ?? 0)) }
        }

        if let save = options.save {
            try communicator.agree {
                guard isRoot else { return }
                try ModelFile(network: network, data: train).write(to: save)
                log("saved \(save)")
            }
        }
        return reports
    }

    /// Reads the starting model (if any) and the data, and builds the network they agree on.
    func prepare() throws -> (Network<T>, Dataset<T>, Dataset<T>?, ModelFile?) {
        let initial = try options.initFrom.map { try ModelFile.read(path: $0) }
        let loss = try resolve(options.loss, fromFile: initial?.loss, option: "--loss") ?? .crossEntropy
        let activation = try resolve(options.activation, fromFile: initial?.activation, option: "--activation") ?? .relu

        let trainKind: TargetKind = loss == .crossEntropy ? .classes(classNames: nil) : .values
        let train: Dataset<T> = try options.train.load(role: .train, targetColumns: options.targetColumns,
                                                       kind: trainKind, seed: options.seed)
        if let initial, let modelClasses = initial.classNames, train.isClassification, modelClasses != train.classNames {
            throw InputError("\(options.initFrom!): the model's classes \(modelClasses) differ from the training data's \(train.classNames)")
        }
        var test: Dataset<T>?
        if let source = options.test {
            let testKind: TargetKind = loss == .crossEntropy ? .classes(classNames: train.classNames) : .values
            let data: Dataset<T> = try source.load(role: .test, targetColumns: options.targetColumns, kind: testKind, seed: options.seed)
            guard data.featureNames == train.featureNames, data.targetNames == train.targetNames else {
                throw InputError("--test data has columns \(data.featureNames + data.targetNames) but --train has \(train.featureNames + train.targetNames)")
            }
            test = data
        }

        let layerSizes: [Int]
        if let initial {
            let fileHidden = Array(initial.layerSizes.dropFirst().dropLast())
            if let hidden = options.hidden, hidden != fileHidden {
                throw InputError("--hidden \(hidden.map(String.init).joined(separator: ",")) disagrees with \(options.initFrom!), whose hidden layers are \(fileHidden.map(String.init).joined(separator: ","))")
            }
            guard initial.layerSizes.first == train.featureCount, initial.layerSizes.last == train.outputCount else {
                throw InputError("\(options.initFrom!) has \(initial.layerSizes.first!) inputs and \(initial.layerSizes.last!) outputs but the data has \(train.featureCount) features and \(train.outputCount) \(train.isClassification ? "classes" : "targets")")
            }
            layerSizes = initial.layerSizes
        } else {
            layerSizes = [train.featureCount] + (options.hidden ?? TrainingOptions.defaultHidden) + [train.outputCount]
        }
        return (Network(layerSizes: layerSizes, activation: activation, loss: loss), train, test, initial)
    }

    /// The command line's value, which must agree with the model file's where both are given.
    func resolve<Value: RawRepresentable & Equatable>(_ option: Value?, fromFile: Value?, option name: String) throws -> Value? where Value.RawValue == String {
        if let option, let fromFile, option != fromFile {
            throw InputError("\(name) \(option.rawValue) disagrees with \(options.initFrom!), which was trained with \(fromFile.rawValue)")
        }
        return option ?? fromFile
    }

    func describe(_ network: Network<T>, train: Dataset<T>, test: Dataset<T>?) -> String {
        let P = communicator.size
        let steps = EpochOrder.batchCount(rowCount: train.rowCount, batchSize: options.batchSize)
        var line = "mlp: \(network.layout.layerSizes.map(String.init).joined(separator: "-")) \(network.activation.rawValue), \(network.loss.rawValue), \(T.precision.rawValue), "
        line += "\(P) rank\(P == 1 ? "" : "s"); \(train.rowCount) training rows"
        if let test { line += ", \(test.rowCount) test rows" }
        line += "; batch \(options.batchSize), \(steps) steps per epoch"
        if options.batchSize > train.rowCount {
            line += "\nnote: --batch-size \(options.batchSize) exceeds the \(train.rowCount) training rows: each step uses all of them"
        }
        if options.batchSize < P {
            line += "\nnote: --batch-size \(options.batchSize) is smaller than the \(P) ranks: some ranks hold no rows in a step"
        }
        return line
    }

    func format(_ report: EpochReport) -> String {
        var line = "epoch \(report.epoch)/\(options.epochs)  step \(report.step)  lr \(String(format: "%.4g", report.learningRate))"
        line += "  train loss \(fixed(report.trainLoss, 4))"
        if let accuracy = report.trainAccuracy { line += "  acc \(fixed(100 * accuracy, 2))%" }
        if let loss = report.validationLoss { line += "  val loss \(fixed(loss, 4))" }
        if let accuracy = report.validationAccuracy { line += "  acc \(fixed(100 * accuracy, 2))%" }
        if let loss = report.testLoss { line += "  test loss \(fixed(loss, 4))" }
        if let accuracy = report.testAccuracy { line += "  acc \(fixed(100 * accuracy, 2))%" }
        line += "  \(Int(report.samplesPerSecond.rounded())) samples/s  \(fixed(report.seconds, 1))s"
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

    init(path: String) throws {
        try checkWritable(path, option: "--metrics")
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw InputError("--metrics \(path): cannot create the file")
        }
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
