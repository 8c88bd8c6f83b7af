#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What a rank is doing between and inside collectives, as its collective watchdog sees it.
///
/// The phase decides how long a wait in a collective may last (`CollectiveTimeout.budget`):
/// in a training step every rank works and the wait is only the ranks' difference in arrival
/// (milliseconds); in the other phases one rank may work while the others wait for it.
public enum CollectivePhase: UInt8, Sendable, CaseIterable {
    /// From MPI's start to the first training step: reading the checkpoint or model, loading
    /// the data, the agreement on both, the broadcast of θ. Ranks read at their own speed.
    case startUp = 0
    /// A training step (its allreduce) and the parameter checksum.
    case training
    /// Validation and test data after an epoch, and `mlp evaluate`: each rank evaluates its shard.
    case evaluation
    /// Rank 0 writes a checkpoint (temporary file, fsync, rename); the others wait.
    case checkpoint
    /// Rank 0 prints the epoch line, appends to `--metrics` or writes `--save`; the others wait.
    case output
    /// `mlp sweep`: a group that has no trial left waits for the others' trials, which take as
    /// long as they take. Never a stall: each group's own watchdog watches its trials.
    case idle

    /// The phase in a message: "training step 57", "writing the checkpoint after step 50".
    public func describe(step: Int) -> String {
        switch self {
        case .startUp: return "start-up (reading the files and data)"
        case .training: return "training step \(step)"
        case .evaluation: return step > 0 ? "the evaluation after step \(step)" : "the evaluation"
        case .checkpoint: return "writing the checkpoint after step \(step)"
        case .output: return "writing the output (epoch line, --metrics, --save) after step \(step)"
        case .idle: return "waiting for the other groups' trials"
        }
    }
}

/// `--collective-timeout`: how long a rank may wait in one collective, in a training step,
/// before its watchdog asks the other ranks where they are and ends the job naming the ranks it
/// waited for. Where a rank may wait while another works alone it may wait `aloneMultiple`
/// times as long (`budget`). docs/failure-behaviour.md ("Stalled ranks") says how the default
/// was chosen.
public struct CollectiveTimeout: Sendable, Equatable {
    /// Seconds, > 0 and finite.
    public var seconds: Double

    /// 60 s: about 500 times the longest wait measured in a healthy training step on a loaded
    /// host, short enough to name a stalled rank about a minute after it stalled.
    public static let defaultSeconds = 60.0
    /// The budget of the phases where one rank works while the others wait (start-up, the
    /// evaluation, writing a checkpoint or output), in multiples of `seconds`.
    public static let aloneMultiple = 10.0

    /// nil for 0 (the watchdog is off); an `InputError` for a negative or non-finite value.
    public static func fromOption(_ seconds: Double) throws -> CollectiveTimeout? {
        guard TrainOptionTable.collectiveTimeout.range?.contains(seconds) == true else {
            throw InputError("--collective-timeout must be a number of seconds ≥ 0, 0 for no watchdog (got \(seconds))")
        }
        return seconds == 0 ? nil : CollectiveTimeout(seconds: seconds)
    }

    public init(seconds: Double) {
        precondition(seconds > 0 && seconds.isFinite)
        self.seconds = seconds
    }

    /// How long `rank` may wait in a collective of `phase`, in seconds: `seconds` where the
    /// ranks it waits for have only their share of the same work to do (a training step; rank 0
    /// after writing a checkpoint or output, which the others only wait for);
    /// `aloneMultiple` × `seconds` where they may have more (start-up and the evaluation, where
    /// every rank reads or evaluates at its own speed; the other ranks while rank 0 writes).
    public func budget(for phase: CollectivePhase, rank: Int) -> Double {
        switch phase {
        case .training: return seconds
        case .checkpoint, .output: return rank == 0 ? seconds : seconds * Self.aloneMultiple
        case .startUp, .evaluation: return seconds * Self.aloneMultiple
        case .idle: return .infinity
        }
    }
}

/// A checkpoint file and the step it continues after.
public struct CheckpointFile: Sendable, Equatable {
    public var path: String
    public var step: Int
    public init(path: String, step: Int) { self.path = path; self.step = step }
}

/// How a job that stalled can go on: what the watchdog's message ends with.
public struct StallRecovery: Sendable, Equatable {
    /// A training run (else `mlp evaluate`: run it again).
    public var isTraining = false
    /// The newest checkpoint this rank knows complete: the one resumed from, or the last one
    /// written (rank 0 knows once its write returned, the others once all agreed on it).
    public var checkpoint: CheckpointFile?
    /// A checkpoint being written that this rank does not know complete: if rank 0 finished
    /// it, it is the newest.
    public var writing: CheckpointFile?

    public init(isTraining: Bool = false, checkpoint: CheckpointFile? = nil, writing: CheckpointFile? = nil) {
        self.isTraining = isTraining; self.checkpoint = checkpoint; self.writing = writing
    }
}

