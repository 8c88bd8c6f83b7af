import Foundation
import MLP

extension Oracle {
    /// A sweep's own files (docs/sweep.md). After work began `--results` holds whole lines of trials only; on success
    /// it lists every trial once, each ranked, its scores one per fold with their mean and population deviation, its
    /// parameters the drawn names; the trials' directory is marked as the sweep's, and the table is printed.
    func sweepFiles(_ drawn: Case, _ sweep: SweepDraw, _ outcome: Outcome, status: Int32, in directory: URL) -> [String] {
        guard status != ExitStatus.usage, status != ExitStatus.badInput,
              let results = drawn.outputs.first(where: { $0.option == .sweepResults && Expectation.accepts($0) }),
              let path = Scratch.destinations(results).first else { return [] }
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(path).path) else {
            return status == ExitStatus.success ? ["--results \(results.path): nothing at \(path) after success"] : []
        }
        var problems: [String] = []
        let text = String(decoding: data, as: UTF8.self)
        if !text.isEmpty && !text.hasSuffix("\n") { problems.append("--results \(results.path): the last line is cut short") }
        var records: [TrialRecord] = []
        for line in text.split(separator: "\n") {
            guard let record = TrialRecord(line: line) else {
                problems.append("--results \(results.path): not a trial's line: \(line.prefix(80))")
                continue
            }
            records.append(record)
        }
        guard status == ExitStatus.success else { return problems }

        let trials = Set(records.map(\.trial))
        if let expected = sweep.trials, trials != Set(0 ..< expected) || records.count != expected {
            problems.append("--results: \(records.count) lines for trials \(trials.sorted().prefix(8)), expected one for each of \(expected)")
        }
        if !records.contains(where: \.succeeded) { problems.append("status 0 but no trial has a score") }
        let halving = records.contains { $0.round != nil }
        for record in records {
            let name = "--results trial \(record.trial)"
            if record.parameters.map(\.name) != sweep.names {
                problems.append("\(name): parameters \(record.parameters.map(\.name)), expected \(sweep.names)")
            }
            guard let rank = record.rank else { problems.append("\(name): no rank after the sweep ended"); continue }
            guard record.succeeded, let mean = record.meanScore, let deviation = record.standardDeviation else { continue }
            let scores = record.foldScores.compactMap { $0 }
            if scores.count != (sweep.folds ?? 1) { problems.append("\(name): \(scores.count) fold scores, expected \(sweep.folds ?? 1)") }
            let expectedMean = scores.reduce(0, +) / Double(scores.count)
            let expectedDeviation = (scores.map { ($0 - expectedMean) * ($0 - expectedMean) }.reduce(0, +) / Double(scores.count)).squareRoot()
            if abs(mean - expectedMean) > 1e-12 || abs(deviation - expectedDeviation) > 1e-12 {
                problems.append("\(name): mean \(mean) ± \(deviation) is not its folds' \(expectedMean) ± \(expectedDeviation)")
            }
            if !scores.allSatisfy({ (0 ... 1).contains($0) }) { problems.append("\(name): an accuracy outside [0, 1]: \(scores)") }
            // rank_test_score: 1 + the trials scoring higher (with halving, later rounds rank first: not recomputed here).
            let higher = records.count { $0.meanScore.map { $0 > mean } ?? false }
            if !halving, rank != 1 + higher { problems.append("\(name): rank \(rank), but \(higher) trials score higher") }
        }
        if let trialsDirectory = sweep.directory(drawn.outputs).map(Drawer.trimmedDirectory),
           !FileManager.default.fileExists(atPath: directory.appendingPathComponent(trialsDirectory + "/sweep.json").path) {
            problems.append("no \(trialsDirectory)/sweep.json after success")
        }
        let standardOutput = String(decoding: outcome.streamed["-"] ?? [], as: UTF8.self)
        if !standardOutput.split(separator: "\n").contains(where: { $0.hasPrefix("rank  mean") }) {
            problems.append("no table of the trials on standard output")
        }
        return problems
    }
}
