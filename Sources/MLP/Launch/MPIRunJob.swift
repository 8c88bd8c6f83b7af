/// The mpirun command of a job that `launch` starts, and what its stderr says when it aborts:
/// the parts of `mlp supervise` that need no process, so they are tested without mpirun.
public struct MPIRunJob: Equatable, Sendable {
    public var ranks: Int
    /// nil: this machine only.
    public var hostfile: String?
    /// This machine's cores: each rank gets cores / ranks OpenBLAS threads (at least 1), unless
    /// `cpusPerTask` says otherwise.
    public var cores: Int
    /// A Slurm job's `--cpus-per-task` (`SLURM_CPUS_PER_TASK`): each rank's threads, the CPUs
    /// Slurm gives each task on every node (this machine's cores may not be a rank's node's).
    public var cpusPerTask: Int?
    /// mpirun takes its hosts and slots from a Slurm allocation (it runs inside one): it needs no
    /// `--oversubscribe`, and ranks beyond the allocation's tasks are its to refuse.
    public var readsSlurmAllocation: Bool
    /// `MLP_PROGRESS` for rank 0: whether launch's own output is a terminal.
    public var progress: Bool
    /// `OPENBLAS_CORETYPE` is set and must reach the ranks.
    public var forwardsCoreType: Bool
    public var asRoot: Bool
    /// `MLP_MPIRUN_FLAGS`, split on white space.
    public var extraFlags: [String]

    public init(ranks: Int, hostfile: String?, cores: Int, cpusPerTask: Int? = nil, readsSlurmAllocation: Bool = false,
                progress: Bool, forwardsCoreType: Bool, asRoot: Bool, extraFlags: [String]) {
        self.ranks = ranks; self.hostfile = hostfile; self.cores = cores; self.cpusPerTask = cpusPerTask
        self.readsSlurmAllocation = readsSlurmAllocation; self.progress = progress
        self.forwardsCoreType = forwardsCoreType; self.asRoot = asRoot; self.extraFlags = extraFlags
    }

    public var threadsPerRank: Int { cpusPerTask ?? max(1, cores / max(1, ranks)) }

    /// mpirun's arguments before the program: ranks, each rank's environment, and
    /// `--allow-run-as-root` only as root, `--oversubscribe` only for more ranks than cores here
    /// (neither a hostfile nor a Slurm allocation),
    /// `--bind-to none` when a rank has several threads (mpirun pins a rank to one core by default),
    /// and with one thread each, one rank per core (`--bind-to core`, which mpirun's default is for
    /// 2 ranks only: for more, a socket), except where this machine's cores are oversubscribed;
    /// `overload-allowed` for a hostfile's or an allocation's slots, which may exceed its cores.
    public var flags: [String] {
        var flags = ["-n", "\(ranks)", "-x", "OPENBLAS_NUM_THREADS=\(threadsPerRank)", "-x", "MLP_PROGRESS=\(progress ? 1 : 0)"]
        if forwardsCoreType { flags += ["-x", "OPENBLAS_CORETYPE"] }
        if asRoot { flags.append("--allow-run-as-root") }
        if hostfile == nil && !readsSlurmAllocation && ranks > cores { flags.append("--oversubscribe") }
        let oversubscribed = flags.contains("--oversubscribe")
        if threadsPerRank > 1 { flags += ["--bind-to", "none"] } else if !oversubscribed { flags += ["--bind-to", "core:overload-allowed"] }
        if let hostfile { flags += ["--hostfile", hostfile] }
        return flags + extraFlags
    }

    /// `mpirun flags mlp arguments…`, without the path of mpirun.
    public func arguments(mlp: String, _ arguments: [String]) -> [String] { flags + [mlp] + arguments }

