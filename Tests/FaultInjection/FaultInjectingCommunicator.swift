#if canImport(Glibc)
import Glibc
#endif
import MLP

/// A communicator that forwards every collective to another and, on the last rank, corrupts
/// the gradient reduction of chosen training steps, or on rank 0 stops taking steps (alive,
/// but never reaching the step's collective), or on one rank dies: the faults one misbehaving
/// rank causes.
///
/// A training step is recognised by its gradient reduction, the only sum over more than two
/// values in `mlp train` (evaluation sums two: the loss and the correct count). With
/// `--allreduce overlap` a step starts one reduction per layer (the last layer's first) and
/// waits once. Steps are counted from 1 in this process.
final class FaultInjectingCommunicator: Communicator {
    let base: Communicator
    /// At this step the last rank's contribution to the gradient sums is NaN, so every rank
    /// sees a non-finite gradient.
    let nanAtStep: Int?
    /// At this step the last rank alone changes its copy of the summed gradient, so its
    /// update, and from then on its θ, differ from the other ranks'.
    let driftAtStep: Int?
    /// At this step rank 0's main thread sleeps for ever before the gradient reduction: a rank
    /// that is alive (its watchdog thread answers) but never reaches the collective. Rank 0, so
    /// that another rank reports it.
    let stallAtStep: Int?
    /// At this step rank 0's main thread sleeps `seconds` before the gradient reduction: a rank
    /// busy in its step for longer than the collective timeout, that then finishes it.
    var slowStep: (step: Int, seconds: UInt32)?
    /// At its step rank 0 sends itself the signal, before the gradient reduction: the trainer
    /// reads it at the next step, as it would a scheduler's arriving then.
    var signalStep: (step: Int, signal: Int32)?
    /// At its step one rank SIGKILLs itself before the gradient reduction (see `RankKill`).
    let kill: RankKill?
    private var step = 0
    /// With overlap: whether the current step's reductions have started, and what the last
    /// rank does to their result once they have finished.
    private var overlapStarted = false
    private var afterWait: (() -> Void)?
    /// The world pretends to span this many nodes of equal rank counts (rank r on node
    /// r·G/P): no window over all of it, one per pretended node (they share this machine).
    var pretendNodes: Int?
    /// This is a pretended node's group, whose window is real.
    private var isNodeGroup = false

    /// The group, with the same faults.
    func split(color: Int, key: Int) -> Communicator {
        let group = FaultInjectingCommunicator(wrapping: base.split(color: color, key: key), nanAtStep: nanAtStep,
                                               driftAtStep: driftAtStep, stallAtStep: stallAtStep, kill: kill)
        group.slowStep = slowStep
        group.signalStep = signalStep
        return group
    }

    /// The step faults act on the steps' MPI reductions, which the node-shared exchange has none
    /// of: with any of them, no window and no node group, so that `--allreduce auto` (the
    /// default) falls back to `single` and the fault happens. The shared exchange's own faults
    /// are real signals (`NodeSharedExchangeTests`).
    private var hasStepFaults: Bool {
        nanAtStep != nil || driftAtStep != nil || stallAtStep != nil || slowStep != nil || signalStep != nil || kill != nil
    }

    /// Pretending nodes, no window over ranks of several of them (as MPI would say); else MPI's.
    func allocateSharedMemory(byteCount: Int) -> SharedMemory? {
        if let pretendNodes, pretendNodes > 1, !isNodeGroup { return nil }
        if hasStepFaults { return nil }
        return base.allocateSharedMemory(byteCount: byteCount)
    }

    /// Pretending nodes, the ranks of this rank's pretended node; else MPI's node.
    func splitByNode() -> Communicator? {
        if hasStepFaults { return nil }
        guard let pretendNodes, pretendNodes > 1 else { return base.splitByNode() }
        let group = FaultInjectingCommunicator(wrapping: base.split(color: rank * pretendNodes / size, key: rank), nanAtStep: nil,
                                               driftAtStep: nil)
        group.isNodeGroup = true
        return group
    }

    init(wrapping base: Communicator, nanAtStep: Int?, driftAtStep: Int?, stallAtStep: Int? = nil, kill: RankKill? = nil) {
        self.base = base
        self.kill = kill
        self.nanAtStep = nanAtStep
        self.driftAtStep = driftAtStep
        self.stallAtStep = stallAtStep
    }

    var rank: Int { base.rank }
    var size: Int { base.size }

    func workQueue(items: [Int], receive: @escaping @Sendable ([UInt8]) -> Void) throws -> WorkQueue {
        try base.workQueue(items: items, receive: receive)
    }

    func allreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        // Evaluation sums 2 values; with the sharded update a step first sums its 6 extra slots.
        guard buffer.count > 6 else { return base.allreduceSum(buffer) }
        stepStarts(buffer)
        base.allreduceSum(buffer)
        if isDue(driftAtStep) { perturb(buffer) }
    }

    /// The sharded update's gradient reduction: the step's, like the single allreduce.
    func reduceScatterSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32]) {
        stepStarts(buffer)
        base.reduceScatterSum(buffer, counts: counts)
    }

    func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Int64>, counts: [Int32]) { base.reduceScatterSum(buffer, counts: counts) }

    /// Sharded, the ranks' θ is whatever the allgather gives: the drift moves the last rank's copy there.
    func allgather<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32], displacements: [Int32]) {
        base.allgather(buffer, counts: counts, displacements: displacements)
        if isDue(driftAtStep) { perturb(buffer) }
    }

    /// A step's gradient reduction begins: the kill, the NaN and the stall happen here.
    private func stepStarts<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        step += 1
        kill?.stepStarts(step, rank: rank, size: size)
        if isDue(nanAtStep) { buffer[0] = .nan }
        if stallAtStep == step && rank == 0 { while true { sleep(3600) } }
        if let slowStep, slowStep.step == step, rank == 0 { sleep(slowStep.seconds) }
        if let signalStep, signalStep.step == step, rank == 0 { raise(signalStep.signal) }
    }

    func startAllreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        if !overlapStarted {
            overlapStarted = true
            step += 1
            kill?.stepStarts(step, rank: rank, size: size)
            if isDue(nanAtStep) { buffer[0] = .nan }
            if isDue(driftAtStep) { afterWait = { [unowned self] in perturb(buffer) } }
        }
        base.startAllreduceSum(buffer)
    }

    func waitForReductions() {
        base.waitForReductions()
        overlapStarted = false
        afterWait?()
        afterWait = nil
    }

    /// With `--reproducible` a step's gradient sums are exact Int64 sums over more than three
    /// values (an evaluation's are three): the kill fires there too; the other faults do not.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) {
        if buffer.count > 3 {
            step += 1
            kill?.stepStarts(step, rank: rank, size: size)
        }
        base.allreduceSum(buffer)
    }
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) { base.allreduceMax(buffer) }
    func broadcast<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) { base.broadcast(buffer) }
    func abort(exitCode: Int32) -> Never { base.abort(exitCode: exitCode) }
    var collectiveRecord: CollectiveRecord? { base.collectiveRecord }
    var node: NodeLayout { base.node }

    private func isDue(_ faultStep: Int?) -> Bool { faultStep == step && rank == size - 1 }

    /// Moves the first gradient sum by at least 1, a change no rounding of the update absorbs.
    private func perturb<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
        buffer[0] += max(1, abs(buffer[0]))
    }
}
