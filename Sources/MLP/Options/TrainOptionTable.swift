private typealias Key = CheckpointSchema.Key

/// Every option of `mlp train`, each declared once (see `TrainOption`). The command line's
/// properties take their flag and help from here; `all` lists them for the generic passes.
// The help strings are the contract of `mlp train --help`; one declaration per option, as the command line has one property.
public enum TrainOptionTable {
    // The data.
    public static let train = TrainOption<DataSource>(
        "--train", "Training data (required unless --resume).", valueName: "path", given: \.train, resume: .mayChange,
        sweep: .fixed(data))
    public static let trainLabels = TrainOption<String>(
        "--train-labels", "The labels of .npy --train features (a .npy of class indices or targets).", valueName: "path",
        given: nil, resume: .mayChange, sweep: .fixed(data))
    public static let test = TrainOption<DataSource>(
        "--test", "Test data, evaluated after every epoch.", valueName: "path", given: \.test, setting: .optional(\.test), resume: .perRun,
        sweep: .fixed(refitOnly))
    public static let testLabels = TrainOption<String>(
        "--test-labels", "The labels of .npy --test features.", valueName: "path", given: nil, resume: .perRun,
        sweep: .fixed(refitOnly))
    public static let target = TrainOption<[String]>(
        "--target", "Target column(s) of a CSV, comma-separated (default: the last column).", valueName: "columns",
        given: \.targetColumns, setting: .optional(\.targetColumns), resume: .mustAgree, sweep: .fixed(task),
        show: { $0.map { "--target \($0.joined(separator: ","))" } ?? "the last column as target" })

    // The model.
    public static let loss = TrainOption<Loss>(
        "--loss",
        "Loss: cross-entropy (classification) or squared-error (regression). (default: cross-entropy, or the --init-from model's)",
        default: .crossEntropy, given: \.loss, resume: .mustAgree, sweep: .fixed(task))
    public static let hidden = TrainOption<[Int]>(
        "--hidden", "Hidden layer widths, comma-separated; \"\" for none. (default: 128,128, or the --init-from model's)",
        valueName: "widths", default: [128, 128], range: .counts(1 ... TrainingOptions.largestWidth), given: \.hidden, resume: .mustAgree)
    public static let activation = TrainOption<Activation>(
        "--activation", "Hidden activation: relu, tanh or sigmoid. (default: relu, or the --init-from model's)",
        default: .relu, given: \.activation, resume: .mustAgree)
    public static let precision = TrainOption<Precision>(
        "--precision", "Arithmetic: float32 or float64. (default: float32)",
        default: .float32, given: \.precision, setting: .value(\.precision), resume: .mustAgree)

    // What decides the sequence of mini-batches.
    public static let batchSize = TrainOption<Int>(
        "--batch-size", "Global mini-batch size n_b, split over the ranks. (default: 64)", default: 64, range: .positiveCount,
        given: \.batchSize, setting: .value(\.batchSize, stored: \.batchSize), checkpointKey: Key.batchSize, resume: .mustAgree)
    public static let epochs = TrainOption<Int>(
        "--epochs", "Passes over the training data, counted from the start of training. (default: 10, or the checkpoint's when resuming)",
        default: 10, range: .positiveCount,
        given: \.epochs, setting: .value(\.epochs, stored: \.epochs), checkpointKey: Key.epochs, resume: .mayChange)
    public static let maxSteps = TrainOption<Int>(
        "--max-steps", "Stop after this many steps in all.", range: .positiveCount,
        given: \.maxSteps, setting: .optional(\.maxSteps), resume: .perRun)
    public static let seed = TrainOption<UInt64>(
        "--seed", "Seed for initialization and shuffling. (default: 0)", default: 0,
        given: \.seed, setting: .value(\.seed, stored: \.seed), checkpointKey: Key.seed, resume: .mustAgree)
    /// Its value is shuffling's (default on): the flag gives `false`.
    public static let noShuffle = TrainOption<Bool>(
        "--no-shuffle", "Keep file order instead of shuffling each epoch.", default: true,
        given: \.shuffle, setting: .value(\.shuffle, stored: \.shuffle), checkpointKey: Key.shuffle, resume: .mustAgree,
        show: { $0 == false ? "--no-shuffle" : "shuffling" })
    public static let standardize = TrainOption<Bool>(
        "--standardize", "Standardize features with the training data's mean and standard deviation (stored in the model).",
        default: false, given: \.standardize, setting: .value(\.standardize, stored: \.standardize), checkpointKey: Key.standardize,
        resume: .mustAgree, show: flag("--standardize"))

