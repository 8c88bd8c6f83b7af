import Foundation
import MLP

/// What a sweep case drew besides its values and outputs, and what `mlp sweep`'s own rules (docs/sweep.md: the
/// refusals no declaration states) make of it.
struct SweepDraw {
    /// The cell the case walked to: an option of `mlp sweep` at a boundary, or one of its rules.
    var cell: String
    /// The command line after `sweep --train DATA`, outputs aside.
    var words: [String] = []
    /// The `--param` names, in order.
    var names: [String] = []
    /// A rule the case breaks: the status it must end with (64 before any work, 1 where the data or a file shows
    /// it) and the rule.
    var refusal: (status: Int32, reason: String)?
    /// The trials the results must list when it runs; nil: it cannot say (successive halving's rounds).
    var trials: Int?
    /// K of `--folds`; nil: scored on the validation split.
    var folds: Int?
    /// Only plausible values: past its checks the sweep must succeed on data it can score.
    var plausible = true
    /// Files the scratch directory holds before the run (a results file of another sweep).
    var files: [String: [UInt8]] = [:]

    /// The trials' directory: `--sweep-dir` as given, or beside `--results`.
    func directory(_ outputs: [DrawnOutput]) -> String? {
        if let given = outputs.first(where: { $0.option == .sweepDirectory }) { return given.path }
        return outputs.first { $0.option == .sweepResults }.map { Self.defaultDirectory(results: $0.path) }
    }

    /// docs/sweep.md: beside the results file, its name without `.jsonl` (or `.json`) and with `.trials`.
    static func defaultDirectory(results: String) -> String {
        for suffix in [".jsonl", ".json"] where results.hasSuffix(suffix) && !results.hasSuffix("/" + suffix) && results != suffix {
            return String(results.dropLast(suffix.count)) + ".trials"
        }
        return results + ".trials"
    }
}

/// The rules of `mlp sweep` a cell may break or keep, each drawn on a cheap sweep (8 rows, ≤ 2 epochs, 2 trials).
enum SweepRule: String, CaseIterable {
    case grid, twoParameters, validationSplit, logRange, linRange, intRange, rangeAtBoundary, valueAtBoundary
    case halving, someTrialsRefused, emptyResultsFile
    // Refused:
    case rangeKind, rangeMalformed, reversedRange, logFromZero, rangeWithoutRandom, randomWithoutRange, unknownName, noEquals
    case fixedOption, duplicate, alsoInBase, noValues, tooManyTrials, allOfTheMostTrialsRefused, everyTrialRefused
    case halvingRounds, halvingVariesEpochs, halvingWithMaxSteps, seedWithoutRandom, noScoring, noResults, checkpointInBase
    case foldsAboveSmallestClass, otherSweepsResults

    /// The rules a sweep of plausible values keeps: drawn between the walk's cells, so that enough sweeps run to the end.
    static let kept: [SweepRule] = [.grid, .twoParameters, .validationSplit, .logRange, .linRange, .intRange, .halving,
                                    .someTrialsRefused, .emptyResultsFile]
}

enum SweepCell {
    case value(AnyTrainOption, Boundary)
    case rule(SweepRule)

    var name: String {
        switch self {
        case let .value(option, boundary): return "\(option.name) \(boundary.rawValue)"
        case let .rule(rule): return rule.rawValue
        }
    }
}

extension Drawer {
    /// `mlp sweep`'s own options that take a value; its outputs are drawn as outputs.
    static let sweepOptions = SweepOptionTable.all.filter { !fileOptions.contains($0.name) }

    /// Every cell, walked in turn by the sweep cases: each own option at each boundary, then each rule.
    static let sweepCells: [SweepCell] = sweepOptions.flatMap { option in boundaries(option).map { SweepCell.value(option, $0) } }
        + SweepRule.allCases.map(SweepCell.rule)

    /// Grids of two cheap values each (`--param` texts, list-valued options' alternatives separated by `|`).
    static let cheapGrids = ["learning-rate=0.1,0.05", "momentum=0,0.5", "hidden=4|3,2", "activation=relu,tanh", "batch-size=4,2",
                             "seed=1,2", "standardize=true,false", "optimizer=sgd,adam", "weight-decay=0,0.001", "dropout=0|0.1"]

