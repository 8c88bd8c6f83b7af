import ArgumentParser
import Foundation
import MLP
import Synchronization

/// `mlp supervise` (hidden): `launch`'s mpirun, and with `--restarts K` its restart supervisor.
/// launch (bash) installs, builds and picks the ranks; this runs the job, and when it lost a
/// rank, starts it again from the newest checkpoint on the hosts that still answer
/// (`RestartSupervision` decides; docs/launch.md#restarts). Its messages start with `launch:`,
/// as they are launch's.
struct Supervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run mlp under mpirun for ./launch and restart it after a lost rank (launch --restarts).", shouldDisplay: false)

    @Option(help: "Ranks of the first run (default: SLURM_NTASKS, else the slots of --hostfile or of the Slurm allocation, else --cores).")
    var ranks: Int?
    @Option(help: ArgumentHelp("OpenMPI hostfile (none: this machine).", valueName: "file")) var hostfile: String?
    @Option(help: "This machine's cores (each rank gets cores / ranks OpenBLAS threads).") var cores: Int
    @Option(help: "MLP_PROGRESS for rank 0 (1: launch's output is a terminal).") var progress = 0
    @Option(help: "Restarts after a lost rank (0: run mpirun once, in this process).") var restarts = 0
    @Option(help: ArgumentHelp("The checkpoint the job writes (train's --checkpoint); needed with --restarts.", valueName: "file"))
    var checkpoint: String?
    @Option(help: ArgumentHelp("With --restarts: seconds after an MPI_Abort that mpirun may take to exit before it is ended.",
                               valueName: "seconds"))
    var abortGrace: Double = 15
    @Option(help: ArgumentHelp("The mlp that mpirun runs.", valueName: "path")) var mlp: String
    @Argument(parsing: .captureForPassthrough, help: "mlp's arguments (after --).") var arguments: [String] = []

    func run() throws {
        // launch's own checks: one `launch:` line and status 2, as launch's bash refuses its arguments.
        do {
            guard cores > 0, ranks.map({ $0 > 0 }) ?? true, restarts >= 0, abortGrace.isFinite, abortGrace >= 0 else {
                throw InputError("supervise: --cores, --ranks must be positive, --restarts and --abort-grace 0 or more")
            }
            _ = try hostfile.map { try Hostfile.read(path: $0) }
        } catch let error as InputError {
            printLine("launch: \(error.message)")
            throw ExitCode(2)
        }
        try withoutCommunicator { try supervise() }
    }

    private func supervise() throws {
        let environment = ProcessInfo.processInfo.environment
        let first = arguments.first == "--" ? Array(arguments.dropFirst()) : arguments
        // Inside a Slurm job: its task count, CPUs per task and, without --hostfile, its nodes.
        // Each value is read only where it decides something, and a malformed one is a note.
        let slurm = SlurmEnvironment(environment)
        var notes: [String] = []
        let taskCount = ranks == nil ? slurm.taskCount(notes: &notes) : nil
        let cpusPerTask = slurm.cpusPerTask(notes: &notes)
        var hosts = try hostfile.map { JobHosts(hostfile: try Hostfile.read(path: $0), path: $0) }
        if hosts == nil && (restarts > 0 || (ranks ?? taskCount) == nil) {
            hosts = slurm.allocation(cpusPerTask: cpusPerTask, notes: &notes).map { JobHosts(hostfile: $0, path: nil) }
        }
        notes.forEach(printLine)
        let job = MPIRunJob(ranks: ranks ?? taskCount ?? hosts?.hostfile.slots ?? cores, hostfile: hostfile, cores: cores,
                            cpusPerTask: cpusPerTask, readsSlurmAllocation: slurm.mpirunReadsAllocation, progress: progress == 1,
                            forwardsCoreType: !(environment["OPENBLAS_CORETYPE"] ?? "").isEmpty, asRoot: geteuid() == 0,
                            extraFlags: (environment["MLP_MPIRUN_FLAGS"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        guard restarts > 0 else { try execute("mpirun", job.arguments(mlp: mlp, first)) }
        guard let checkpoint else { throw ValidationError("--restarts needs --checkpoint") }
        var supervisor = try JobSupervisor(job: job, mlp: mlp, grace: abortGrace, environment: environment)
        let status = try supervisor.supervise(first, restarts: restarts, checkpoint: checkpoint, hosts: hosts)
        throw ExitCode(status)
    }
}

/// The latest of SIGINT, SIGTERM, SIGHUP, SIGUSR1 that reached `supervise` (0: none): set in the
/// signal handler, so an atomic (lock-free, async-signal-safe).
private let receivedSignal = Atomic<Int32>(0)

/// Runs the job's mpirun again and again as `RestartSupervision` decides.
private struct JobSupervisor {
    var job: MPIRunJob
    let mlp: String
    /// Seconds after an abort that mpirun may take to exit before it is ended.
    let grace: Double
    let environment: [String: String]
    let work: String

    init(job: MPIRunJob, mlp: String, grace: Double, environment: [String: String]) throws {
        self.job = job; self.mlp = mlp; self.grace = grace; self.environment = environment
        var template = Array("\(environment["TMPDIR"] ?? "/tmp")/mlp-launch.XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw InputError("cannot make a work folder: \(String(cString: strerror(errno)))") }
        work = text(of: template)
    }

    /// The job's final status. A signal to `supervise` goes to mpirun once (mpirun runs in its
    /// own session, so a signal to launch's process group, Ctrl-C or `timeout`, does not reach it
    /// twice: a second signal makes mpirun kill the ranks before they write their checkpoint),
    /// and then nothing restarts: the status is 128 + the signal (0 if the job still succeeded).
    mutating func supervise(_ first: [String], restarts: Int, checkpoint: String, hosts: JobHosts?) throws -> Int32 {
        defer { try? FileManager.default.removeItem(atPath: work) }
        _ = receivedSignal.load(ordering: .relaxed)   // initialized before any handler can run
        // SIGUSR1 too: a batch script forwards Slurm's warning before the time limit with it
        // (docs/slurm.md); its default action would end supervise and leave mpirun running.
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGUSR1] { _ = Glibc.signal(signal) { receivedSignal.store($0, ordering: .relaxed) } }
        let before = FileVersion(path: checkpoint)
        var supervision = RestartSupervision(restarts: restarts, checkpoint: checkpoint, ranks: job.ranks, hosts: hosts)
        var command = first
        for attempt in 1... {
            let status = try runJob(command)
            let interrupted = receivedSignal.load(ordering: .relaxed)
            if interrupted != 0 { return status == 0 ? 0 : 128 + interrupted }
            let newHostfile = "\(work)/hosts-\(attempt)"
            let decision = supervision.decide(status: status, attempt: attempt, answering: answeringHosts, newHostfilePath: newHostfile) {
                ResumePoint.choose(path: checkpoint, versionBefore: before, versionNow: FileVersion(path: checkpoint)) {
                    try? ModelInfo.read(path: $0).checkpoint?.position.step
                }
            }
            switch decision {
            case .exit(let status, let message):
                if let message { printLine(message) }
                return status
            case .restart(let line, let resume):
                // Dropped hosts: a hostfile of the others (in a Slurm allocation mpirun takes it as a
                // filter on the allocation's nodes).
                if let hosts = supervision.hosts, hosts.path == newHostfile {
                    try writeFileAtomically(Array(hosts.hostfile.text.utf8), to: newHostfile)
                }
                (job.ranks, job.hostfile) = (supervision.ranks, supervision.hosts?.path)
                command = resume.arguments(from: first)
                printLine(line)
                let signal = receivedSignal.load(ordering: .relaxed)
                if signal != 0 { return 128 + signal }
            }
        }
        fatalError("unreachable")
    }

    /// Runs mpirun once; its status (128 + N for a signal N, as a shell reports it). mpirun's
    /// stderr goes to a file that is copied to ours as it grows and watched for an abort: after
    /// MPI_Abort mpirun ends every rank within seconds, unless a host it must tell is gone; then
    /// it waits for TCP to give up (about 15 minutes with Linux's default tcp_retries2). `grace`
    /// seconds after the abort it is ended (SIGKILL: a SIGTERM makes it crash in PMIx_Finalize)
    /// and the abort's error code is the job's status.
    func runJob(_ arguments: [String]) throws -> Int32 {
        let log = "\(work)/mpirun.stderr"
        let pid = try spawnInOwnSession("mpirun", job.arguments(mlp: mlp, arguments), stderr: log)
        let reader = open(log, O_RDONLY | O_CLOEXEC)
        defer { close(reader) }
        var text = "", forwarded: Int32 = 0, abortedAt: Double?, endedStatus: Int32?
        func follow() {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress!, $0.count) }
                guard count > 0 else { return }
                buffer.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress!, count) }
                text += String(decoding: buffer[0 ..< count], as: UTF8.self)
            }
        }
        var waitStatus: Int32 = 0
        while true {
            let waited = waitpid(pid, &waitStatus, WNOHANG)
            if waited == pid { break }
            guard waited == 0 || errno == EINTR else { throw InputError("cannot wait for mpirun: \(String(cString: strerror(errno)))") }
            let signal = receivedSignal.load(ordering: .relaxed)
            if signal != 0 && forwarded == 0 { kill(pid, signal); forwarded = signal }
            follow()
            if abortedAt == nil && MPIRunJob.showsAbort(text) { abortedAt = monotonicSeconds() }
            if let abortedAt, endedStatus == nil, monotonicSeconds() - abortedAt >= grace {
                let code = MPIRunJob.abortStatus(text)
                printLine("launch: mpirun has not exited \(formatted(grace)) s after the job called MPI_Abort (error code \(code)): "
                          + "a host it must reach is gone; ending mpirun")
                // With the processes it started: the remote agents (ssh to the lost host would hold
                // our output open until TCP gives up) and any rank left here.
                for process in [pid] + children(of: pid) { kill(process, SIGKILL) }
                endedStatus = code
            }
            usleep(200_000)
        }
        follow()
        if let endedStatus { return endedStatus }
        let signal = waitStatus & 0x7f
        return signal == 0 ? (waitStatus >> 8) & 0xff : 128 + signal
    }

    /// The hosts of a hostfile (or of a Slurm allocation) that answer: local ones, and remote ones
    /// on which the agent mpirun starts its daemons with (ssh, or srun in an allocation) runs
    /// `true` within 30 s. The one place hosts are discovered.
    func answeringHosts(_ hostfile: Hostfile) -> HostProbe {
        let agent = job.remoteAgent(environment: environment, isInstalled: { isInstalled($0) })
        let (names, addresses) = localNamesAndAddresses()
        var kept: [Hostfile.Entry] = [], dropped: [(host: String, reason: String)] = []
        for entry in hostfile.entries {
            if MPIRunJob.isLocal(entry.host, names: names, addresses: addresses) { kept.append(entry); continue }
            guard let agent else { dropped.append((entry.host, "no remote agent (ssh; srun in a Slurm allocation) is installed")); continue }
            let (status, output) = runCapturing("timeout", ["30"] + agent + [entry.host, "true"])
            if status == 0 { kept.append(entry); continue }
            let last = output.split(whereSeparator: \.isNewline).last.map(String.init)
            dropped.append((entry.host, last ?? "nothing within 30 s"))
        }
        return HostProbe(answering: Hostfile(entries: kept), dropped: dropped)
    }
}