    // Files.
    public static let initFrom = TrainOption<String>(
        "--init-from", "Start from this safetensors model (ours, or any with layers.{i}.weight/bias).", valueName: "file",
        given: \.initFrom, setting: .optional(\.initFrom), resume: .perRun, sweep: .fixed(input))
    public static let save = TrainOption<String>(
        "--save", "Write the trained model here (safetensors).", valueName: "file",
        given: \.save, setting: .optional(\.save), resume: .perRun, sweep: .fixed(output))
    public static let metrics = TrainOption<String>(
        "--metrics", "Write per-epoch metrics here as JSON lines.", valueName: "file",
        given: \.metrics, setting: .optional(\.metrics), resume: .perRun, sweep: .fixed(output))
    public static let checksumEvery = TrainOption<Int>(
        "--checksum-every", "Check that all ranks hold identical parameters every this many steps (0: only at the end). (default: 1000)",
        default: 1000, range: .count, given: \.checksumEvery, setting: .value(\.checksumEvery), resume: .perRun,
        sweep: .fixed(execution))
    public static let checkpoint = TrainOption<String>(
        "--checkpoint", "Write a checkpoint here at the end of every epoch (atomically).", valueName: "file",
        given: \.checkpoint, setting: .optional(\.checkpoint), resume: .perRun, sweep: .fixed(output))
    public static let checkpointEvery = TrainOption<Int>(
        "--checkpoint-every", "Also write the checkpoint every this many steps.", valueName: "steps", range: .positiveCount,
        given: \.checkpointEvery, setting: .value(\.checkpointEvery), resume: .perRun, sweep: .fixed(output))
    public static let resume = TrainOption<String>(
        "--resume", "Continue from a checkpoint; --epochs and --max-steps count from the start of training. "
            + "auto: from the --checkpoint file if it exists, else from the start (a file named auto: ./auto).", valueName: "file",
        given: \.resume, resume: .perRun, sweep: .fixed(output))

    // How the run goes.
    public static let onNonFinite = TrainOption<TrainingOptions.NonFinitePolicy>(
        "--on-nonfinite", "A non-finite loss or gradient: stop (at that step, before applying it) or skip-step (no update, go on).",
        default: .stop, given: \.onNonFinite, setting: .value(\.onNonFinite), resume: .perRun)
    public static let allreduce = TrainOption<AllreduceMode>(
        "--allreduce",
        """
            How each step's gradient sums are combined: single (one MPI_Allreduce after backward), overlap (one MPI_Iallreduce \
            per layer as backward produces it) or shared (the ranks of a node hold one θ in shared memory; each adds its \
            slice of the node's sums, allreduced with the same slice's on the other nodes, and updates it in place; where \
            that cannot be had, single with a note) or auto (shared where it can be had, else single; single with             --sharded-update off). Same result; bit for bit at 2 ranks.
            """,
        default: .auto, given: \.allreduce, resume: .perRun, sweep: .fixed(execution))
    public static let shardedUpdate = TrainOption<ShardedUpdateMode>(
        "--sharded-update",
        """
            Update θ sharded across ranks: each rank applies the update to its slice of θ and keeps that slice's optimizer \
            state, then the slices are gathered (ZeRO stage 1): on, off, or auto (on for Adam, AdamW and SGD with momentum). \
            Same result; bit for bit at 2 ranks.
            """,
        default: .auto, given: \.shardedUpdate, resume: .perRun, sweep: .fixed(execution))

