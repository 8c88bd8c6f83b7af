import Foundation
import MLP

/// What the declarations say a value or a case must give. Nothing here lists options or kinds itself:
/// types, ranges and choices come from `TrainOptionTable.all`, accepted kinds from `OutputOption.all`.
enum Expectation {
    /// The raw values of an option type that is `CaseIterable` (`--optimizer`'s sgd, adam, adamw); nil: not a choice.
    static func choices(_ type: Any.Type) -> [String]? {
        guard let iterable = type as? any CaseIterable.Type else { return nil }
        return names(of: iterable)
    }

    private static func names<T: CaseIterable>(of type: T.Type) -> [String] {
        T.allCases.map { value in (value as? any RawRepresentable).map { "\($0.rawValue)" } ?? "\(value)" }
    }

    /// Whether `text` is a value of the option's declared type inside its declared range; nil: the declaration cannot say.
    static func isValid(_ text: String, for option: AnyTrainOption) -> Bool? {
        func inRange(_ number: Double) -> Bool { option.range?.contains(number) ?? true }
        switch option.valueType {
        case is Int.Type: return Int(text).map { inRange(Double($0)) } ?? false
        case is UInt64.Type: return UInt64(text).map { inRange(Double($0)) } ?? false
        case is Double.Type: return Double(text).map(inRange) ?? false
        case is [Int].Type, is [Double].Type:
            guard !text.isEmpty else { return nil }   // "" means "none" for --hidden, and is not a number list
            let numbers = text.split(separator: ",", omittingEmptySubsequences: false).map { part in
                option.valueType == [Int].self ? Int(part).map(Double.init) : Double(part)
            }
            return numbers.allSatisfy { $0.map(inRange) ?? false }
        default:
            return choices(option.valueType).map { $0.contains(text) }
        }
    }

    /// The statuses the declarations allow, if they decide: a value outside its type or range is a usage error (64)
    /// before any work; else an output kind the option does not accept is refused (1) before any work, unless
    /// another usage error (a rule between options, which no declaration states) comes first (64).
    static func statuses(of drawn: Case) -> Set<Int32>? {
        if drawn.values.contains(where: { $0.valid == false }) { return [ExitStatus.usage] }
        if let sweep = drawn.sweep { return sweepStatuses(drawn, sweep) }
        // mlp plot takes one of --metrics and --sweep (a usage rule, checked first); a file of the other kind is bad input.
        if drawn.plotInput == .both { return [ExitStatus.usage] }
        if drawn.plotInput == .metricsAsSweep { return [ExitStatus.badInput, ExitStatus.usage] }
        // srun's separate one-rank worlds, and --resume auto without the --checkpoint it resumes, are refused before any work.
        if slurmRefusal(drawn) != nil { return [ExitStatus.usage] }
        if drawn.resumeAuto, !drawn.outputs.contains(where: { $0.option == .checkpoint }) { return [ExitStatus.usage] }
        if drawn.outputs.contains(where: { !accepts($0) }) { return [ExitStatus.badInput, ExitStatus.usage] }
        return nil
    }

    /// A sweep's status by docs/sweep.md: its own rules are checked before any work (64), then its outputs and data (1);
    /// past them, a sweep of plausible values on data it can score succeeds. Nil where the values leave it open (a trial
    /// may diverge, or every one fail: 6; the refit may fail).
    static func sweepStatuses(_ drawn: Case, _ sweep: SweepDraw) -> Set<Int32>? {
        if sweep.refusal?.status == ExitStatus.usage { return [ExitStatus.usage] }
        if drawn.outputs.contains(where: { !accepts($0) }) || sweep.refusal != nil { return [ExitStatus.badInput] }
        guard sweep.plausible, drawn.values.allSatisfy({ $0.valid == true }), Drawer.scorableShapes.contains(drawn.shape) else { return nil }
        return [ExitStatus.success]
    }

    /// What `SlurmStep` makes of the case's environment: the step's refusal, if any (mpirun started the ranks
    /// of a 2-rank case), and the task that prints it.
    static func slurmRefusal(_ drawn: Case) -> (message: String, printedBy: Int)? {
        guard let step = SlurmStep.from(drawn.environment).step,
              let message = step.refusal(worldSize: drawn.ranks, startedByMPIRun: drawn.ranks > 1) else { return nil }
        return (message, step.taskIndex)
    }

    /// Whether the output's declaration accepts the kind drawn (an input's own path: never).
    static func accepts(_ output: DrawnOutput) -> Bool {
        output.kind.outputKind.map(output.option.accepted.contains) ?? false
    }

