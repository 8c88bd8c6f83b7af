#if canImport(Glibc)
import Glibc
#endif

/// One rank SIGKILLs itself when it reaches a training step, before that step's gradient
/// reduction: what a host whose processes are killed (the OOM killer, a node lost) leaves.
/// `launch --restarts` is tested with it.
struct RankKill {
    /// The step, counted from 1 in this process (as the other faults count).
    var step: Int
    /// The rank that dies; nil: the last rank.
    var rank: Int?
    /// When set, the kill happens once per job: only if this file does not exist, and it is
    /// created (atomically, `O_EXCL`) just before dying, so a restarted job runs through.
    var onceFile: String?

    /// Called before each training step's gradient reduction on every rank.
    func stepStarts(_ step: Int, rank: Int, size: Int) {
        guard step == self.step, rank == (self.rank ?? size - 1) else { return }
        if let onceFile {
            let descriptor = open(onceFile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { return }   // it exists: the kill has happened in this job
            close(descriptor)
        }
        kill(getpid(), SIGKILL)
    }
}