/// This machine's host names (as `hostname`, `hostname -s`, `hostname -f` give them) and addresses.
private func localNamesAndAddresses() -> (Set<String>, Set<String>) {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    let name = text(of: buffer)
    var names: Set<String> = [name, String(name.prefix { $0 != "." })]
    let full = runCapturing("hostname", ["-f"])
    if full.status == 0 { names.insert(full.output.trimmingCharacters(in: .whitespacesAndNewlines)) }
    var addresses: Set<String> = []
    var list: UnsafeMutablePointer<ifaddrs>?
    if getifaddrs(&list) == 0 {
        var item = list
        while let current = item {
            if let address = current.pointee.ifa_addr, [sa_family_t(AF_INET), sa_family_t(AF_INET6)].contains(address.pointee.sa_family) {
                var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                let isIPv4 = address.pointee.sa_family == sa_family_t(AF_INET)
                let length = socklen_t(isIPv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
                if getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                    addresses.insert(String(text(of: host).prefix { $0 != "%" }))
                }
            }
            item = current.pointee.ifa_next
        }
        freeifaddrs(list)
    }
    return (names, addresses)
}

/// Starts `program` (found on PATH) in a session of its own, stdin from /dev/null, stderr to
/// the file `stderr`; returns its pid.
private func spawnInOwnSession(_ program: String, _ arguments: [String], stderr: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t(), attributes = posix_spawnattr_t()
    posix_spawn_file_actions_init(&actions); posix_spawnattr_init(&attributes)
    defer { posix_spawn_file_actions_destroy(&actions); posix_spawnattr_destroy(&attributes) }
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    // Created before the child runs, so the reader can open it at once.
    close(open(stderr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600))
    // POSIX_SPAWN_SETSID (glibc 2.26 on): spawn.h defines it under _GNU_SOURCE only, which Swift's Glibc does not see.
    posix_spawnattr_setflags(&attributes, 0x80)
    var pid: pid_t = 0
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let result = posix_spawnp(&pid, program, &actions, &attributes, argv, environ)
    guard result == 0 else { throw InputError("cannot start \(program): \(String(cString: strerror(result)))") }
    return pid
}

