import ArgumentParser
import Foundation
import MLP
import MLPMPI

/// `mlp`: train multilayer perceptrons, data-parallel over MPI ranks (or as one process).
/// The executable's whole program is `MLPCommand.main()`.
public struct MLPCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mlp",
        abstract: "Train multilayer perceptrons, data-parallel over MPI ranks.",
        discussion: """
            Run under mpirun (or ./launch -n N) for N data-parallel ranks; run directly for one process.
            Every rank computes its shard of each mini-batch; one allreduce gives the exact mini-batch gradient.
            """,
        subcommands: [Train.self, Sweep.self, Evaluate.self, Predict.self, Plot.self, Convert.self, Export.self, Info.self, Bench.self, BLAS.self,
                      BenchAllreduce.self, BenchStep.self, Supervise.self])

    public init() {}

    /// Wraps the communicator that every command runs with, when set before `main()`: the
    /// fault-injection tests' seam (`Tests/FaultInjection`). nil in `mlp`.
    public nonisolated(unsafe) static var communicatorWrapper: ((Communicator) -> Communicator)?

    /// Makes this build differ from `mlp`'s when set before `main()`: the fault-injection tests'
    /// seam for a rank started with another build (`MLP_TEST_BUILD_SALT`). nil in `mlp`.
    public nonisolated(unsafe) static var buildSalt: String?

    /// What this build is, which the ranks compare before anything else.
    static var build: BuildIdentity {
        BuildIdentity(sourceDigest: SourceFingerprint.sourceDigest, compiler: SourceFingerprint.compiler, testSalt: buildSalt)
    }

    /// Parses and runs; under mpirun only rank 0 prints usage errors and help, so a bad option
    /// shows one line, not one per rank.
    public static func main() { main(nil) }

    /// `main()` with these arguments instead of the process's (`mlp-faults` changes them).
    public static func main(_ arguments: [String]?) {
        StandardStreams.ignoreBrokenPipes()
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let failure as ReportedFailure {
            Foundation.exit(failure.exitCode)
        } catch {
            let code = exitCode(for: error)
            if launcherRank == 0 {
                if code == .success || error is ExitCode {
                    exit(withError: error)
                }
                let message = MLPCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                StandardStreams.writeError("mlp: error: \(message)\n")
            } else if code != .success {
                // mpirun ends the job when the first rank exits with a failure, rank 0 too, perhaps before
                // its line is out: the others leave rank 0 time to print it (mpirun ends them when it exits).
                Thread.sleep(forTimeInterval: 2)
            }
            Foundation.exit(code.rawValue)
        }
    }

    /// This process's rank as the launcher set it (before MPI is initialized), 0 without one.
    static var launcherRank: Int { MPICommunicator.launcherRank ?? 0 }
}

extension Loss: ExpressibleByArgument {}
extension Activation: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension TrainingOptions.NonFinitePolicy: ExpressibleByArgument {}
extension AllreduceMode: ExpressibleByArgument {}
extension ShardedUpdateMode: ExpressibleByArgument {}

/// Runs `body` with the communicator for this process: MPI under a launcher, else a world of
/// one. The ranks first agree that they run the same build. Under MPI with more than one rank
/// and a `collectiveTimeout`, a collective watchdog watches every blocking collective. MPI is
/// finalized on every exit path; an agreed failure is printed once, by the rank that hit it, and
/// becomes its exit status (`ExitStatus`). `multipleThreads`: MPI must let a thread of the
/// command's own call it (`mlp sweep`'s queue).
func withCommunicator(collectiveTimeout: CollectiveTimeout?, multipleThreads: Bool = false,
                      _ body: (Communicator) throws -> Void) throws {
    let mpi = MPICommunicator.isLaunchedByMPI ? MPICommunicator(collectiveTimeout: collectiveTimeout, multipleThreads: multipleThreads)
        : nil
    let world: Communicator = mpi ?? SingleProcessCommunicator()
    let communicator = MLPCommand.communicatorWrapper?(world) ?? world
    defer { mpi?.finalize() }
    try refuseSeparateWorlds(worldSize: world.size)
    BLASThreads.apply(communicator.node)
    do {
        // The first collective: another build may not even make the same ones after it.
        try communicator.agreeAtStart(MLPCommand.build.items)
        try body(communicator)
    } catch let failure as AgreedFailure {
        Interruption.exiting()
        if communicator.rank == failure.reportingRank { printError(failure.message) }
        throw ReportedFailure(exitCode: failure.exitCode)
    } catch let error as InputError {
        Interruption.exiting()
        // Raised the same way on every rank (e.g. option checks): one line from rank 0.
        if communicator.rank == 0 { printError(error.message) }
        throw ReportedFailure(exitCode: ExitStatus.badInput)
    } catch let error as WriteError {
        Interruption.exiting()
        if communicator.rank == 0 { printError(error.message) }
        throw ReportedFailure(exitCode: ExitStatus.writeFailed)
    }
}