    /// The agent mpirun starts its remote daemons with, as a command to which a host and a
    /// command are appended. Inside a Slurm allocation (`SLURM_JOBID` set) mpirun starts them
    /// with `srun`, unless its `plm` MCA parameter leaves out `slurm`: then `srun` runs one task
    /// on that one node, as a step that may share the job's CPUs (`--overlap`) and without MPI.
    /// Otherwise `--mca plm_rsh_agent` in the extra flags, else the environment's
    /// `OMPI_MCA_plm_rsh_agent` (or the older `orte_` name), else OpenMPI's default "ssh : rsh".
    /// The value is a list separated by ':'; the first whose program is installed is used. ssh
    /// gets batch mode and a connect timeout, so that a lost host cannot hang it on a prompt.
    /// nil when none is installed.
    public func remoteAgent(environment: [String: String], isInstalled: (String) -> Bool) -> [String]? {
        if environment["SLURM_JOBID"] != nil && Self.selects("slurm", mcaParameter(["plm"], environment: environment)) {
            return isInstalled("srun") ? ["srun", "--nodes=1", "--ntasks=1", "--overlap", "--mpi=none", "--nodelist"] : nil
        }
        let value = mcaParameter(["plm_rsh_agent", "orte_rsh_agent"], environment: environment) ?? "ssh : rsh"
        for choice in value.split(separator: ":") {
            let agent = choice.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let program = agent.first, isInstalled(program) else { continue }
            return program == "ssh" ? agent + ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"] : agent
        }
        return nil
    }

    /// An MCA parameter's value as mpirun sees it: `--mca NAME VALUE` in the extra flags (the
    /// last one), else the environment's `OMPI_MCA_NAME`; the first of `names` that is set.
    func mcaParameter(_ names: [String], environment: [String: String]) -> String? {
        for name in names {
            let flag = extraFlags.indices.dropLast(2).last { index in
                extraFlags[index].hasPrefix("-") && extraFlags[index].hasSuffix("mca") && extraFlags[index + 1] == name
            }
            if let flag { return extraFlags[flag + 2] }
        }
        return names.lazy.compactMap { environment["OMPI_MCA_\($0)"] }.first
    }

    /// Whether an MCA component selection (`rsh`, `slurm,rsh`, `^slurm`; nil: none given) lets
    /// OpenMPI pick `component`.
    static func selects(_ component: String, _ selection: String?) -> Bool {
        guard let selection else { return true }
        let excluding = selection.hasPrefix("^")
        return selection.dropFirst(excluding ? 1 : 0).split(separator: ",").contains { $0 == component } != excluding
    }

    /// Whether `host` names this machine: localhost, a loopback address, or one of its names
    /// and addresses.
    public static func isLocal(_ host: String, names: Set<String>, addresses: Set<String>) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1" || names.contains(host) || addresses.contains(host)
    }

    /// Whether mpirun's stderr shows that the job is ending on an abort: mpirun's own notice, or
    /// mlp's error line before it (mpirun's notice can be lost when a host is gone; seen:
    /// "ORTE_ERROR_LOG: Data unpack would read past end of buffer in show_help.c" instead).
    /// After an `mlp: error:` line every job ends within seconds, unless mpirun waits for a lost host.
    public static func showsAbort(_ stderr: String) -> Bool {
        stderr.contains("MPI_ABORT was invoked") || stderr.split(separator: "\n").contains { $0.hasPrefix("mlp: error:") }
    }

    /// The status of a job whose mpirun had to be ended after an abort: the error code of
    /// mpirun's notice ("MPI_ABORT was invoked on rank R … \n with errorcode E."), else 75 when
    /// the collective watchdog's line is there (its abort), else 1.
    public static func abortStatus(_ stderr: String) -> Int32 {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false)
        for index in lines.indices where lines[index].contains("MPI_ABORT was invoked") {
            for line in lines[index ..< min(index + 2, lines.endIndex)] {
                if let code = errorCode(in: line) { return code }
            }
        }
        return lines.contains { $0.hasPrefix("mlp: error: collective timeout") } ? ExitStatus.rankLost : ExitStatus.badInput
    }

    private static func errorCode(in line: Substring) -> Int32? {
        guard let range = line.range(of: "errorcode ") else { return nil }
        return Int32(line[range.upperBound...].prefix { $0.isNumber })
    }
}