/// Replaces this process with `program` (found on PATH): `launch` without restarts is mpirun itself.
private func execute(_ program: String, _ arguments: [String]) throws -> Never {
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    execvp(program, argv)
    throw InputError("cannot run \(program): \(String(cString: strerror(errno)))")
}

/// Runs `program arguments…` with stdin from /dev/null; its status and its stdout and stderr together.
private func runCapturing(_ program: String, _ arguments: [String]) -> (status: Int32, output: String) {
    guard let path = executablePath(program) else { return (127, "\(program): not found") }
    let process = Process(), pipe = Pipe()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { return (127, "\(program): \(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private func isInstalled(_ program: String) -> Bool { executablePath(program) != nil }

/// `program`'s path as a shell finds it: itself when it holds a '/', else the first on PATH.
private func executablePath(_ program: String) -> String? {
    if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(program)" }.first { access($0, X_OK) == 0 }
}

/// The live children of `pid`, from /proc.
private func children(of pid: pid_t) -> [pid_t] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.flatMap { task in
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { pid_t($0) }
    }
}

/// A NUL-terminated C string in a buffer, as text.
private func text(of buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

private func formatted(_ seconds: Double) -> String { seconds.rounded() == seconds ? "\(Int(seconds))" : "\(seconds)" }

private func printLine(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