    /// The train options a `--param` may vary, and those it may not.
    static let variable = TrainOptionTable.all.filter { $0.sweep == .mayVary }
    static let fixed = TrainOptionTable.all.filter { $0.sweep != .mayVary }

    /// The fewest rows of a class in each shape's labels: more folds than that is refused (StratifiedKFold's rule).
    static func smallestClass(_ shape: DataShape) -> Int {
        switch shape {
        case .small, .gzip, .stringLabels, .categoriesAndGaps: return 4
        case .subnormal, .extremeWeights, .huge: return 2
        case .oneRow: return 1
        case .oneColumn, .empty, .headerOnly: return 0
        }
    }

    /// The shapes on which a plausible sweep must succeed (the others' values overflow or cannot be split).
    static let scorableShapes: Set<DataShape> = [.small, .gzip, .stringLabels, .subnormal, .categoriesAndGaps]

    func drawSweep(_ drawn: inout Case, _ random: inout SplitMix64) {
        // Two sweep cases in three walk the cells in turn; the third is a sweep that keeps every rule, with plain outputs.
        let ordinal = drawn.index / 5
        let isPlain = ordinal % 3 == 2
        let cells = Self.sweepCells
        let cell = isPlain ? .rule(random.pick(SweepRule.kept))
            : cells[(ordinal - ordinal / 3 + Int(seed % UInt64(cells.count))) % cells.count]
        var sweep = SweepDraw(cell: cell.name)
        var parameters: [String] = []
        var own: [(String, String)] = []          // the sweep's own options and their texts
        var base: [String] = []
        var halving = false, results = true, scoring = "folds"
        func refuse(_ reason: String, _ status: Int32 = ExitStatus.usage) {
            if sweep.refusal == nil || sweep.refusal!.status != ExitStatus.usage { sweep.refusal = (status, reason) }
        }
        func grid(_ count: Int = 1) -> [String] {
            var names: Set<String> = []
            return (0 ..< count).compactMap { _ in
                let text = random.pick(Self.cheapGrids)
                return names.insert(Self.name(of: text)).inserted ? text : nil
            }
        }
        // A range every trial can take: with --random 2, two draws.
        let plainRange = ["learning-rate=log:0.01..0.2", "momentum=lin:0..0.9", "batch-size=int:1..4", "seed=int:0..9"]

        switch cell {
        case let .value(option, boundary):
            if option.name == SweepOptionTable.param.name {
                guard boundary != .typical else {
                    parameters = grid()
                    drawn.values.append(DrawnValue(option: option.name, boundary: boundary, text: parameters[0], valid: true))
                    break
                }
                // Not NAME=VALUES: nothing a --param can read.
                let text = Self.text(boundary, option, &random)
                drawn.values.append(DrawnValue(option: option.name, boundary: boundary, text: text, valid: false))
                parameters = [text]
                break
            }
            let value = Self.value(for: option, boundary, &random)
            drawn.values.append(value)
            // The drawn --folds is the scoring, valid or not (a second one would replace it).
            if option.name == SweepOptionTable.folds.name { scoring = "given" }
            own.append((option.name, value.text ?? ""))
            parameters = grid()
            guard value.valid == true, let text = value.text else {
                if option.name == SweepOptionTable.random.name { parameters = [random.pick(plainRange)] }
                break
            }
            switch option.name {
            case SweepOptionTable.random.name:
                parameters = [random.pick(plainRange)]
                // More draws than a case can train: every trial is refused (momentum with adam), which is checked before any work.
                if Int(text)! > 3 {
                    base += ["--optimizer", "adam"]
                    parameters.append("momentum=0.5")
                    refuse("every trial is refused (momentum with adam)")
                }
                sweep.trials = Int(text)
            case SweepOptionTable.sweepSeed.name:
                own.append((SweepOptionTable.random.name, "2"))
                parameters = [random.pick(plainRange)]
            case SweepOptionTable.folds.name:
                if Int(text)! > Self.smallestClass(drawn.shape) {
                    refuse("--folds \(text) is more than the smallest class's rows", ExitStatus.badInput)
                }
            case SweepOptionTable.ranksPerTrial.name:
                if drawn.ranks % Int(text)! != 0 { refuse("--ranks-per-trial \(text) does not divide \(drawn.ranks) ranks") }
            case SweepOptionTable.halving.name:
                halving = true
            default: break
            }
        case let .rule(rule):
            switch rule {
            case .grid: parameters = grid()
            case .twoParameters:
                parameters = grid(2)
                // The second varies, or is one value: 2 or 4 trials.
                if parameters.count == 2, random.chance(0.5) {
                    parameters[1] = String(parameters[1].split(separator: ",")[0].split(separator: "|")[0])
                }
            case .validationSplit:
                parameters = grid()
                scoring = "validation"
            case .logRange, .linRange, .intRange:
                own.append((SweepOptionTable.random.name, random.pick(["1", "2", "3"])))
                parameters = [plainRange[rule == .logRange ? 0 : rule == .linRange ? 1 : random.pick([2, 3])]]
            case .rangeAtBoundary:
                own.append((SweepOptionTable.random.name, "2"))
                let numbers: [Any.Type] = [Int.self, UInt64.self, Double.self]
                let numeric = Self.variable.filter { option in numbers.contains { $0 == option.valueType } }
                let option = random.pick(numeric)
                let boundary = random.pick(Self.boundaries(option))
                let bound = Self.text(boundary, option, &random)
                let typical = Self.text(.typical, option, &random)
                let isInteger = option.valueType != Double.self
                let prefix = isInteger ? "int:" : random.pick(["log:", "lin:"])
                let (low, high) = random.chance(0.5) ? (typical, bound) : (bound, typical)
                let text = "\(option.name.dropFirst(2))=\(prefix)\(low)..\(high)"
                parameters = [text]
                let valid = Self.rangeIsValid(prefix: prefix, low: low, high: high, option: option)
                drawn.values.append(DrawnValue(option: "--param", boundary: boundary, text: text, valid: valid, rangeOption: option.name))
                sweep.plausible = false
            case .valueAtBoundary:
                let option = random.pick(Self.variable.filter { !$0.isFlag })
                let boundary = random.pick(Self.boundaries(option))
                let value = Self.text(boundary, option, &random)
                let typical = Self.text(.typical, option, &random)
                let separator = SweepParameterSyntax.isList(option) ? "|" : ","
                let text = "\(option.name.dropFirst(2))=\(typical)\(separator)\(value)"
                parameters = [text]
                let valid = Self.listIsValid([typical, value], separator: separator, option: option)
                drawn.values.append(DrawnValue(option: "--param", boundary: boundary, text: text, valid: valid, rangeOption: option.name))
                sweep.plausible = false
            case .halving:
                halving = true
                own.append((SweepOptionTable.halving.name, random.pick(["2", "3", "1.5"])))
                parameters = grid()
            case .someTrialsRefused:
                base += ["--momentum", "0.9"]
                parameters = ["optimizer=sgd,adam"]
            case .emptyResultsFile:
                // The same command twice is not drawn; an empty file is a results file with no trial yet.
                sweep.files["r.jsonl"] = []
                parameters = grid()
            case .rangeKind:
                own.append((SweepOptionTable.random.name, "2"))
                parameters = [random.pick(["learning-rate=int:1..3", "batch-size=log:1..4", "batch-size=lin:1..4", "hidden=int:1..3",
                                           "activation=lin:0..1", "standardize=int:0..1"])]
                refuse("a range of another kind than the option's values")
            case .rangeMalformed:
                own.append((SweepOptionTable.random.name, "2"))
                parameters = [random.pick(["learning-rate=log:0.1", "learning-rate=lin:a..b", "learning-rate=log:0.01..0.1..0.2",
                                           "batch-size=int:1..", "momentum=lin:..0.5", "seed=int:-1..3"])]
                refuse("a range that does not read as LOW..HIGH of the option's values")
            case .reversedRange:
                own.append((SweepOptionTable.random.name, "2"))
                parameters = [random.pick(["learning-rate=log:0.1..0.01", "momentum=lin:0.9..0", "batch-size=int:4..1"])]
                refuse("LOW > HIGH")
            case .logFromZero:
                own.append((SweepOptionTable.random.name, "2"))
                parameters = ["momentum=log:0..0.5"]
                refuse("log: with LOW ≤ 0")
            case .rangeWithoutRandom:
                parameters = [random.pick(plainRange)]
                refuse("a range without --random")
            case .randomWithoutRange:
                own.append((SweepOptionTable.random.name, "2"))
                parameters = grid()
                refuse("--random without a range")
            case .unknownName:
                parameters = [random.pick(["colour=1,2", "folds=2,3", "=1,2", "Learning-rate=0.1", "learning_rate=0.1", "-=1"])]
                refuse("no option of mlp train by that name")
            case .noEquals:
                parameters = [random.pick(["learning-rate", "learning-rate:0.1", ""])]
                refuse("not NAME=VALUES")
            case .fixedOption:
                parameters = ["\(random.pick(Self.fixed).name.dropFirst(2))=a"]
                refuse("an option that cannot vary")
            case .duplicate:
                let text = random.pick(Self.cheapGrids)
                parameters = [text, text]
                refuse("the same --param twice")
            case .alsoInBase:
                let text = random.pick(["hidden=4|3", "batch-size=4,2"])
                parameters = [text]
                base += ["--" + Self.name(of: text), text.hasPrefix("hidden") ? "4" : "2"]
                refuse("a --param the base also gives")
            case .noValues:
                parameters = [random.pick(["momentum=", "learning-rate=", "activation=", "standardize="])]
                refuse("an empty grid")
            case .tooManyTrials:
                // 101 × 100 trials.
                parameters = ["seed=" + (0 ... 100).map(String.init).joined(separator: ","),
                              "batch-size=" + (1 ... 100).map(String.init).joined(separator: ",")]
                refuse("more than 10,000 trials")
            case .allOfTheMostTrialsRefused:
                // 10,000 trials, each refused (momentum with adam): the most a sweep may have, checked at once.
                base += ["--optimizer", "adam"]
                parameters = ["seed=" + (0 ..< 100).map(String.init).joined(separator: ","),
                              "momentum=" + (1 ... 100).map { "0.\($0)" }.joined(separator: ",")]
                refuse("every one of 10,000 trials is refused")
            case .everyTrialRefused:
                base += ["--optimizer", "adam"]
                parameters = ["momentum=0.5,0.9"]
                refuse("every trial is refused (momentum with adam)")
            case .halvingRounds:
                own.append((SweepOptionTable.halving.name, random.pick(["1.0001", "1.000000001"])))
                halving = true
                parameters = grid()
                refuse("more than 100 halving rounds")
            case .halvingVariesEpochs:
                own.append((SweepOptionTable.halving.name, "2"))
                halving = true
                parameters = [random.pick(["epochs=1,2", "max-steps=2,4"])]
                refuse("--halving with epochs or steps varied")
            case .halvingWithMaxSteps:
                own.append((SweepOptionTable.halving.name, "2"))
                parameters = grid()
                refuse("--halving with --max-steps in the base")
            case .seedWithoutRandom:
                own.append((SweepOptionTable.sweepSeed.name, "1"))
                parameters = grid()
                refuse("--sweep-seed without --random")
            case .noScoring:
                scoring = "none"
                parameters = grid()
                refuse("neither --folds nor --validation-split")
            case .noResults:
                results = false
                parameters = grid()
                refuse("no --results")
            case .checkpointInBase:
                base += random.pick([["--checkpoint", "c"], ["--resume", "c"], ["--checkpoint-every", "2"]])
                parameters = grid()
                refuse("a base option the sweep takes over")
            case .foldsAboveSmallestClass:
                scoring = "given"
                own.append((SweepOptionTable.folds.name, "\(max(2, Self.smallestClass(drawn.shape) + 1))"))
                parameters = grid()
                refuse("--folds above the smallest class's rows", ExitStatus.badInput)
            case .otherSweepsResults:
                let line = "{\"trial\":0,\"params\":{\"seed\":\"1\"},\"status\":\"ok\",\"fold_scores\":[0.5,0.5],\"mean_score\":0.5,"
                    + "\"std_score\":0.0,\"epochs\":1,\"seconds\":0.1,\"group\":0,\"sweep\":\"0123456789abcdef\"}\n"
                precondition(TrialRecord(line: line) != nil, "not a results line: \(line)")
                sweep.files["r.jsonl"] = Array(line.utf8)
                parameters = grid()
                refuse("a results file of another sweep", ExitStatus.badInput)
            }
        }

        if isPlain, random.chance(0.5), !own.contains(where: { $0.0 == SweepOptionTable.ranksPerTrial.name }) {
            own.append((SweepOptionTable.ranksPerTrial.name, random.pick(drawn.ranks == 2 ? ["1", "2"] : ["1"])))
        }
        // Scoring: --folds (drawn above, or 2 or 3, no more than the smallest class holds), or the base's validation split.
        if scoring == "folds" {
            let fitting = ["2", "3"].filter { Int($0)! <= max(2, Self.smallestClass(drawn.shape)) }
            own.append((SweepOptionTable.folds.name, random.pick(fitting)))
        }
        if scoring == "validation" { base += ["--validation-split", "0.25"] }
        if let folds = own.last(where: { $0.0 == SweepOptionTable.folds.name }) { sweep.folds = Int(folds.1) }
        sweep.names = parameters.map(Self.name)
        if sweep.trials == nil, own.allSatisfy({ $0.0 != SweepOptionTable.random.name }), !halving {
            sweep.trials = parameters.map { text in
                let values = text.drop { $0 != "=" }.dropFirst()
                let option = TrainOptionTable.all.first { $0.name == "--" + Self.name(of: text) }
                return option.map { values.split(separator: SweepParameterSyntax.isList($0) ? "|" : ",", omittingEmptySubsequences: false).count } ?? 1
            }.reduce(1, *)
        }
        if let random = own.first(where: { $0.0 == SweepOptionTable.random.name }), let count = Int(random.1), !halving {
            sweep.trials = count
        }

        // The base: small defaults, but never one a --param varies; a step bound so that a drawn epoch count still ends.
        let varied = Set(sweep.names)
        for (name, value) in [("hidden", "4"), ("batch-size", "4")] where !varied.contains(name) && !base.contains("--" + name) {
            base += ["--" + name, value]
        }
        if !varied.contains("epochs") { base += ["--epochs", halving ? "2" : random.pick(["1", "2"])] }
        if !halving || sweep.cell == SweepRule.halvingWithMaxSteps.rawValue, !varied.contains("max-steps") { base += ["--max-steps", "4"] }

        // The outputs: always --results (unless the rule is its absence), sometimes --save and --sweep-dir.
        if results {
            if sweep.files["r.jsonl"] != nil || random.chance(isPlain ? 0.9 : 0.5) {
                drawn.outputs.append(DrawnOutput(option: .sweepResults, kind: .oneCharacter, path: "r.jsonl"))
            } else {
                drawn.outputs.append(Self.output(.sweepResults, data: drawn.shape, &random))
            }
        }
        func plain(_ option: OutputOption, _ kinds: [PathKind]) -> DrawnOutput {
            let kind = random.pick(kinds)
            return DrawnOutput(option: option, kind: kind, path: Scratch.path(of: kind, for: option, data: drawn.shape.fileName))
        }
        if random.chance(isPlain ? 0.5 : 0.3) {
            drawn.outputs.append(isPlain ? plain(.sweepSave, [.oneCharacter, .unicodeName, .existingFile0600, .symbolicLink])
                                 : Self.output(.sweepSave, data: drawn.shape, &random))
        }
        if random.chance(isPlain ? 0.3 : 0.35) {
            drawn.outputs.append(isPlain ? plain(.sweepDirectory, [.directory, .trailingSlash, .unicodeName])
                                 : Self.output(.sweepDirectory, data: drawn.shape, &random))
        }
        Self.refuseOutputs(drawn.outputs, &sweep)

        for (name, text) in own {
            sweep.words += text.hasPrefix("-") ? ["\(name)=\(text)"] : [name, text]
        }
        for text in parameters { sweep.words += text.hasPrefix("-") ? ["--param=\(text)"] : ["--param", text] }
        sweep.words += base
        drawn.sweep = sweep
    }

