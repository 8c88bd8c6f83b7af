import Foundation

/// What `launch --restarts K` decides between runs of a job (`mlp supervise` runs the processes):
/// whether a job's status means a rank was lost, on which hosts and with how many ranks it runs
/// again, and from which checkpoint. Pure logic over values, so it is tested without mpirun.
public struct RestartSupervision {
    /// The job's statuses that mean "a rank was lost" (measured with OpenMPI 4.1; docs/launch.md):
    /// 75, mlp's own (the collective watchdog: a rank stalled or unreachable); 137 = 128 + SIGKILL,
    /// mpirun's when a rank was killed; 205, mpirun's when it lost a host's daemon. Nothing else
    /// restarts: bad input, divergence, disagreeing ranks, a failed write, usage, MPI, a crash.
    public static func lostRankCause(_ status: Int32) -> String? {
        switch status {
        case ExitStatus.rankLost: return "a rank died or stalled"
        case 137: return "a rank was killed"
        case 205: return "mpirun lost a host"
        default: return nil
        }
    }

    public let restarts: Int
    public let checkpoint: String
    /// The ranks and hosts (nil: this machine) of the next run.
    public private(set) var ranks: Int
    public private(set) var hosts: JobHosts?

    public init(restarts: Int, checkpoint: String, ranks: Int, hosts: JobHosts?) {
        self.restarts = restarts; self.checkpoint = checkpoint; self.ranks = ranks; self.hosts = hosts
    }

    /// What to do after run `attempt` (from 1) ended with `status`.
    public enum Decision: Equatable {
        /// Stop with this status, after printing `message` on stderr when there is one.
        case exit(Int32, message: String?)
        /// Run again as `resume` says; `line` goes to stderr. When hosts were dropped, `hosts` is
        /// the others, to be written to `newHostfilePath`.
        case restart(line: String, resume: ResumePoint)
    }

    /// - Parameters:
    ///   - answering: asks each host of a hostfile whether it answers; the one place hosts are
    ///     discovered (the hosts that mpirun's remote agent reaches: ssh, or srun in a Slurm allocation).
    ///   - newHostfilePath: where the restart's hostfile will be written when hosts are dropped.
    ///   - resume: the checkpoint to resume from, chosen when a restart is decided.
    public mutating func decide(status: Int32, attempt: Int, answering: (Hostfile) -> HostProbe, newHostfilePath: String,
                                resume: () -> ResumePoint) -> Decision {
        guard status != 0 else { return .exit(0, message: nil) }
        guard let cause = Self.lostRankCause(status) else { return .exit(status, message: nil) }
        guard attempt <= restarts else {
            return .exit(status, message: "launch: the job ended with status \(status) (\(cause)); "
                                          + "no restart left (--restarts \(restarts))")
        }
        var line = "launch: restart \(attempt) of \(restarts): the job ended with status \(status) (\(cause))"
        if let hosts {
            let probe = answering(hosts.hostfile)
            guard probe.answering.slots > 0 else { return .exit(status, message: "\(line); no host of \(hosts.name) answers; not restarting") }
            if probe.dropped.isEmpty {
                line += "; every host answers"
            } else {
                for (host, reason) in probe.dropped { line += "; host \(host) dropped (no answer: \(reason))" }
                self.hosts = JobHosts(hostfile: probe.answering, path: newHostfilePath)
            }
            ranks = min(ranks, probe.answering.slots)
        }
        line += "; \(ranks) ranks now"
        let point = resume()
        switch point {
        case .checkpoint(let path, let step): line += "; resuming from step \(step) of checkpoint \(path)"
        case .startAgain: line += "; no checkpoint written yet: starting again with the same command"
        }
        return .restart(line: line, resume: point)
    }
}

/// The hosts a job runs on and how mpirun is told them.
public struct JobHosts: Equatable, Sendable {
    public var hostfile: Hostfile
    /// mpirun's `--hostfile`; nil: mpirun reads the hosts from the Slurm allocation itself.
    public var path: String?

    public init(hostfile: Hostfile, path: String?) { self.hostfile = hostfile; self.path = path }

    /// How messages name them.
    public var name: String { path ?? "the Slurm allocation (SLURM_JOB_NODELIST)" }
}