    /// What `train` must read from the case's table, if the declarations say so: text columns and gaps in the declared
    /// default missing spellings (`TableOptions.defaultMissingValues`), unless the case changes how they are read
    /// (an option of `TableOptions`). nil: they do not decide.
    static func acceptedTable(_ drawn: Case) -> String? {
        let tableOptions = [TrainOptionTable.missingValues.name, TrainOptionTable.categorical.name]
        guard drawn.command == .train, drawn.shape == .categoriesAndGaps, !drawn.values.contains(where: { tableOptions.contains($0.option) })
        else { return nil }
        return "a categorical column or a missing value (\(TableOptions.defaultMissingValues.map { "\"\($0)\"" }.joined(separator: ", ")))"
    }

    /// Every documented exit status (docs/failure-behaviour.md, `ExitStatus`).
    static func isDocumented(_ status: Int32) -> Bool {
        [ExitStatus.success, ExitStatus.badInput, ExitStatus.diverged, ExitStatus.ranksDisagree, ExitStatus.writeFailed,
         ExitStatus.noTrialSucceeded, ExitStatus.usage, ExitStatus.mpiFailed, ExitStatus.rankLost].contains(status) || (129 ... 192).contains(status)
    }
}

/// What a case left: the process's end, the scratch directory before and after, and what each FIFO's reader
/// (and standard output, as "-") got.
struct Outcome {
    let output: RunOutput
    let before: Snapshot
    let after: Snapshot
    let streamed: [String: [UInt8]]
}

/// Checks one case's outcome; returns what is wrong, empty when it passes.
struct Oracle {
    let mlp: String