    /// The name a `--param` text varies.
    static func name(of text: String) -> String { String(text.prefix { $0 != "=" }) }

    /// docs/sweep.md's rules for outputs the declarations accept but the sweep cannot use: an existing file that is
    /// not this sweep's results, a trials' directory beside `--results` whose name is too long, two outputs at one path.
    static func refuseOutputs(_ outputs: [DrawnOutput], _ sweep: inout SweepDraw) {
        func refuse(_ reason: String) { if sweep.refusal == nil { sweep.refusal = (ExitStatus.badInput, reason) } }
        let accepted = outputs.filter(Expectation.accepts)
        if let results = accepted.first(where: { $0.option == .sweepResults }) {
            if [.existingFile0600, .symbolicLink].contains(results.kind) { refuse("--results names a file that is not a sweep's results") }
            if !outputs.contains(where: { $0.option == .sweepDirectory }),
               splitName(SweepDraw.defaultDirectory(results: results.path)).utf8.count > 255 {
                refuse("the trials' directory beside --results has too long a name")
            }
        }
        let paths = accepted.map { $0.option == .sweepDirectory ? trimmedDirectory($0.path) : $0.path }
        if Set(paths).count < paths.count { refuse("two outputs at one path") }
    }

    static func splitName(_ path: String) -> String { String(path.split(separator: "/").last ?? "") }