/// A failure every rank raised alike, its line already printed by the rank that reports it.
/// Thrown out of `withCommunicator`, so MPI_Finalize (a fence: every rank, the reporting one
/// included, has reached it) is behind it: each rank exits at once with `exitCode`, without
/// the wait that keeps a rank from ending the job before rank 0's line is out.
struct ReportedFailure: Error {
    let exitCode: Int32
}

/// Training and benchmarks warn, from rank 0, when OpenBLAS runs its slow fallback kernels.
func warnAboutSlowKernels(_ communicator: Communicator) {
    guard communicator.rank == 0,
          let warning = BLASThreads.kernelWarning(coreName: BLASInfo.coreName, environment: ProcessInfo.processInfo.environment,
                                                  cpuFlags: BLASThreads.cpuFlags) else { return }
    StandardStreams.writeError("mlp: warning: \(warning)\n")
}

/// srun without PMIx starts each task as an MPI world of one: separate trainings that would
/// write the same files. Refused before anything is read, in one line from the step's task 0;
/// a malformed Slurm variable is ignored with a note.
func refuseSeparateWorlds(worldSize: Int) throws {
    let environment = ProcessInfo.processInfo.environment
    let (step, notes) = SlurmStep.from(environment)
    let printing = MLPCommand.launcherRank == 0
    if printing { notes.forEach { StandardStreams.writeError("mlp: note: \($0)\n") } }
    guard let step, let refusal = step.refusal(worldSize: worldSize, startedByMPIRun: environment["OMPI_COMM_WORLD_SIZE"] != nil)
    else { return }
    Interruption.exiting()
    if printing { printError(refusal) }
    throw ExitCode(ExitStatus.usage)
}

/// Runs `body` in one process without MPI (convert, plot): an input or write error is one line
/// and its exit status.
func withoutCommunicator(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as InputError {
        printError(error.message)
        throw ExitCode(ExitStatus.badInput)
    } catch let error as WriteError {
        printError(error.message)
        throw ExitCode(ExitStatus.writeFailed)
    }
}

func printError(_ message: String) {
    StandardStreams.writeError("mlp: error: \(message)\n")
}

/// Runs `body`, whose product is an output that may be a stream: if that stream's reader has gone
/// (`mlp predict --output - | head -1`), stops quietly as `head`'s producers do, and the command
/// ends with status 0: the reader took what it wanted.
func stoppingQuietlyIfTheReaderLeft(_ body: () throws -> Void) throws {
    do { try body() } catch is OutputStreamClosed {}
}

/// Rank 0's output: whole lines, flushed, so progress shows under mpirun and in logs; on a
/// terminal also a progress line redrawn in place (never in logs: no control characters there).
///
/// Under mpirun a rank's stdout is a pseudo-terminal even when mpirun's output goes to a file,
/// so there the launcher decides: `MLP_PROGRESS=1` (`./launch` sets it when its own output is a
/// terminal). `MLP_PROGRESS=0` turns the bar off anywhere. While stdout carries an output (`-`)
/// the lines go to stderr; a reader that has gone stops them, not the command (`StandardStreams`).
// Written once, before any thread starts; the commands run on the main thread only.
nonisolated(unsafe) let standardOutput: TrainingOutput = {
    let environment = ProcessInfo.processInfo.environment
    let isTerminal = environment["MLP_PROGRESS"].map { $0 == "1" }
        ?? (!MPICommunicator.isLaunchedByMPI && isatty(STDOUT_FILENO) == 1 && environment["TERM"] != "dumb")
    let clearLine = "\r\u{1B}[2K"
    return TrainingOutput(
        line: { line in StandardStreams.writeStatus((isTerminal ? clearLine + line : line) + "\n") },
        progress: isTerminal ? { text in StandardStreams.writeStatus(clearLine + text) } : nil)
}()
