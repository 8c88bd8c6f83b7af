/// How `mlp` ends, as its exit status: what a supervisor (a batch script, `launch --restarts`)
/// decides on. docs/failure-behaviour.md lists them.
public enum ExitStatus {
    public static let success: Int32 = 0
    /// Bad input: data, a model or checkpoint file, an option that only the files show wrong, or
    /// an output path that cannot be written. Restarting does not help; fixing the input does.
    public static let badInput: Int32 = 1
    /// Diverged: a non-finite loss or gradient with `--on-nonfinite stop`.
    public static let diverged: Int32 = 3
    /// The ranks disagree: their parameters drifted apart, or they were started with different
    /// builds, data or options.
    public static let ranksDisagree: Int32 = 4
    /// An output could not be written during the run (disk full, quota, permission lost); the
    /// previous checkpoint is intact.
    public static let writeFailed: Int32 = 5
    /// `mlp sweep`: no trial succeeded (each was refused, diverged or failed; `--results` says why).
    public static let noTrialSucceeded: Int32 = 6
    /// A usage error: an option refused before any work (swift-argument-parser's EX_USAGE).
    public static let usage: Int32 = 64
    /// An MPI call failed (EX_SOFTWARE).
    public static let mpiFailed: Int32 = 70
    /// A rank stalled or became unreachable (EX_TEMPFAIL): restarting from the newest checkpoint
    /// may succeed. (A rank that died shows as mpirun's 137; `launch --restarts` restarts on both.)
    public static let rankLost: Int32 = 75
    /// Interrupted by signal N (SIGINT, SIGTERM, SIGUSR1): 128 + N, as a shell reports it.
    public static func interrupted(by signal: Int32) -> Int32 { 128 + signal }
}
