import Foundation

/// One line of `mlp sweep --results`: a trial (with `--halving`, a trial's round) as it finished.
public struct TrialRecord: Sendable, Equatable {
    public var trial: Int
    /// The successive-halving round, from 0; nil without `--halving`.
    public var round: Int?
    /// Name → value as given (or drawn), in `--param` order.
    public var parameters: [ParameterValue]
    public var status: Status
    /// The one-line reason of a trial that did not succeed.
    public var error: String?
    /// Each fold's score on its held-out rows: accuracy, or R² (the mean over the targets), as
    /// scikit-learn's `score`.
    public var foldScores: [Double?]
    /// Their mean and population standard deviation (ddof 0, as `cv_results_`); nil unless
    /// every fold has a score.
    public var meanScore: Double?
    public var standardDeviation: Double?
    /// The epochs trained (the largest over the folds; a round's budget with `--halving`).
    public var epochs: Int
    public var seconds: Double
    /// The group that ran it; nil for a trial refused before any work.
    public var group: Int?
    /// The sweep it belongs to (`SweepPlan.identity`): a results file is continued only by its own.
    public var sweep: String
    /// 1 = best; written when the sweep ends.
    public var rank: Int?

    public enum Status: String, Sendable {
        case ok
        /// Its options were refused (a combination that `mlp train` refuses) or its data.
        case refused
        /// A non-finite loss or gradient, or parameters that overflowed.
        case diverged
        /// Anything else (a file that could not be written).
        case failed
    }

    public init(trial: Int, round: Int?, parameters: [ParameterValue], status: Status, error: String? = nil,
                foldScores: [Double?], epochs: Int, seconds: Double, group: Int?, sweep: String) {
        (self.trial, self.round, self.parameters, self.status, self.error) = (trial, round, parameters, status, error)
        (self.foldScores, self.epochs, self.seconds, self.group, self.sweep) = (foldScores, epochs, seconds, group, sweep)
        let scores = foldScores.compactMap { $0 }
        if status == .ok, !scores.isEmpty, scores.count == foldScores.count {
            let mean = scores.reduce(0, +) / Double(scores.count)
            meanScore = mean
            standardDeviation = (scores.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(scores.count)).squareRoot()
        }
    }

    public var succeeded: Bool { meanScore != nil }

    /// The JSON line, with a newline.
    public var line: String {
        func number(_ value: Double?) -> String { value.flatMap { $0.isFinite ? "\($0)" : nil } ?? "null" }
        let string = SafeTensors.jsonString
        var fields = ["\"trial\":\(trial)"]
        if let round { fields.append("\"round\":\(round)") }
        fields.append("\"params\":{" + parameters.map { "\(string($0.name)):\(string($0.value))" }.joined(separator: ",") + "}")
        fields.append("\"status\":\(string(status.rawValue))")
        if let error { fields.append("\"error\":\(string(error))") }
        fields.append("\"fold_scores\":[" + foldScores.map(number).joined(separator: ",") + "]")
        fields.append("\"mean_score\":\(number(meanScore))")
        fields.append("\"std_score\":\(number(standardDeviation))")
        fields.append("\"epochs\":\(epochs)")
        fields.append("\"seconds\":\(number(seconds))")
        fields.append("\"group\":\(group.map(String.init) ?? "null")")
        fields.append("\"sweep\":\(string(sweep))")
        if let rank { fields.append("\"rank\":\(rank)") }
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    /// Reads a line written by `line`; nil for anything else.
    public init?(line: some StringProtocol) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let trial = (object["trial"] as? NSNumber)?.intValue, let status = (object["status"] as? String).flatMap(Status.init),
              let sweep = object["sweep"] as? String, let foldScores = ExactScores.read(line)?.foldScores else { return nil }
        // The parameters' order is the line's: JSONSerialization's dictionary has none.
        let parameters = Self.orderedParameters(in: String(line))
        self.init(trial: trial, round: (object["round"] as? NSNumber)?.intValue, parameters: parameters, status: status,
                  error: object["error"] as? String, foldScores: foldScores,
                  epochs: (object["epochs"] as? NSNumber)?.intValue ?? 0, seconds: (object["seconds"] as? NSNumber)?.doubleValue ?? 0,
                  group: (object["group"] as? NSNumber)?.intValue, sweep: sweep)
        rank = (object["rank"] as? NSNumber)?.intValue
    }