    // Weights and dropout.
    public static let sampleWeight = TrainOption<String>(
        "--sample-weight",
        """
            The CSV column of each row's weight: the loss is Σ wᵢ Lᵢ / Σ wᵢ (scikit-learn's sample_weight). The column is \
            neither feature nor target; --test data with it is weighted too.
            """,
        valueName: "column", given: \.sampleWeight, setting: .optional(\.sampleWeight, stored: \.sampleWeight),
        checkpointKey: Key.sampleWeight, resume: .mustAgree, sweep: .fixed(data))
    public static let trainWeights = TrainOption<String>(
        "--train-weights", "The weights of .npy --train rows: a 1-D .npy, one per row.", valueName: "W.npy",
        given: \.trainWeights, setting: .optional(\.trainWeights, stored: \.trainWeights), checkpointKey: Key.trainWeights,
        resume: .mayChange, sweep: .fixed(data))
    public static let classWeight = TrainOption<TrainingOptions.ClassWeight>(
        "--class-weight",
        """
            Class weights: balanced (n / (classes · count), counted on the training rows) or LABEL:WEIGHT,… (others 1); they \
            multiply any sample weights.
            """,
        valueName: "balanced|label:w,…", given: \.classWeight, setting: .optional(\.classWeight, stored: \.classWeight),
        checkpointKey: Key.classWeight, resume: .mustAgree)
    public static let dropout = TrainOption<[Double]>(
        "--dropout",
        """
            Inverted dropout on the hidden layers while training: one rate for all, or one per hidden layer (0.2 or 0.2,0.1). \
            Masks depend on the seed, step, row and unit, never on the ranks.
            """,
        valueName: "p[,p…]", range: .fraction, given: \.dropout, setting: .stored({ $0.dropout }), checkpointKey: Key.dropout,
        resume: .mustAgree,
        show: { rates in "--dropout " + (rates.map { $0.isEmpty ? "0" : $0.map { "\($0)" }.joined(separator: ",") } ?? "0") })

    // Reproducibility.
    public static let reproducible = TrainOption<Bool>(
        "--reproducible",
        """
            The same bits on any number of ranks, hosts and OpenBLAS threads (docs/reproducibility.md): batches are cut into \
            fixed chunks, each computed on one BLAS thread, and their sums are combined exactly.
            """,
        default: false, given: \.reproducible, checkpointKey: Key.chunkRows, resume: .mustAgree)
    public static let chunkRows = TrainOption<Int>(
        "--chunk-rows",
        """
            Rows per chunk with --reproducible (default: a quarter of the batch, at least 8; 64 for evaluate); runs compare bit \
            for bit only at the same value.
            """,
        valueName: "n", range: .positiveCount, given: \.chunkRows, setting: .stored({ $0.chunkRows }), checkpointKey: Key.chunkRows,
        resume: .mustAgree,
        show: { $0.map { "--reproducible --chunk-rows \($0)" } ?? "no --reproducible" })

    // The collective watchdog (train and evaluate); `WatchdogOptions` keeps it, `CollectiveTimeout` checks it.
    public static let collectiveTimeout = TrainOption<Double>(
        "--collective-timeout",
        "Seconds a rank may wait in one collective of a training step before the job ends with one line naming the ranks it "
            + "waits for (exit 75); start-up, evaluation and waiting for rank 0 to write get \(Int(CollectiveTimeout.aloneMultiple))×; "
            + "0: no watchdog.",
        valueName: "seconds", default: CollectiveTimeout.defaultSeconds, range: .nonNegative, given: nil, resume: .perRun,
        sweep: .fixed(execution))

    static func flag(_ name: String) -> (Bool?) -> String { { $0 == true ? name : "no \(name)" } }

    // Why `mlp sweep --param` may not vary an option (`SweepRule.fixed`).
    static let data = "the data every trial is trained and scored on is the base's"
    static let refitOnly = "the test data is evaluated on the refit of the best trial only"
    static let task = "what is predicted decides the score (accuracy or R²), the same for every trial"
    static let input = "the starting model is the base's"
    static let output = "a file the sweep writes itself (each trial's in --sweep-dir)"
    static let execution = "it changes how a run is carried out, not what it learns"
}
