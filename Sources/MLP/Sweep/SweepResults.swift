import Foundation

/// World rank 0's record of a sweep: `--results` read back when the same sweep runs again, a
/// line added as each trial finishes, ranked at the end; and the sweep's directory, which it
/// makes and marks as this sweep's. As `--metrics`: the file is replaced atomically when this run
/// first writes it, then each line is appended with one `write` (cut back to the last whole line
/// if that fails), and at the end replaced atomically with the ranks: only ever whole lines.
// @unchecked Sendable: `receive` runs on the queue's thread, one call at a time (the queue's lock);
// the main thread reads the records before the queue starts and after it has closed.
final class SweepResults: @unchecked Sendable {
    let plan: SweepPlan
    let identity: String
    let output: TrainingOutput
    private var records: [TrialRecord]
    /// How many trials (with `--halving`, trials' rounds) were finished before this run.
    private let carried: Int
    /// The first failed write of the file: the sweep goes on, and says so at the end.
    private var writeError: WriteError?
    /// The file, open for appending once this run has written it whole; -1 before.
    private var descriptor: Int32 = -1
    /// Its length: the end of its last whole line.
    private var length = 0

    /// Reads the results of an earlier run of the same sweep, refusing another sweep's; makes
    /// the directory (refusing one of another sweep) and records the trials refused before any work.
    init(_ plan: SweepPlan, data: SweepData, output: TrainingOutput) throws {
        (self.plan, identity, self.output) = (plan, data.identity, output)
        records = try Self.read(plan.results, identity: data.identity)
        carried = records.count
        try makeDirectory(plan.directory)
        let marker = joinPath(plan.directory, "sweep.json")
        if access(marker, F_OK) == 0 {
            let object = try? JSONSerialization.jsonObject(with: Data(readFileBytes(marker))) as? [String: Any]
            guard object?["sweep"] as? String == identity else {
                throw InputError("\(plan.directoryShown) holds the trials of another sweep (other parameters, data or base "
                    + "options): give another directory, or remove it to start again")
            }
        } else {
            // A directory of its own: the trials' files must not mix with others.
            let entries = try FileManager.default.contentsOfDirectory(atPath: plan.directory).sorted()
            guard entries.isEmpty else {
                throw InputError("\(plan.directoryShown) holds other files (\(entries.prefix(3).joined(separator: ", "))"
                    + "\(entries.count > 3 ? ", …" : "")): give the sweep a directory of its own, new or empty")
            }
            try writeFileAtomically(Array("{\"sweep\":\(SafeTensors.jsonString(identity))}\n".utf8), to: marker)
        }
        if let folds = data.folds {
            let text = "{\"folds\":[" + folds.heldOut.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }
                .joined(separator: ",") + "]}\n"
            try writeFileAtomically(Array(text.utf8), to: joinPath(plan.directory, "folds.json"))
        }
        let refused = plan.refusals.keys.sorted().filter { trial in !records.contains { $0.trial == trial } }
        for trial in refused {
            records.append(TrialRecord(trial: trial, round: plan.halving == nil ? nil : 0, parameters: plan.trials[trial].parameters,
                                       status: .refused, error: plan.refusals[trial], foldScores: [], epochs: 0, seconds: 0,
                                       group: nil, sweep: identity))
        }
        if !refused.isEmpty { try write() }
    }

    /// The lines of `path`, each a record of the sweep `identity`; none when there is no file.
    private static func read(_ path: String, identity: String) throws -> [TrialRecord] {
        guard access(path, F_OK) == 0 else { return [] }
        let lines = String(decoding: try readFileBytes(path), as: UTF8.self).split(separator: "\n")
        return try lines.enumerated().map { number, line in
            guard let record = TrialRecord(line: line) else {
                throw InputError("--results \(path):\(number + 1) is not a line of mlp sweep's results: give another file")
            }
            guard record.sweep == identity else {
                throw InputError("--results \(path) was written by another sweep (other parameters, data or base options): "
                    + "give another file, or remove it to start again")
            }
            var unranked = record
            unranked.rank = nil   // ranks are those of the sweep's end
            return unranked
        }
    }

    /// The sweep's first line.
    func describe(groups: Int, ranksPerGroup: Int) -> String {
        let scoring = plan.folds.map { "\($0) folds" } ?? "its validation split"
        let rounds = plan.schedule.map { " in \($0.rounds) rounds of " + $0.epochs.map(String.init).joined(separator: ", ") + " epochs" } ?? ""
        let before = carried > 0 ? "; \(carried) finished before, read back" : ""
        return "sweep: \(plan.trials.count) trial\(plan.trials.count == 1 ? "" : "s") scored on \(scoring)\(rounds), "
            + "\(groups) group\(groups == 1 ? "" : "s") of \(ranksPerGroup) rank\(ranksPerGroup == 1 ? "" : "s")\(before); "
            + "results in \(plan.results), trials in \(plan.directory)"
    }

    /// The trials round `round` still has to run: every trial but the refused ones in the first
    /// round; the best ⌈n / F⌉ of the n candidates of the round before in later ones (among those
    /// with a score, ties to the earlier trial); less those this round has a record of.
    func pending(round: Int, schedule: HalvingSchedule?) -> [Int] {
        var candidates = plan.trials.map(\.index).filter { plan.refusals[$0] == nil }
        if let schedule {
            var count = plan.trials.count
            for previous in 0 ..< round {
                let scored = records.filter { $0.round == previous && $0.succeeded && candidates.contains($0.trial) }
                    .sorted { ($0.meanScore!, -$0.trial) > ($1.meanScore!, -$1.trial) }
                candidates = scored.prefix(schedule.kept(of: count)).map(\.trial).sorted()
                count = candidates.count
            }
        }
        let roundKey: Int? = schedule == nil ? nil : round
        return candidates.filter { trial in !records.contains { $0.trial == trial && $0.round == roundKey } }
    }

    /// A trial's record from its group: kept, written, and told.
    func receive(_ bytes: [UInt8]) {
        guard let record = TrialRecord(line: String(decoding: bytes, as: UTF8.self)) else { return }
        records.append(record)
        if writeError == nil {
            do { try append(record) } catch let error as WriteError { writeError = error } catch {}
        }
        output.line(describe(record))
    }

    /// "trial 3 (group 1): --hidden 64 --learning-rate 0.1: 0.9512 ± 0.0123 (3 folds, 10 epochs, 12.3 s)".
    private func describe(_ record: TrialRecord) -> String {
        let values = record.parameters.map { "--\($0.name) \($0.value)" }.joined(separator: " ")
        let round = record.round.map { ", round \($0)" } ?? ""
        let head = "trial \(record.trial)\(round) (group \(record.group.map(String.init) ?? "-"))" + (values.isEmpty ? "" : ": \(values)")
        guard let mean = record.meanScore, let deviation = record.standardDeviation else {
            return "\(head): \(record.status.rawValue): \(record.error ?? "no score")"
        }
        return "\(head): " + String(format: "%.4f ± %.4f (%d fold%@, %d epochs, %.1f s)", mean, deviation, record.foldScores.count,
                                    record.foldScores.count == 1 ? "" : "s", record.epochs, record.seconds)
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// The whole file, replaced atomically.
    private func write(_ records: [TrialRecord]? = nil) throws {
        let bytes = Array((records ?? self.records).map(\.line).joined().utf8)
        do {
            try writeFileAtomically(bytes, to: plan.results)
        } catch let error as WriteError {
            throw WriteError("--results: \(error.message)", code: error.code)
        }
        length = bytes.count
    }

    /// `record`'s line at the end of the file: the first time, the whole file.
    private func append(_ record: TrialRecord) throws {
        guard descriptor >= 0 else {
            try write()
            let destination = finalTarget(of: plan.results)
            descriptor = open(destination, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard descriptor >= 0 else { throw WriteError("--results: " + WriteError(path: destination, code: errno).message, code: errno) }
            return
        }
        let line = Array(record.line.utf8)
        do {
            try line.withUnsafeBytes { try writeAll(descriptor, $0, path: plan.results) }
            length += line.count
        } catch let error as WriteError {
            _ = ftruncate(descriptor, off_t(length))
            throw WriteError("--results: \(error.message)", code: error.code)
        }
    }

    /// At the end of a sweep that ran every trial (`complete`): the file rewritten with each
    /// record's rank, and the table, best first. A write that failed during the sweep fails it now.
    func finish(complete: Bool) throws {
        if let writeError {
            throw WriteError("\(writeError.message); the trials after it are not in the file: run the same command again "
                + "once it can be written (finished trials are kept in \(plan.directory))", code: writeError.code)
        }
        guard complete else { return }
        if descriptor >= 0 { close(descriptor); descriptor = -1 }
        try write(records.ranked())
        output.line(records.table())
    }

    var succeeded: Int { records.count { $0.succeeded } }
    var best: TrialRecord? { records.best }

    /// "5 of 12 trials finished (in RESULTS)".
    var progress: String {
        let finished = Set(records.map(\.trial)).count
        return "\(finished) of \(plan.trials.count) trials finished (in \(plan.results))"
    }

    /// What went wrong, for the line of a sweep where no trial succeeded.
    var failureSummary: String {
        let counts = Dictionary(grouping: records, by: \.status).map { "\($0.value.count) \($0.key.rawValue)" }.sorted()
        let first = records.min { $0.trial < $1.trial }.map { "; trial \($0.trial): \($0.error ?? "no score")" } ?? ""
        return counts.joined(separator: ", ") + first
    }
}