    func judge(_ drawn: Case, _ outcome: Outcome, in directory: URL) -> [String] {
        var problems: [String] = []
        let output = outcome.output
        if output.timedOut { return ["hung: still running after the liveness limit of \(Runner.timeLimit) s"] }
        if output.signalled { return ["ended by signal \(output.status)"] }
        let status = output.status
        if !Expectation.isDocumented(status) { problems.append("exit status \(status) is not a documented ExitStatus") }
        let standardOutput = String(decoding: outcome.streamed["-"] ?? [], as: UTF8.self)
        let errorLines = (standardOutput + "\n" + output.stderr).split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }
        if let expected = Expectation.statuses(of: drawn), !expected.contains(status) {
            let allowed = expected.sorted().map(String.init).joined(separator: " or ")
            problems.append("exit status \(status), expected \(allowed) (\(reason(drawn)))")
        }
        let refused = drawn.outputs.filter { !Expectation.accepts($0) }
        if status == ExitStatus.badInput, !refused.isEmpty, drawn.values.allSatisfy({ $0.valid != false }),
           let line = errorLines.first, !refused.contains(where: { line.contains("\($0.option.name) ") }) {
            problems.append("exit 1 for another cause than the refused output \(refused[0].option.name) \(refused[0].path) "
                            + "(\(reason(drawn)))")
        }
        if let line = errorLines.first, status == ExitStatus.badInput, let accepted = Expectation.acceptedTable(drawn),
           line.contains("feature '"), line.contains("is not a number") || line.contains("has no value") {
            problems.append("\(accepted) refused: \(line)")
        }
        let silentTask = Expectation.slurmRefusal(drawn).map { $0.printedBy != 0 } ?? false
        if silentTask && status == ExitStatus.usage && drawn.values.allSatisfy({ $0.valid != false }) {
            // Another task of the step prints the line.
            if !errorLines.isEmpty { problems.append("task \(drawn.environment["SLURM_PROCID"] ?? "") of a refused step printed: \(errorLines[0])") }
        } else if status != 0 && errorLines.count != 1 {
            problems.append("\(errorLines.count) 'mlp: error:' lines for one failure: \(errorLines.prefix(3).joined(separator: " | "))")
        }
        if status == 0 && !errorLines.isEmpty { problems.append("exit status 0 with an error line: \(errorLines[0])") }
        for value in drawn.values where value.valid == true {
            // Neither the range's message nor the parser's ("The value … is invalid for '--beta1 <β₁>'") may refuse it.
            let option = value.rangeOption
            let refusals = ["\(option) must be", "is invalid for '\(option) ", "Missing value for '\(option) "]
            if refusals.contains(where: output.stderr.contains) {
                problems.append("\(value.option) \(value.text ?? "") is of its declared type and range but was refused for it")
            }
        }
        // (A sweep's rule may refuse an accepted kind: its refusal says which.)
        for out in drawn.outputs where Expectation.accepts(out) && drawn.sweep?.refusal == nil
            && output.stderr.contains("mlp: error: \(out.option.name) \(out.path): ") {
            problems.append("\(out.option.name) \(out.path) (\(out.kind.outputKind!)) is an accepted kind but was refused for it")
        }
        // Notes come after the options' checks: any status but a usage error has them.
        if status != ExitStatus.usage {
            for note in SlurmStep.from(drawn.environment).notes where !output.stderr.contains("mlp: note: \(note)") {
                problems.append("no note for the malformed value: expected 'mlp: note: \(note)'")
            }
        }
        problems += files(drawn, outcome, status: status, in: directory)
        return problems
    }

    private func reason(_ drawn: Case) -> String {
        if let value = drawn.values.first(where: { $0.valid == false }) {
            return "\(value.option) '\(value.text ?? "")' is outside its type or range"
        }
        if let refusal = Expectation.slurmRefusal(drawn) { return refusal.message }
        if drawn.resumeAuto, !drawn.outputs.contains(where: { $0.option == .checkpoint }) { return "--resume auto without --checkpoint" }
        if let refusal = drawn.sweep?.refusal, refusal.status == ExitStatus.usage { return refusal.reason }
        if drawn.plotInput == .both { return "plot with both --metrics and --sweep" }
        if drawn.plotInput == .metricsAsSweep { return "plot --sweep of a metrics file" }
        if let out = drawn.outputs.first(where: { !Expectation.accepts($0) }) {
            return "\(out.option.name) does not accept \(out.kind.outputKind.map { "\($0)" } ?? "an input's own path")"
        }
        if let sweep = drawn.sweep { return sweep.refusal?.reason ?? "a sweep of plausible values (\(sweep.cell))" }
        return ""
    }

    /// Only declared outputs may change, and only on success or after work began (a later epoch failing);
    /// a file kind keeps its kind and mode; every output written must load.
    private func files(_ drawn: Case, _ outcome: Outcome, status: Int32, in directory: URL) -> [String] {
        var problems: [String] = []
        let outputs = drawn.outputs.filter(Expectation.accepts)
        let mayChange = status != ExitStatus.usage && status != ExitStatus.badInput
        var allowed: Set<String> = []
        if mayChange { for out in outputs { allowed.formUnion(Scratch.destinations(out)) } }
        // A sweep's trials' directory (given, or beside --results) and everything in it.
        let trials = mayChange ? drawn.sweep?.directory(outputs).map(Drawer.trimmedDirectory) : nil
        func isAllowed(_ path: String) -> Bool { allowed.contains(path) || trials.map { path == $0 || path.hasPrefix($0 + "/") } ?? false }
        for path in outcome.before.changes(to: outcome.after) where !isAllowed(path) {
            problems.append("\(path) changed: \(outcome.before.entries[path]?.description ?? "absent") → "
                            + "\(outcome.after.entries[path]?.description ?? "absent")")
        }
        for out in drawn.outputs where !Expectation.accepts(out) && !(outcome.streamed[out.path] ?? []).isEmpty {
            problems.append("\(out.option.name) \(out.path): a refused FIFO was written to")
        }
        if let sweep = drawn.sweep { problems += sweepFiles(drawn, sweep, outcome, status: status, in: directory) }
        for out in outputs where out.option != .sweepDirectory {
            for path in Scratch.destinations(out) {
                guard let before = outcome.before.entries[path], let after = outcome.after.entries[path], before != after else { continue }
                if before.kind != after.kind || before.mode != after.mode {
                    problems.append("\(path): \(before.kind) mode \(String(before.mode, radix: 8)) became \(after.kind) mode "
                                    + String(after.mode, radix: 8))
                }
            }
            // After a failure during the run an output may hold what an earlier epoch wrote: then it must load too.
            let changed = Scratch.destinations(out).contains { outcome.before.entries[$0] != outcome.after.entries[$0] }
                || !(outcome.streamed[out.path] ?? []).isEmpty
            guard status == 0 || mayChange && changed else { continue }
            if let problem = loads(out, outcome, in: directory, required: status == 0) { problems.append(problem) }
        }
        return problems
    }

    /// Whether an output holds what its command writes; `required`: it must be there (a success).
    private func loads(_ out: DrawnOutput, _ outcome: Outcome, in directory: URL, required: Bool) -> String? {
        let bytes: [UInt8]
        switch out.kind.outputKind {
        case .standardOutput?, .fifo?: bytes = outcome.streamed[out.path] ?? []
        case .characterDevice?: return nil
        default:
            let path = Scratch.destinations(out)[0]
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(path).path) else {
                return required ? "\(out.option.name) \(out.path): nothing at \(path) after success" : nil
            }
            if out.option == .save || out.option == .checkpoint || out.option == .sweepSave {
                let info = try? Runner.run(["info", path, "--json"], ranks: 1, mlp: mlp, in: directory)
                return info?.status == 0 ? nil : "\(out.option.name) \(path): `mlp info --json` does not load it: \(info?.stderr ?? "")"
            }
            bytes = Array(data)
        }
        if !required && bytes.isEmpty { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        switch out.option {
        case .metrics, .sweepResults:
            let bad = text.split(separator: "\n").first { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil }
            return bad.map { "\(out.option.name) \(out.path): a line is not JSON: \($0.prefix(80))" }
        case .predictOutput:
            return text.split(separator: "\n").count >= 1 ? nil : "predict --output \(out.path): no CSV header"
        case .plotOutput:
            return text.hasPrefix("<svg") || text.hasPrefix("<?xml") ? nil : "plot --output \(out.path): not SVG: \(text.prefix(40))"
        case .exportOutput:
            return bytes.isEmpty ? "export --output \(out.path): empty" : nil
        case .convertOutput:
            return bytes.starts(with: [0x93] + Array("NUMPY".utf8)) ? nil : "convert --output \(out.path): X.npy is not .npy"
        default: return nil
        }
    }
}
