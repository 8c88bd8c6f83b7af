import ArgumentParser
import MLP

// Option declarations here look alike (`duplicates` pairs them by shape): each declares one flag, as
// swift-argument-parser wants them; kept on purpose. Flags, help and defaults are `TrainOptionTable`'s.
private typealias T = TrainOptionTable

/// `mlp train`: the command line's names are the public contract; keep them.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP with mini-batch SGD, Adam or AdamW on the exact (allreduced) mini-batch gradient.",
        discussion: """
            PATH is a CSV file with a header row (gzip-compressed too, whatever its name), \
            mnist:DIR (the four standard IDX files, .gz or raw), \
            synthetic:spirals (a built-in 3-class demo), or X.npy features (memory-mapped) with --train-labels y.npy.
            Examples:
              mlp train --train synthetic:spirals --test synthetic:spirals --epochs 20
              mpirun -n 2 mlp train --train mnist:data --test mnist:data --hidden 512,512 --save model.safetensors
              mlp train --train data.csv --optimizer adamw --lr-schedule cosine --warmup-steps 200 --validation-split 0.1 --early-stopping 3
            """)

    @Option(name: T.train.long, help: T.train.argumentHelp)
    var train: String?

    @Option(name: T.trainLabels.long, help: T.trainLabels.argumentHelp)
    var trainLabels: String?

    @Option(name: T.test.long, help: T.test.argumentHelp)
    var test: String?

    @Option(name: T.testLabels.long, help: T.testLabels.argumentHelp)
    var testLabels: String?

    @Option(name: T.target.long, help: T.target.argumentHelp)
    var target: String?

    @Option(name: T.loss.long, help: T.loss.argumentHelp)
    var loss: Loss?

    @Option(name: T.hidden.long, parsing: .unconditional, help: T.hidden.argumentHelp)
    var hidden: String?

    @Option(name: T.activation.long, help: T.activation.argumentHelp)
    var activation: Activation?

    @Option(name: T.batchSize.long, parsing: .unconditional, help: T.batchSize.argumentHelp)
    var batchSize: Int?

    @Option(name: T.learningRate.long, parsing: .unconditional, help: T.learningRate.argumentHelp)
    var learningRate: Double?

    @Option(name: T.epochs.long, parsing: .unconditional, help: T.epochs.argumentHelp)
    var epochs: Int?

    @Option(name: T.maxSteps.long, parsing: .unconditional, help: T.maxSteps.argumentHelp)
    var maxSteps: Int?

    @Option(name: T.seed.long, parsing: .unconditional, help: T.seed.argumentHelp)
    var seed: UInt64?

    @Flag(name: T.noShuffle.long, help: T.noShuffle.argumentHelp)
    var noShuffle = false

    @Option(name: T.precision.long, help: T.precision.argumentHelp)
    var precision: Precision?

    @Flag(name: T.standardize.long, help: T.standardize.argumentHelp)
    var standardize = false

    @Option(name: T.initFrom.long, help: T.initFrom.argumentHelp)
    var initFrom: String?

    @Option(name: T.save.long, help: T.save.argumentHelp)
    var save: String?

    @Option(name: T.metrics.long, help: T.metrics.argumentHelp)
    var metrics: String?

    @Option(name: T.checksumEvery.long, parsing: .unconditional, help: T.checksumEvery.argumentHelp)
    var checksumEvery: Int?

    @Option(name: T.checkpoint.long, help: T.checkpoint.argumentHelp)
    var checkpoint: String?

    @Option(name: T.checkpointEvery.long, parsing: .unconditional, help: T.checkpointEvery.argumentHelp)
    var checkpointEvery: Int?

    @Option(name: T.resume.long, help: T.resume.argumentHelp)
    var resume: String?

    @Option(name: T.onNonFinite.long, help: T.onNonFinite.argumentHelp)
    var onNonfinite: TrainingOptions.NonFinitePolicy = T.onNonFinite.declaredDefault

    @Option(name: T.allreduce.long, help: T.allreduce.argumentHelp)
    var allreduce: AllreduceMode = T.allreduce.declaredDefault

    @Option(name: T.shardedUpdate.long, help: T.shardedUpdate.argumentHelp)
    var shardedUpdate: ShardedUpdateMode = T.shardedUpdate.declaredDefault

    @Option(name: T.sampleWeight.long, help: T.sampleWeight.argumentHelp)
    var sampleWeight: String?

    @Option(name: T.trainWeights.long, help: T.trainWeights.argumentHelp)
    var trainWeights: String?

    @Option(name: T.classWeight.long, help: T.classWeight.argumentHelp)
    var classWeight: String?

    @Option(name: T.dropout.long, parsing: .unconditional, help: T.dropout.argumentHelp)
    var dropout: String?

    @Option(name: T.categorical.long, help: T.categorical.argumentHelp)
    var categorical: String?

    @Option(name: T.maxCategories.long, parsing: .unconditional, help: T.maxCategories.argumentHelp)
    var maxCategories: Int?

    @Option(name: T.minCategoryCount.long, parsing: .unconditional, help: T.minCategoryCount.argumentHelp)
    var minCategoryCount: Int?

    @Option(name: T.missingValues.long, parsing: .unconditional, help: T.missingValues.argumentHelp)
    var missingValues: String?

    @Flag(name: T.dropMissingTarget.long, help: T.dropMissingTarget.argumentHelp)
    var dropMissingTarget = false

    @OptionGroup
    var reproducibility: ReproducibilityOptions

    @OptionGroup
    var optimization: OptimizationOptions

    @OptionGroup
    var watchdog: WatchdogOptions

    /// The options as given, checked once (the checks that need no file).
    func options() throws -> TrainingOptions {
        let options = try given()
        try options.validate()
        return options
    }

    /// The options as given, read but not checked against one another (`mlp sweep`'s base and values).
    func given() throws -> TrainingOptions {
        if train == nil, let trainLabels { throw InputError("--train-labels \(trainLabels) needs --train FEATURES.npy") }
        if test == nil, let testLabels { throw InputError("--test-labels \(testLabels) needs --test FEATURES.npy") }
        var options = TrainingOptions(train: try train.map { try DataSource($0, labels: trainLabels, labelsOption: "--train-labels") })
        options.test = try test.map { try DataSource($0, labels: testLabels, labelsOption: "--test-labels") }
        options.targetColumns = target.map { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }
        options.loss = loss
        options.hidden = try hidden.map(parseWidths)
        options.activation = activation
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.epochs = epochs
        options.maxSteps = maxSteps
        options.seed = seed
        options.shuffle = noShuffle ? false : nil
        options.precision = precision
        options.standardize = standardize ? true : nil
        options.initFrom = initFrom
        options.save = save
        options.metrics = metrics
        options.checksumEvery = checksumEvery
        options.checkpoint = checkpoint
        options.checkpointEvery = checkpointEvery
        options.resume = resume
        options.onNonFinite = onNonfinite
        options.allreduce = allreduce
        options.shardedUpdate = shardedUpdate
        options.dropout = try dropout.map { text in
            try text.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let rate = Double(String($0).trimmingWhitespace()) else {
                    throw InputError("--dropout takes rates like 0.2 or 0.2,0.1 (got \(text))")
                }
                return rate
            }
        }
        options.sampleWeight = sampleWeight
        options.trainWeights = trainWeights
        options.classWeight = try classWeight.map(TrainingOptions.ClassWeight.init)
        options.categorical = try categorical.map { try TableOptions.columns(parsing: $0, option: "--categorical") }
        options.maxCategories = maxCategories
        options.minCategoryCount = minCategoryCount
        options.missingValues = try missingValues.map(TableOptions.missingValues(parsing:))
        options.dropMissingTarget = dropMissingTarget ? true : nil
        options.reproducible = reproducibility.reproducible ? true : nil
        options.chunkRows = reproducibility.chunkRows
        options.optimizer = optimization.optimizer
        options.momentum = optimization.momentum
        options.nesterov = optimization.nesterov ? true : nil
        options.beta1 = optimization.beta1
        options.beta2 = optimization.beta2
        options.epsilon = optimization.eps
        options.weightDecay = optimization.weightDecay
        options.lrSchedule = optimization.lrSchedule
        options.warmupSteps = optimization.warmupSteps
        options.stepSize = optimization.stepSize
        options.gamma = optimization.gamma
        options.plateauPatience = optimization.plateauPatience
        options.plateauFactor = optimization.plateauFactor
        options.plateauThreshold = optimization.plateauThreshold
        options.minimumRate = optimization.minLr
        options.clipGradientNorm = optimization.clipGradNorm
        options.validationSplit = optimization.validationSplit
        options.earlyStopping = optimization.earlyStopping
        return options
    }

    func run() throws {
        // A bad option is a usage error, reported before MPI starts.
        let options: TrainingOptions
        do { options = try self.options() } catch let error as InputError { throw ValidationError(error.message) }
        Interruption.install(printing: MLPCommand.launcherRank == 0)
        try withCommunicator(collectiveTimeout: watchdog.timeout) { communicator in
            warnAboutSlowKernels(communicator)
            try runTraining(options, communicator: communicator, output: standardOutput)
        }
    }
}

func parseWidths(_ text: String) throws -> [Int] {
    let trimmed = text.trimmingWhitespace()
    guard !trimmed.isEmpty else { return [] }
    return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map { part in
        // Its range (positive, at most `largestWidth`) is `TrainOptionTable.hidden`'s, checked with the others.
        guard let width = Int(part.trimmingWhitespace()) else {
            throw InputError("--hidden: '\(part)' is not an integer (expected widths like 512,512, or \"\" for none)")
        }
        return width
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
