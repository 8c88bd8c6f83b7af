/// The Slurm job step this process is a task of, from the variables srun sets; nil outside one.
///
/// mlp reads Slurm's variables for one decision only: a step of several tasks whose MPI world is
/// one rank (srun without PMIx) is several separate trainings writing the same files, and is
/// refused. A value that is not a number is ignored with a note, never trusted.
public struct SlurmStep: Equatable, Sendable {
    /// The step's task count (`SLURM_STEP_NUM_TASKS`, srun's; else `SLURM_NTASKS`).
    public var tasks: Int
    /// This task's index in the step (`SLURM_PROCID`).
    public var taskIndex: Int

    /// The numbers mlp reads from a step's environment (the reliability generator draws them).
    public static let countVariables = ["SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_PROCID"]

    public init(tasks: Int, taskIndex: Int) {
        self.tasks = tasks
        self.taskIndex = taskIndex
    }

    /// The step from `environment`, with a note for each malformed value it ignored. A task of
    /// srun has `SLURM_STEP_ID`; a batch script (no srun) is not a step of tasks.
    public static func from(_ environment: [String: String]) -> (step: SlurmStep?, notes: [String]) {
        var notes: [String] = []
        func count(_ name: String, lowest: Int) -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text), value >= lowest, value <= 1 << 24 else {
                notes.append("ignoring \(name)='\(text.prefix(40))' (not a \(lowest == 0 ? "task index" : "task count"))")
                return nil
            }
            return value
        }
        guard environment["SLURM_STEP_ID"] != nil || environment["SLURM_STEPID"] != nil else { return (nil, []) }
        let tasks = count("SLURM_STEP_NUM_TASKS", lowest: 1) ?? count("SLURM_NTASKS", lowest: 1)
        let index = count("SLURM_PROCID", lowest: 0)
        guard let tasks, let index else { return (nil, notes) }
        guard index < tasks else {
            notes.append("ignoring SLURM_PROCID='\(index)' (not below the step's \(tasks) task\(tasks == 1 ? "" : "s"))")
            return (nil, notes)
        }
        return (SlurmStep(tasks: tasks, taskIndex: index), notes)
    }

    /// Why this process must not run: a step of several tasks, each an MPI world of one; nil when
    /// it may. `worldSize` is MPI's (1 without MPI); `startedByMPIRun`: mpirun started the ranks
    /// (inside an allocation it starts its daemons through srun, whose step they then share).
    public func refusal(worldSize: Int, startedByMPIRun: Bool) -> String? {
        guard tasks > 1, worldSize == 1, !startedByMPIRun else { return nil }
        return "srun started \(tasks) tasks, but each is an MPI world of 1 rank (srun's MPI plugin is not PMIx), "
            + "so they would train \(tasks) separate models into the same files: run srun --mpi=pmix "
            + "(or set MpiDefault=pmix in slurm.conf); nothing was read or written"
    }
}
