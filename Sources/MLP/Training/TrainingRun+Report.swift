import Foundation

/// The lines rank 0 prints about a run: what it trains, on what, how, and each epoch's result.
extension TrainingRun {
    /// The first line: the network, the data and the batches.
    func describe(_ network: Network<T>, _ data: TrainingData<T>) -> String {
        let P = communicator.size, train = data.train, batchSize = configuration.batchSize
        var line = "mlp: \(network.layout.layerSizes.map(String.init).joined(separator: "-")) \(network.activation.rawValue), "
            + "\(network.loss.rawValue), \(T.precision.rawValue), "
        line += "\(BLASThreads.describe(ranks: P, threads: BLASInfo.threads)); \(train.rowCount) training rows"
        if let test = data.test { line += ", \(test.rowCount) test rows" }
        line += "; batch \(batchSize), \(configuration.stepsPerEpoch(trainingRows: train.rowCount)) steps per epoch"
        if data.standardization != nil { line += ", standardized" }
        if let preprocessing = data.preprocessing { line += "\n" + describe(preprocessing) }
        if data.droppedRows > 0 {
            line += "\n\(data.droppedRows) row\(data.droppedRows == 1 ? "" : "s") without a target left out (--drop-missing-target)"
        }
        if let checkpoint = start.checkpoint, let path = configuration.resume {
            line += "\nresuming from \(path) at epoch \(checkpoint.position.epoch), step \(checkpoint.position.step)"
        } else if start.freshAutomaticStart, let path = configuration.checkpoint {
            line += "\n--resume auto: no checkpoint \(path) yet; training from the start"
        }
        if batchSize > train.rowCount {
            line += "\nnote: --batch-size \(batchSize) exceeds the \(train.rowCount) training rows: each step uses all of them"
        }
        if batchSize < P {
            line += "\nnote: --batch-size \(batchSize) is smaller than the \(P) ranks: some ranks hold no rows in a step"
        }
        return line
    }

    /// One line when `--allreduce shared`, asked for, could not be had on several ranks (one
    /// rank per node, nodes of different rank counts, or no shared window): the exchange the run
    /// uses instead. `auto` falls back without a word.
    func exchangeNote(_ trainer: Trainer<T>) -> String? {
        guard configuration.requestsSharedMemory, !trainer.exchange.isNodeShared, communicator.size > 1 else { return nil }
        let instead = trainer.isUpdateSharded ? "--allreduce single with the sharded update" : "--allreduce single"
        return "note: --allreduce shared needs nodes of more than one rank, as many on each, and room in /dev/shm for its window: "
            + "using \(instead)"
    }

    /// What the table's columns became: "table: 4 numeric columns (2 with missing values: median
    /// and indicator), 2 categorical (5 one-hot columns)".
    func describe(_ preprocessing: TablePreprocessing) -> String {
        let numeric = preprocessing.numericColumns, categorical = preprocessing.categoricalColumns
        var parts: [String] = []
        if !numeric.isEmpty {
            let gaps = numeric.filter(\.indicator).count
            parts.append("\(numeric.count) numeric column\(numeric.count == 1 ? "" : "s")"
                         + (gaps > 0 ? " (\(gaps) with missing values: median and indicator)" : ""))
        }
        if !categorical.isEmpty {
            let width = categorical.map(\.width).reduce(0, +)
            parts.append("\(categorical.count) categorical (\(width) one-hot column\(width == 1 ? "" : "s"))")
        }
        return "table: " + parts.joined(separator: ", ")
    }

    /// The second line: optimizer, learning rate and schedule, clipping, validation.
    func describeOptimization(validation: Dataset<T>?) -> String {
        let settings = configuration.optimizer, schedule = configuration.schedule
        var parts: [String] = []
        switch settings.kind {
        case .sgd:
            var sgd = "sgd"
            if settings.momentum != 0 { sgd += " momentum \(settings.momentum)\(settings.nesterov ? " nesterov" : "")" }
            parts.append(sgd)
        case .adam, .adamw:
            parts.append("\(settings.kind.rawValue) betas (\(settings.beta1), \(settings.beta2)) eps \(settings.epsilon)")
        }
        if settings.effectiveWeightDecay != 0 { parts[0] += " weight decay \(settings.effectiveWeightDecay)" }
        var rate = "learning rate \(configuration.learningRate)"
        switch schedule.kind {
        case .constant: break
        case .step: rate += ", ×\(schedule.gamma ?? 0.1) every \(schedule.stepSize.map(String.init) ?? "?") epochs"
        case .cosine: rate += ", cosine to 0"
        case .plateau:
            rate += ", ×\(schedule.factor) after \(schedule.patience) epochs without improvement (at least \(schedule.minimum))"
        }
        if schedule.warmupSteps > 0 { rate += ", warm-up \(schedule.warmupSteps) steps" }
        parts.append(rate)
        if let clip = configuration.clipGradientNorm { parts.append("gradient norm clipped at \(clip)") }
        if let validation {
            var held = "\(validation.rowCount) validation rows held out"
            if let patience = configuration.earlyStopping { held += ", early stopping after \(patience) epochs without improvement" }
            parts.append(held)
        }
        return parts.joined(separator: "; ")
    }

    func describe(_ earlyStopping: EarlyStopping<T>, lastEpoch: Int) -> String {
        guard let best = earlyStopping.bestEpoch else { return "early stopping: no epoch completed" }
        var line = earlyStopping.epochsWithoutImprovement >= earlyStopping.patience
            ? "early stopping after epoch \(lastEpoch): no improvement for \(earlyStopping.patience) epochs; "
            : "early stopping: "
        line += "best epoch \(best) (validation loss \(fixed(earlyStopping.bestLoss, 4)))"
        if configuration.save != nil { line += ", whose parameters --save writes" }
        return line
    }

    func format(_ report: EpochReport) -> String {
        var line = "epoch \(report.epoch)/\(configuration.epochs)  step \(report.step)  lr \(String(format: "%.4g", report.learningRate))"
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
