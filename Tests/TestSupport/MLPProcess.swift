import Foundation
import XCTest

/// Runs the executables this package builds (`mlp`, or another one beside it such as a
/// test-only `mlp-faults`) as the end-to-end tests need them: directly, under real `mpirun`, or
/// in the background for signal tests; always with a liveness time limit, after which the
/// process and everything it started are killed and the output says `timedOut`.
///
/// Every test that starts a process goes through here, so there is one set of `mpirun` flags
/// (`mpirunFlags`) and one way to capture output, pass an environment and end a hung run.
public enum MLPProcess {
    /// What a finished (or killed) process left.
    public struct Output {
        /// The exit status, or the signal that ended it (see `reason`).
        public var status: Int32
        /// `.exit` or `.uncaughtSignal`.
        public var reason: Process.TerminationReason
        public var stdout: String
        public var stderr: String
        /// Wall-clock seconds from start to exit.
        public var seconds: Double
        /// The liveness limit was reached and the process tree was killed: a hang, not a result.
        public var timedOut: Bool
    }

    /// The liveness limit of one run: far above any run of the tests (the longest take a few
    /// seconds), so that only a hang reaches it. Not a performance bound.
    public static let defaultTimeLimit: Double = 120

    /// The executable `name` built beside this test bundle (`swift test` builds every target the
    /// test targets depend on into the same folder).
    public static func executable(_ name: String = "mlp") throws -> URL {
        var directory = Bundle.main.bundleURL
        for _ in 0 ..< 3 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw ProcessError("executable '\(name)' not found near \(Bundle.main.bundleURL.path): it is built by `swift build`, "
                           + "and a test target must depend on its target for `swift test` to build it")
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// The one set of `mpirun` flags of the tests:
    /// - `--oversubscribe`: the tests start 2 and 3 ranks on machines with as few as 2 cores;
    /// - `--bind-to none`: mpirun's default binding (to cores, for 2 ranks) pins rank k of every
    ///   job to core k, so concurrent jobs (builds and tests in other worktrees) pile onto the
    ///   same cores; unbound, the kernel spreads them. Each rank runs one OpenBLAS thread:
    ///   `OPENBLAS_NUM_THREADS=1` is in mpirun's environment, which local ranks inherit like
    ///   every other variable (the `MLP_TEST_*` faults too), so no `-x` is needed;
    /// - `--allow-run-as-root` only when running as root (CI does; it also exports
    ///   `OMPI_ALLOW_RUN_AS_ROOT`), since mpirun refuses root without it.
    public static var mpirunFlags: [String] {
        ["--oversubscribe", "--bind-to", "none"] + (isRoot ? ["--allow-run-as-root"] : [])
    }

    /// The environment of a run that ends in a refusal, before any rank writes a file: mpirun
    /// waits `odls_base_sigkill_timeout` (1 s) after a rank's non-zero exit before it ends the
    /// job, even when every rank has already exited; 0 ends it at once. Not for runs that are
    /// interrupted while working (signals, killed ranks): there a rank still writing when
    /// another exits would be killed without that second.
    public static let refusalEnvironment = ["OMPI_MCA_odls_base_sigkill_timeout": "0"]

    /// One program of an `mpirun` command line: `-n ranks [-x NAME=VALUE…] executable arguments…`.
    /// Several make an MPMD job (`mpirun -n 1 a : -n 1 -x MLP_TEST_BUILD_SALT=1 b`); `environment`
    /// is set for this program's ranks only (OpenMPI's `-x` applies to its own program).
    public struct MPIProgram {
        public var ranks: Int
        public var arguments: [String]
        public var executable: String
        public var environment: [String: String]
        public init(ranks: Int, _ arguments: [String], executable: String = "mlp", environment: [String: String] = [:]) {
            self.ranks = ranks; self.arguments = arguments; self.executable = executable; self.environment = environment
        }
    }

    /// The path and arguments that start `programs` under `mpirun`.
    public static func mpirunCommand(_ programs: [MPIProgram]) throws -> (path: String, arguments: [String]) {
        var arguments = mpirunFlags
        for (index, program) in programs.enumerated() {
            if index > 0 { arguments.append(":") }
            arguments += ["-n", "\(program.ranks)"] + program.environment.sorted { $0.key < $1.key }.flatMap { ["-x", "\($0.key)=\($0.value)"] }
            arguments += [try executable(program.executable).path] + program.arguments
        }
        return (try which("mpirun"), arguments)
    }

    /// The path and arguments that start `executable arguments…` directly (`ranks` nil) or under
    /// `mpirun -n ranks`.
    public static func command(ranks: Int?, executable name: String, _ arguments: [String]) throws -> (path: String, arguments: [String]) {
        guard let ranks else { return (try executable(name).path, arguments) }
        return try mpirunCommand([MPIProgram(ranks: ranks, arguments, executable: name)])
    }

    /// `mlp arguments…` (or another executable of the package) as one process, without mpirun.
    public static func run(_ arguments: [String], executable: String = "mlp", environment: [String: String] = [:],
                           timeLimit: Double = defaultTimeLimit) throws -> Output {
        let command = try command(ranks: nil, executable: executable, arguments)
        return try launch(command.path, command.arguments, environment: environment, timeLimit: timeLimit)
    }

    /// `mpirun -n ranks mlp arguments…` with `mpirunFlags`.
    public static func mpirun(ranks: Int, _ arguments: [String], executable: String = "mlp", environment: [String: String] = [:],
                              timeLimit: Double = defaultTimeLimit) throws -> Output {
        let command = try command(ranks: ranks, executable: executable, arguments)
        return try launch(command.path, command.arguments, environment: environment, timeLimit: timeLimit)
    }

    /// One process for 1 rank (the single-node fallback, no mpirun), `mpirun -n ranks` for more:
    /// the way the tests compare P ranks against one process.
    public static func run(ranks: Int, _ arguments: [String], executable: String = "mlp", environment: [String: String] = [:],
                           timeLimit: Double = defaultTimeLimit) throws -> Output {
        ranks == 1 ? try run(arguments, executable: executable, environment: environment, timeLimit: timeLimit)
                   : try mpirun(ranks: ranks, arguments, executable: executable, environment: environment, timeLimit: timeLimit)
    }

    /// An MPMD job: `mpirun -n r₁ a₁ : -n r₂ a₂ …`.
    public static func mpirun(_ programs: [MPIProgram], environment: [String: String] = [:],
                              timeLimit: Double = defaultTimeLimit) throws -> Output {
        let command = try mpirunCommand(programs)
        return try launch(command.path, command.arguments, environment: environment, timeLimit: timeLimit)
    }

    /// Any program, by path or by name on PATH (`python3`), to its end or the time limit.
    public static func launch(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                              timeLimit: Double = defaultTimeLimit) throws -> Output {
        try Background(program, arguments, environment: environment).wait(timeLimit: timeLimit)
    }

    /// `mlp arguments…` (1 rank, no mpirun) or `mpirun -n ranks mlp arguments…`, started in the
    /// background: for tests that signal or kill it while it runs.
    public static func start(ranks: Int = 1, _ arguments: [String], executable: String = "mlp",
                             environment: [String: String] = [:]) throws -> Background {
        let command = try command(ranks: ranks == 1 ? nil : ranks, executable: executable, arguments)
        return try Background(command.path, arguments: command.arguments, environment: environment, executable: executable)
    }

    /// Any program, by path or by name on PATH (`./launch`), started in the background; its rank
    /// processes (`rankProcesses()`) are those running the package's executable `ranksRun`.
    public static func start(program: String, _ arguments: [String], ranksRun executable: String,
                             environment: [String: String] = [:]) throws -> Background {
        try Background(try which(program), arguments: arguments, environment: environment, executable: executable)
    }

    /// The full path of `name` on PATH (a path is returned as it is); a skip when it is not installed.
    public static func which(_ name: String) throws -> String {
        if name.contains("/") { return name }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("\(name) is not on PATH: install it (bash .ci/run installs what the tests need)")
    }

    /// A started process with its output going to files (a pipe that nobody reads could block it).
    public final class Background {
        public let process: Process
        private let directory: URL
        private let executableName: String?
        private let exited = DispatchSemaphore(value: 0)
        private let started = Date()
        private var output: Output?

        convenience init(_ program: String, _ arguments: [String], environment: [String: String]) throws {
            try self.init(try MLPProcess.which(program), arguments: arguments, environment: environment, executable: nil)
        }

        init(_ path: String, arguments: [String], environment extra: [String: String], executable: String?) throws {
            executableName = executable
            process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            var environment = ProcessInfo.processInfo.environment
            environment["OPENBLAS_NUM_THREADS"] = "1"
            environment.merge(extra) { _, new in new }
            process.environment = environment
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-process-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for name in ["stdout", "stderr"] {
                _ = FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: nil)
            }
            process.standardOutput = try FileHandle(forWritingTo: directory.appendingPathComponent("stdout"))
            process.standardError = try FileHandle(forWritingTo: directory.appendingPathComponent("stderr"))
            process.standardInput = FileHandle.nullDevice
            let exited = self.exited
            process.terminationHandler = { _ in exited.signal() }
            try process.run()
        }

        deinit {
            if process.isRunning { killTree() }
            try? FileManager.default.removeItem(at: directory)
        }

        public var pid: pid_t { process.processIdentifier }

        /// The command it runs, for messages.
        public var commandLine: String { ([process.executableURL?.path ?? "?"] + (process.arguments ?? [])).joined(separator: " ") }

        /// What it has written to stdout so far.
        public var stdout: String { (try? String(contentsOf: directory.appendingPathComponent("stdout"), encoding: .utf8)) ?? "" }
        /// What it has written to stderr so far.
        public var stderr: String { (try? String(contentsOf: directory.appendingPathComponent("stderr"), encoding: .utf8)) ?? "" }

        /// Sends `signal` to the process itself (under mpirun: to mpirun).
        public func signal(_ signal: Int32) { kill(pid, signal) }

        /// The processes it started and that are still alive, children first, then theirs.
        public func descendants() -> [pid_t] { MLPProcess.descendants(of: pid) }

        /// Under mpirun, the rank processes: its descendants running the package's executable.
        public func rankProcesses() -> [pid_t] {
            guard let name = executableName, let path = try? realPath(MLPProcess.executable(name).path) else { return [] }
            return descendants().filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe")) == path }
        }

        /// Waits until `condition` holds, checking every 10 ms; throws if the process ends first or
        /// `timeLimit` passes (a liveness limit: the run is stuck). For example, a file that
        /// appears once training has begun.
        public func waitUntil(_ what: String, timeLimit: Double = MLPProcess.defaultTimeLimit, _ condition: () -> Bool) throws {
            let start = Date()
            while !condition() {
                guard process.isRunning else { throw ProcessError("the process ended before \(what): \(stderr)") }
                guard Date().timeIntervalSince(start) < timeLimit else { throw ProcessError("no \(what) after \(timeLimit) s: \(stderr)") }
                usleep(10_000)
            }
        }

        /// Waits until `path` exists (see `waitUntil`).
        public func waitForFile(_ path: String, timeLimit: Double = MLPProcess.defaultTimeLimit) throws {
            try waitUntil("\(path) appeared", timeLimit: timeLimit) { FileManager.default.fileExists(atPath: path) }
        }

        /// Waits for the process to end; at `timeLimit` seconds from now it and every process it
        /// started are killed, the output says `timedOut`, and the test fails: a hang is never a
        /// result, whatever the test goes on to check.
        @discardableResult
        public func wait(timeLimit: Double = MLPProcess.defaultTimeLimit,
                         file: StaticString = #filePath, line: UInt = #line) -> Output {
            if let output { return output }
            var timedOut = false
            if exited.wait(timeout: .now() + timeLimit) == .timedOut {
                timedOut = true
                killTree()
                XCTFail("\(commandLine) was still running after \(timeLimit) s (a liveness limit) and was killed; stderr: \(stderr)",
                        file: file, line: line)
            }
            process.waitUntilExit()
            let output = Output(status: process.terminationStatus, reason: process.terminationReason, stdout: stdout, stderr: stderr,
                                seconds: Date().timeIntervalSince(started), timedOut: timedOut)
            self.output = output
            return output
        }

        /// SIGKILL to the process and all it started (mpirun's ranks are not in its process group).
        private func killTree() {
            let all = descendants()
            kill(pid, SIGSTOP)   // no new children while the tree is killed
            for child in all { kill(child, SIGKILL) }
            kill(pid, SIGKILL)
        }
    }

