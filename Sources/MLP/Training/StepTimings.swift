#if canImport(Glibc)
import Glibc
#endif

/// Where a rank's training time goes, summed over steps, phase by phase.
public struct StepTimings: Sendable {
    /// Copying the shard's rows into the workspace.
    public var gather = 0.0
    /// Forward propagation and the loss with dZ⁽ᴸ⁾.
    public var forward = 0.0
    /// Backward propagation to the gradient sums.
    public var backward = 0.0
    /// Waiting for the allreduce.
    public var allreduce = 0.0
    /// Dividing by n_b, clipping, the optimizer update (of this rank's slice when sharded).
    public var update = 0.0
    /// With the sharded update: gathering the updated slices of θ.
    public var allgather = 0.0
    public var steps = 0

    public init() {}

    public var total: Double { gather + forward + backward + allreduce + update + allgather }

    /// Adds another's phase times (not its step count).
    mutating func add(_ other: StepTimings) {
        gather += other.gather; forward += other.forward; backward += other.backward
        allreduce += other.allreduce; update += other.update; allgather += other.allgather
    }
}

/// A monotonic stopwatch: `lap()` returns the seconds since the previous lap; `time` adds a
/// phase's to `phases`.
public struct PhaseClock {
    private var last = PhaseClock.now()
    /// The seconds of each phase `time` ran.
    private(set) var phases = StepTimings()

    /// Seconds on the monotonic clock (`CLOCK_MONOTONIC`), from an arbitrary origin.
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Runs `body` and adds its seconds to `phase` of `phases`.
    @inline(__always)
    mutating func time<Result>(_ phase: WritableKeyPath<StepTimings, Double>, _ body: () -> Result) -> Result {
        let result = body()
        phases[keyPath: phase] += lap()
        return result
    }

    mutating func lap() -> Double {
        let now = PhaseClock.now()
        defer { last = now }
        return now - last
    }
}