/// This rank's record for its collective watchdog: the collective it is in or last left
/// (sequence number, entered or left when), the phase and step training is in, and how the job
/// can go on. Local stores only, nothing is sent: the main thread writes it before and after
/// each blocking collective (`enterCollective`, `leaveCollective`: a clock read and two atomic
/// stores each) and at each step (`recordPhase`: one atomic store); the watchdog thread reads it.
public final class CollectiveRecord: Sendable {
    /// (sequence << 1) | 1 while inside collective `sequence` (1-based), (sequence << 1) after it.
    private let state = Atomic<Int>(0)
    /// CLOCK_MONOTONIC nanoseconds of the last entry into or return from a collective.
    private let changedAt: Atomic<UInt64>
    /// (step << 8) | phase.
    private let phaseAndStep = Atomic<Int>(Int(CollectivePhase.startUp.rawValue))
    private let recoveryState: Mutex<StallRecovery>

    public init(recovery: StallRecovery = StallRecovery()) {
        changedAt = Atomic(Self.now())
        recoveryState = Mutex(recovery)
    }

    /// Called by the main thread right before a blocking collective.
    @inline(__always)
    public func enterCollective() {
        let sequence = (state.load(ordering: .relaxed) >> 1) + 1
        changedAt.store(Self.now(), ordering: .relaxed)
        // Releasing: a reader that sees the new state sees a time at least this new.
        state.store(sequence << 1 | 1, ordering: .releasing)
    }

    /// Called by the main thread right after a blocking collective returned.
    @inline(__always)
    public func leaveCollective() {
        let sequence = state.load(ordering: .relaxed) >> 1
        changedAt.store(Self.now(), ordering: .relaxed)
        state.store(sequence << 1, ordering: .releasing)
    }

    /// The collectives that follow belong to `phase` at `step`.
    @inline(__always)
    public func recordPhase(_ phase: CollectivePhase, step: Int) {
        phaseAndStep.store(step << 8 | Int(phase.rawValue), ordering: .relaxed)
    }

    /// How the job can go on if it stalls now.
    public var recovery: StallRecovery { recoveryState.withLock { $0 } }

    /// Training starts, from `checkpoint` when resuming.
    public func trainingStarted(from checkpoint: CheckpointFile?) {
        recoveryState.withLock { $0 = StallRecovery(isTraining: true, checkpoint: checkpoint) }
    }

    /// Rank 0 starts writing `checkpoint` (on every rank).
    public func checkpointStarted(_ checkpoint: CheckpointFile) {
        recoveryState.withLock { $0.writing = checkpoint }
    }

    /// `checkpoint` is complete: on rank 0 once its write returned, elsewhere once all agreed.
    public func checkpointWritten(_ checkpoint: CheckpointFile) {
        recoveryState.withLock { $0.checkpoint = checkpoint; $0.writing = nil }
    }

    /// The record now, as one consistent value.
    public func snapshot() -> Snapshot {
        let state = state.load(ordering: .acquiring)
        let since = changedAt.load(ordering: .relaxed), now = Self.now()
        let phaseAndStep = phaseAndStep.load(ordering: .relaxed)
        return Snapshot(sequence: state >> 1, waiting: state & 1 == 1,
                        phase: CollectivePhase(rawValue: UInt8(phaseAndStep & 0xFF)) ?? .startUp, step: phaseAndStep >> 8,
                        seconds: now > since ? Double(now - since) / 1e9 : 0)
    }

    /// A rank's record at one moment, as the watchdogs exchange it.
    public struct Snapshot: Sendable, Equatable {
        /// The collective the rank is in (`waiting`) or last left, counted from 1; 0: none yet.
        public var sequence: Int
        /// Inside collective `sequence`, waiting for the others.
        public var waiting: Bool
        public var phase: CollectivePhase
        public var step: Int
        /// Seconds since it entered (`waiting`) or left collective `sequence`.
        public var seconds: Double

        public init(sequence: Int, waiting: Bool, phase: CollectivePhase, step: Int, seconds: Double) {
            self.sequence = sequence; self.waiting = waiting; self.phase = phase; self.step = step; self.seconds = seconds
        }

        /// The values of one answer message.
        public static let encodedCount = 5

        /// As integers for a message: [sequence, waiting, phase, step, milliseconds].
        public var encoded: [Int64] {
            [Int64(sequence), waiting ? 1 : 0, Int64(phase.rawValue), Int64(step), Int64((seconds * 1000).rounded())]
        }

        /// From `encoded`; nil if the values are not a record (a message from another build).
        public init?(encoded values: some Collection<Int64>) {
            let values = Array(values)
            guard values.count == Self.encodedCount, values[0] >= 0, values[1] == 0 || values[1] == 1,
                  let raw = UInt8(exactly: values[2]), let phase = CollectivePhase(rawValue: raw), values[3] >= 0, values[4] >= 0
            else { return nil }
            self.init(sequence: Int(values[0]), waiting: values[1] == 1, phase: phase, step: Int(values[3]),
                      seconds: Double(values[4]) / 1000)
        }
    }

    /// CLOCK_MONOTONIC in nanoseconds: it keeps counting while a process is stopped, and does
    /// not jump with the wall clock.
    @inline(__always)
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