    /// The live descendants of `pid`, from /proc: children first, then theirs.
    public static func descendants(of pid: pid_t) -> [pid_t] {
        var result: [pid_t] = [], queue = [pid]
        while !queue.isEmpty {
            let parent = queue.removeFirst()
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(parent)/task")) ?? []
            for task in tasks {
                let text = (try? String(contentsOfFile: "/proc/\(parent)/task/\(task)/children", encoding: .utf8)) ?? ""
                for child in text.split(separator: " ").compactMap({ pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                    result.append(child)
                    queue.append(child)
                }
            }
        }
        return result
    }

    /// Whether a process is alive: it exists and is not a zombie waiting to be reaped.
    public static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }
}

/// `path` with every symbolic link resolved (as /proc/PID/exe shows an executable).
func realPath(_ path: String) throws -> String {
    guard let resolved = realpath(path, nil) else { throw ProcessError("\(path): \(String(cString: strerror(errno)))") }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// A test-harness failure (a missing executable, a run that never got going), with its reason.
public struct ProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// `python3`'s path if it can import numpy and safetensors (the cross-checks' reference reader);
/// otherwise a skip that says how to get them.
public func pythonWithSafetensors() throws -> String {
    guard let python = try? MLPProcess.which("python3"),
          (try? MLPProcess.launch(python, ["-c", "import numpy, safetensors.numpy"]))?.status == 0 else {
        throw XCTSkip("python3 with numpy and safetensors not importable (pip install numpy safetensors; bash .ci/run does): "
                      + "skipping the cross-check")
    }
    return python
}

/// `python3`'s path if it can import every one of `modules` (Python names, as `import` takes
/// them); otherwise a skip that names the pip packages to install and what is skipped.
public func python(importing modules: [String], pipPackages: String, skipping what: String) throws -> String {
    guard let python = try? MLPProcess.which("python3") else {
        throw XCTSkip("python3 is not on PATH: skipping \(what)")
    }
    for module in modules where (try? MLPProcess.launch(python, ["-c", "import \(module)"]))?.status != 0 {
        throw XCTSkip("python3 cannot import \(module) (pip install \(pipPackages); bash .ci/run does): skipping \(what)")
    }
    return python
}
