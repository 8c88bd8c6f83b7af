/// What a collective watchdog found when its rank had waited longer than its budget: each other
/// rank's answer (or none), and the one line that ends the job.
///
/// The watchdog of every rank that waits fires at about the same time; only one line must be
/// printed for the job, so the report is printed by `reportingRank`, the lowest rank that is
/// waiting (the others leave it to that one).
public struct StallReport: Sendable {
    /// Who a rank is, so that it can be named even when it does not answer.
    public struct Identity: Sendable, Equatable {
        public var host: String
        public var pid: Int
        public init(host: String, pid: Int) { self.host = host; self.pid = pid }
    }

    /// This rank.
    public var rank: Int
    /// Every rank's record, indexed by rank (this rank's too: waiting in collective
    /// `sequence` for `seconds`); nil: that rank did not answer in time.
    public var records: [CollectiveRecord.Snapshot?]
    public var timeout: CollectiveTimeout
    /// Every rank's identity, indexed by rank.
    public var identities: [Identity]
    public var recovery: StallRecovery

    public init(rank: Int, records: [CollectiveRecord.Snapshot?], timeout: CollectiveTimeout, identities: [Identity],
                recovery: StallRecovery) {
        precondition(records.indices.contains(rank) && records[rank] != nil && identities.count == records.count)
        self.rank = rank; self.records = records; self.timeout = timeout; self.identities = identities; self.recovery = recovery
    }

    /// This rank's record.
    public var own: CollectiveRecord.Snapshot { records[rank]! }

    /// The ranks that answered from inside a collective, this one included, in order: they
    /// wait, whether in this collective or (held up inside an earlier one) in another.
    public var waitingRanks: [Int] {
        records.indices.filter { records[$0]?.waiting ?? false }
    }

    /// The ranks the waiting ones wait for, in order: those that did not answer, and those that
    /// answered from outside any collective without having reached this one (busy).
    public var behindRanks: [Int] {
        records.indices.filter { records[$0].map { !$0.waiting && $0.sequence < own.sequence } ?? true }
    }

    /// Every rank this one waits for answered and is still computing the step this one waits in
    /// (same phase and step, outside any collective): the job is slow, not stalled. Such a wait
    /// may last `CollectiveTimeout.aloneMultiple` × the timeout (an endless loop is still a hang).
    public var othersAreBusyInThisStep: Bool {
        let behind = behindRanks
        return !behind.isEmpty && behind.allSatisfy { other in
            records[other].map { !$0.waiting && $0.phase == own.phase && $0.step == own.step } ?? false
        }
    }

    /// The ranks this one waits for are busy in its step, and its phase's budget is shorter than
    /// the one such a wait gets.
    private var extendsBudget: Bool {
        othersAreBusyInThisStep && timeout.budget(for: own.phase, rank: rank) < timeout.seconds * CollectiveTimeout.aloneMultiple
    }

    /// How long this rank may wait in its collective before the job ends: the phase's budget, or
    /// with the ranks it waits for busy in its step, `aloneMultiple` × the timeout.
    public var limit: Double {
        extendsBudget ? timeout.seconds * CollectiveTimeout.aloneMultiple : timeout.budget(for: own.phase, rank: rank)
    }

    /// The job is not stalled yet: the ranks it waits for are busy in its step, within `limit`.
    public var mayWaitLonger: Bool { extendsBudget && own.seconds < limit }

    /// The rank that prints the report: the lowest waiting one. Every waiting rank that asks
    /// sees the same waiting ranks, so they agree on it.
    public var reportingRank: Int { waitingRanks.first ?? rank }

    /// The one line (without `mlp: error: `).
    public var message: String {
        let place = own.phase.describe(step: own.step)
        let limit = self.limit == timeout.seconds ? "--collective-timeout \(seconds(self.limit)) s"
            : extendsBudget
            ? "\(seconds(self.limit)) s, \(Int(CollectiveTimeout.aloneMultiple)) "
                + "× --collective-timeout for a rank that answers but does not finish its step"
            : "\(seconds(self.limit)) s, \(Int(CollectiveTimeout.aloneMultiple)) × --collective-timeout in this phase"
        let waited = "\(list(waitingRanks)) waited \(seconds(own.seconds)) s"
        let behind = behindRanks
        guard !behind.isEmpty else {
            return "collective timeout: every rank answered and none is busy elsewhere, "
                + "yet \(waited) in \(place) (collective \(own.sequence); limit \(limit)): "
                + "the collective itself does not complete (the network or MPI); " + next
        }
        return "collective timeout: " + behind.map(describe).joined(separator: "; ")
            + "; \(waited) for \(behind.count == 1 ? "it" : "them") in \(place) (limit \(limit)); " + next
    }

    /// "rank 1 (pid 4242 on host node7) did not answer …".
    private func describe(_ other: Int) -> String {
        let name = "rank \(other) (pid \(identities[other].pid) on host \(identities[other].host))"
        guard let record = records[other] else {
            return "\(name) did not answer (stopped, hung or unreachable) and never finished \(own.phase.describe(step: own.step))"
        }
        let unfinished = extendsBudget ? " without finishing it" : ""
        return "\(name) is alive but has been busy for \(seconds(record.seconds)) s "
            + "in \(record.phase.describe(step: record.step))\(unfinished)"
    }

    /// How the job goes on: the newest checkpoint and the command that continues from it.
    private var next: String {
        guard recovery.isTraining else { return "run it again once that host is fixed" }
        let known = recovery.checkpoint
        guard let writing = recovery.writing else {
            guard let known else { return "no checkpoint was written (--checkpoint FILE keeps one): start again" }
            return "newest checkpoint: \(known.path) (after step \(known.step)); continue with: mlp train --resume \(known.path)"
        }
        // Rank 0 was writing; this rank cannot know whether it finished.
        let ifFinished = "if rank 0 finished writing it"
        guard let known else {
            return "newest checkpoint: \(writing.path) (after step \(writing.step)) \(ifFinished), else none; continue with: "
                + "mlp train --resume \(writing.path)"
        }
        if known.path == writing.path {
            return "newest checkpoint: \(known.path) (after step \(writing.step) \(ifFinished), else after step \(known.step)); "
                + "continue with: mlp train --resume \(known.path)"
        }
        return "newest checkpoint: \(writing.path) (after step \(writing.step)) \(ifFinished), "
            + "else \(known.path) (after step \(known.step)); continue with: mlp train --resume and that file"
    }

    /// "rank 0", "ranks 0, 2".
    private func list(_ ranks: [Int]) -> String {
        ranks.count == 1 ? "rank \(ranks[0])" : "ranks " + ranks.map(String.init).joined(separator: ", ")
    }

    /// Whole seconds from 10 s on, tenths below ("15", "8.1", "5").
    private func seconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return value >= 10 ? "\(Int(value.rounded()))" : tenths % 10 == 0 ? "\(tenths / 10)" : "\(Double(tenths) / 10)"
    }
}