    /// The "params" object's names and values in the order the line has them.
    private static func orderedParameters(in line: String) -> [ParameterValue] {
        guard let start = line.range(of: "\"params\":{") else { return [] }
        // Values are JSON strings: read them one by one.
        var rest = Substring(line[start.upperBound...])
        var values: [ParameterValue] = []
        while let name = readString(&rest), rest.first == ":" {
            rest = rest.dropFirst()
            guard let value = readString(&rest) else { break }
            values.append(ParameterValue(name: name, value: value))
            guard rest.first == "," else { break }
            rest = rest.dropFirst()
        }
        return values
    }

    /// A JSON string at the start of `text`, removed from it.
    private static func readString(_ text: inout Substring) -> String? {
        guard text.first == "\"" else { return nil }
        var index = text.index(after: text.startIndex)
        while index < text.endIndex, text[index] != "\"" {
            if text[index] == "\\" { index = text.index(after: index) }
            guard index < text.endIndex else { return nil }
            index = text.index(after: index)
        }
        guard index < text.endIndex else { return nil }
        let literal = text[text.startIndex ... index]
        text = text[text.index(after: index)...]
        return (try? JSONSerialization.jsonObject(with: Data(literal.utf8), options: .fragmentsAllowed)) as? String
    }
}

extension [TrialRecord] {
    /// Each record with its rank, as `rank_test_score`: by mean score, best first, ties sharing
    /// the best rank; with `--halving` a later round ranks above every earlier one (its trials
    /// outlived the others); records without a score rank after all that have one.
    public func ranked() -> [TrialRecord] {
        let keys = map { record in (round: record.round ?? 0, score: record.meanScore) }
        return enumerated().map { index, record in
            var ranked = record
            let key = keys[index]
            ranked.rank = 1 + keys.count { other in
                guard let score = key.score else { return other.score != nil || other.round > key.round }
                return other.round > key.round || other.round == key.round && (other.score.map { $0 > score } ?? false)
            }
            return ranked
        }
    }

    /// The best record that succeeded: the best rank among them (1 unless a later round only
    /// failed), the first trial among ties (`best_index_`); nil if none succeeded.
    public var best: TrialRecord? {
        let succeeded = ranked().filter(\.succeeded)
        guard let top = succeeded.compactMap(\.rank).min() else { return nil }
        return succeeded.filter { $0.rank == top }.min { ($0.trial, $0.round ?? 0) < ($1.trial, $1.round ?? 0) }
    }

    /// The table of `mlp sweep`'s end: one row per record, best first.
    public func table() -> String {
        let rows = ranked().sorted { ($0.rank ?? .max, $0.trial, $0.round ?? 0) < ($1.rank ?? .max, $1.trial, $1.round ?? 0) }
        let names = first?.parameters.map(\.name) ?? []
        let halving = contains { $0.round != nil }
        var header = ["rank", "mean", "std"] + names + ["trial"]
        if halving { header += ["round", "epochs"] }
        header += ["seconds", "status"]
        func score(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "-" }
        let body = rows.map { record -> [String] in
            var cells = ["\(record.rank ?? 0)", score(record.meanScore), score(record.standardDeviation)]
            cells += names.map { name in record.parameters.first { $0.name == name }?.value ?? "" }
            cells.append("\(record.trial)")
            if halving { cells += ["\(record.round ?? 0)", "\(record.epochs)"] }
            cells += [String(format: "%.1f", record.seconds), record.status == .ok ? "ok" : "\(record.status.rawValue): \(record.error ?? "")"]
            return cells
        }
        let widths = header.indices.map { column in ([header] + body).map { $0[column].count }.max() ?? 0 }
        return ([header] + body).map { cells in
            cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// A line's scores read exactly. JSONSerialization's numbers on Linux can be an ulp off
/// (0.9465776293823038, 567/599, reads as …37), so a score read back from a results or fold
/// file, and a resumed sweep's results, would differ from the one computed; JSONDecoder's are
/// the numbers written.
struct ExactScores: Decodable {
    var foldScores: [Double?]?
    var score: Double?

    enum CodingKeys: String, CodingKey {
        case foldScores = "fold_scores", score
    }

    static func read(_ text: some StringProtocol) -> ExactScores? {
        try? JSONDecoder().decode(ExactScores.self, from: Data(text.utf8))
    }
}