    /// A directory's path without trailing slashes, as the scratch snapshot names it.
    static func trimmedDirectory(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// Whether every value of a list is one of the option's (nil: the declaration cannot say).
    static func listIsValid(_ texts: [String], separator: String, option: AnyTrainOption) -> Bool? {
        // A value holding the separator is two values.
        let values = texts.flatMap { $0.split(separator: Character(separator), omittingEmptySubsequences: false).map(String.init) }
        let verdicts = values.map { Expectation.isValid($0, for: option) }
        if verdicts.contains(false) { return false }
        return verdicts.contains(nil) ? nil : true
    }

    /// docs/sweep.md's ranges: `int:` for whole numbers, `log:` and `lin:` for other numbers, each bound a value of the
    /// option, LOW ≤ HIGH, and `log:`'s LOW > 0.
    static func rangeIsValid(prefix: String, low: String, high: String, option: AnyTrainOption) -> Bool? {
        guard low.range(of: "..") == nil, high.range(of: "..") == nil else { return false }
        let isInteger = option.valueType == Int.self || option.valueType == UInt64.self
        guard isInteger == (prefix == "int:") else { return false }
        guard let lowValid = Expectation.isValid(low, for: option), let highValid = Expectation.isValid(high, for: option) else { return nil }
        guard lowValid && highValid else { return false }
        if isInteger {
            // Drawn as Int: a UInt64 bound past Int.max cannot be.
            guard let lower = Int(low), let upper = Int(high) else { return false }
            return lower <= upper
        }
        guard let lower = Double(low), let upper = Double(high), lower <= upper else { return false }
        return prefix != "log:" || lower > 0
    }

    /// The words after `sweep`.
    func sweepArguments(_ drawn: Case, _ random: inout SplitMix64) -> [String] {
        var arguments = ["--train", drawn.shape.fileName] + (drawn.sweep?.words ?? [])
        for output in drawn.outputs { arguments += output.path.hasPrefix("-") && output.path != "-" ? ["\(output.option.name)=\(output.path)"]
            : [output.option.name, output.path] }
        if random.chance(0.15) { arguments += ["--test", drawn.shape.fileName] }
        return arguments
    }
}

/// How `--param` separates values: by `|` for options whose value is itself a list.
enum SweepParameterSyntax {
    static func isList(_ option: AnyTrainOption) -> Bool {
        let lists: [Any.Type] = [[Int].self, [Double].self, [String].self, TrainingOptions.ClassWeight.self]
        return lists.contains { $0 == option.valueType }
    }
}