/// Which hosts of a hostfile answer, and why the others were dropped (one line each).
public struct HostProbe: Equatable {
    public var answering: Hostfile
    public var dropped: [(host: String, reason: String)]
    public init(answering: Hostfile, dropped: [(host: String, reason: String)]) { self.answering = answering; self.dropped = dropped }
    public static func == (a: HostProbe, b: HostProbe) -> Bool {
        a.answering == b.answering && a.dropped.map(\.host) == b.dropped.map(\.host) && a.dropped.map(\.reason) == b.dropped.map(\.reason)
    }
}

/// An OpenMPI hostfile: one host per line, `host slots=K` (a host without `slots=` counts 1);
/// blank lines and `#` comments are skipped. Read whole or refused: a file without hosts, or a
/// `slots=` that is not a positive integer, is an error naming the line (never a host dropped,
/// nor a job run here without it).
public struct Hostfile: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        /// The line as written, kept for the restart's hostfile.
        public var line: String
        public var host: String
        public var slots: Int

        /// A host that no file named (a Slurm allocation's node): its line is `host slots=K`.
        public init(host: String, slots: Int) { line = "\(host) slots=\(slots)"; self.host = host; self.slots = slots }

        init(line: String, host: String, slots: Int) { self.line = line; self.host = host; self.slots = slots }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// `path` names the file in messages.
    public init(text: String, path: String = "the hostfile") throws {
        entries = try text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let host = fields.first, !host.hasPrefix("#") else { return nil }
            var slots = 1
            for field in fields.dropFirst() where field.hasPrefix("slots=") {
                guard let value = Int(field.dropFirst("slots=".count)), (1 ... 1_000_000).contains(value) else {
                    throw InputError("\(path):\(index + 1): \(field): slots must be a positive integer (host slots=K)")
                }
                slots = value
            }
            return Entry(line: String(line), host: String(host), slots: slots)
        }
        guard !entries.isEmpty else { throw InputError("\(path): no hosts (one per line: host slots=K)") }
    }

    public static func read(path: String) throws -> Hostfile {
        var kind = stat()
        if stat(path, &kind) == 0, kind.st_mode & S_IFMT == S_IFDIR { throw InputError("\(path): is a directory, not a hostfile") }
        return try Hostfile(text: String(decoding: try readFileBytes(path), as: UTF8.self), path: path)
    }

    /// The ranks it holds: the sum of its slots.
    public var slots: Int { entries.reduce(0) { $0 + $1.slots } }

    public var text: String { entries.map { $0.line + "\n" }.joined() }
}

/// Where a restart starts: the checkpoint this launch's job wrote, or the job's own command.
public enum ResumePoint: Equatable, Sendable {
    case checkpoint(path: String, step: Int)
    case startAgain

    /// The checkpoint at `path` counts only if it is another file than the one there when launch
    /// started (a checkpoint is written beside, then renamed over) and it reads as a checkpoint.
    public static func choose(path: String, versionBefore: FileVersion?, versionNow: FileVersion?,
                              step: (String) -> Int?) -> ResumePoint {
        guard let versionNow, versionNow != versionBefore, let step = step(path) else { return .startAgain }
        return .checkpoint(path: path, step: step)
    }

    /// mlp's arguments for this restart: `first` as launch was given them, or, from a checkpoint,
    /// the same without `--resume` and `--init-from` (they exclude each other) and with `--resume PATH`.
    public func arguments(from first: [String]) -> [String] {
        guard case .checkpoint(let path, _) = self else { return first }
        var kept: [String] = [], index = 0
        while index < first.count {
            let argument = first[index]
            if argument == "--resume" || argument == "--init-from" { index += 2; continue }
            if !(argument.hasPrefix("--resume=") || argument.hasPrefix("--init-from=")) { kept.append(argument) }
            index += 1
        }
        return kept + ["--resume", path]
    }
}

/// Which version of a file is at a path: device, inode, size and modification time (a file written
/// beside and renamed over the path is another version).
public struct FileVersion: Equatable, Sendable {
    public var device: UInt64, inode: UInt64, size: Int64, modified: timespec

    public init(device: UInt64, inode: UInt64, size: Int64, modified: timespec) {
        self.device = device; self.inode = inode; self.size = size; self.modified = modified
    }

    /// The file at `path` now; nil when there is none.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: info.st_mtim)
    }

    public static func == (a: FileVersion, b: FileVersion) -> Bool {
        (a.device, a.inode, a.size) == (b.device, b.inode, b.size)
            && (a.modified.tv_sec, a.modified.tv_nsec) == (b.modified.tv_sec, b.modified.tv_nsec)
    }
}
