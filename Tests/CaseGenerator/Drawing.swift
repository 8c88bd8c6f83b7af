import Foundation
import MLP

/// SplitMix64: a small generator whose sequence depends only on its seed, so a case is redrawn from (seed, index).
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < probability }
    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }
}

/// The values thrown at every option; which text each becomes follows the option's declared type and range.
enum Boundary: String, CaseIterable {
    case typical, zero, minusOne, one, max, maxPlusOne, nan, inf, minusInf, empty, oneCharacter, bytes255, unicode
    /// Only for flags: the flag given a value (`--nesterov=1`).
    case flagWithValue
}

/// The kinds of path drawn for outputs, each made in the case's scratch directory. `outputKind` is what
/// the declaration (`OutputKind`) calls it; nil: a regular file that is also an input (refused as the same file).
enum PathKind: String, CaseIterable {
    case oneCharacter, unicodeName, name255, existingFile0600, symbolicLink, danglingLink, fifo, devNull, standardOutput
    case directory, trailingSlash, dot, dotDot, empty, name256, missingDirectory, notADirectory, readOnlyDirectory
    case socket, linkLoop, inputPath

    var outputKind: OutputKind? {
        switch self {
        case .oneCharacter, .unicodeName, .name255: return .newFile
        case .existingFile0600: return .regularFile
        case .symbolicLink, .danglingLink: return .symbolicLink
        case .fifo: return .fifo
        case .devNull: return .characterDevice
        case .standardOutput: return .standardOutput
        case .directory: return .directory
        case .trailingSlash: return .trailingSlash
        case .dot: return .dot
        case .dotDot: return .dotDot
        case .empty: return .empty
        case .name256: return .nameTooLong
        case .missingDirectory: return .missingDirectory
        case .notADirectory: return .notADirectory
        // Root writes into a read-only directory: there it is a new file, as `access(2)` says.
        case .readOnlyDirectory: return geteuid() == 0 ? .newFile : .unwritableDirectory
        case .socket: return .socket
        case .linkLoop: return .symbolicLinkLoop
        case .inputPath: return nil
        }
    }

    /// `convert --output` is a prefix: only kinds made at `PREFIX.X.npy` are meaningful for it.
    static let forPrefix: [PathKind] = [.oneCharacter, .existingFile0600, .symbolicLink, .fifo, .directory, .missingDirectory,
                                        .notADirectory, .socket, .linkLoop]
}

/// The training data of a case (also `predict --input`, `evaluate --data`, `convert --input`).
enum DataShape: String, CaseIterable {
    case small, oneRow, oneColumn, extremeWeights, huge, subnormal, stringLabels, gzip, empty, headerOnly
    /// A categorical column (quotes, a comma, unicode) and gaps in the default missing spellings: what `train` now takes.
    case categoriesAndGaps
    var fileName: String { self == .gzip ? "data.csv.gz" : "data.csv" }
}

enum Command: String, CaseIterable {
    case train, predict, evaluate, export, plot, convert, info, sweep
    /// The commands drawn at random for the cases that are neither train nor sweep.
    static let others: [Command] = [.predict, .evaluate, .export, .plot, .convert, .info]
}

/// One option value drawn for a case; `valid` is what the declaration says of it (nil: it cannot say).
struct DrawnValue {
    let option: String
    let boundary: Boundary
    let text: String?   // nil: a flag given alone
    let valid: Bool?
    /// The train option whose range decides `valid`: `option` itself, or the one a `--param` varies.
    var rangeOption: String

    init(option: String, boundary: Boundary, text: String?, valid: Bool?, rangeOption: String? = nil) {
        (self.option, self.boundary, self.text, self.valid) = (option, boundary, text, valid)
        self.rangeOption = rangeOption ?? option
    }
}

struct DrawnOutput {
    let option: OutputOption
    let kind: PathKind
    /// The path as given (for convert, the prefix).
    let path: String
}

struct Case {
    let index: Int
    let command: Command
    let shape: DataShape
    let ranks: Int
    var values: [DrawnValue] = []
    var outputs: [DrawnOutput] = []
    var arguments: [String] = []
    /// Slurm's variables as srun would set them, one drawn at a boundary (`SlurmStep.countVariables`); empty: none.
    var environment: [String: String] = [:]
    var slurmValue: (name: String, boundary: Boundary)?
    /// `--resume auto` given.
    var resumeAuto = false
    /// A sweep case's draw.
    var sweep: SweepDraw?
    /// A plot case's input: the learning curves, a sweep's scores, or a rule of the two broken.
    var plotInput: PlotInput?
}

/// What `mlp plot` is given to read: `--metrics` or `--sweep` (one of them), or both, or a metrics file as `--sweep`.
enum PlotInput: String, CaseIterable {
    case metrics, sweep, both, metricsAsSweep

    var arguments: [String] {
        switch self {
        case .metrics: return ["--metrics", "metrics.jsonl"]
        case .sweep: return ["--sweep", "results.jsonl"]
        case .both: return ["--metrics", "metrics.jsonl", "--sweep", "results.jsonl"]
        case .metricsAsSweep: return ["--sweep", "metrics.jsonl"]
        }
    }
}

/// Draws cases from the declarations: `TrainOptionTable.all` for the values, `OutputOption.all` for the outputs.
struct Drawer {
    let seed: UInt64
    let ranksFraction: Double

    /// Options whose values are files: outputs are drawn from `OutputOption.all`, inputs from the data shapes.
    static let fileOptions = Set<String>(["--train", "--train-labels", "--test", "--test-labels", "--init-from", "--resume",
                                           "--train-weights"]).union(OutputOption.all.map(\.name))

    func draw(_ index: Int) -> Case {
        var random = SplitMix64(state: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        // Three cases in five train and one sweeps; those walk the option × boundary cells in turn (from a seed-chosen
        // start), so that a few hundred cases try every cell once; further values and the other commands are drawn at random.
        let isTrain = index % 5 < 3
        let command = isTrain ? Command.train : index % 5 == 3 ? .sweep : random.pick(Command.others)
        let ranks = [.train, .evaluate, .sweep].contains(command) && random.chance(ranksFraction) ? 2 : 1
        var drawn = Case(index: index, command: command, shape: random.chance(0.5) ? .small : random.pick(DataShape.allCases),
                         ranks: ranks)
        let outputs = OutputOption.all.filter { $0.command == command.rawValue }
        if command == .train {
            let options = TrainOptionTable.all.filter { !Self.fileOptions.contains($0.name) }
            let cells = options.flatMap { option in Self.boundaries(option).map { (option, $0) } }
            let (first, boundary) = cells[(index / 5 * 3 + index % 5 + Int(seed % UInt64(cells.count))) % cells.count]
            drawn.values.append(Self.value(for: first, boundary, &random))
            for _ in 0 ..< random.below(3) {
                let option = random.pick(options)
                // Never both step bounds: one of them stays small, so a drawn 2³¹ − 1 still ends.
                let bounds: Set<String> = ["--epochs", "--max-steps"]
                guard !drawn.values.contains(where: {
                    $0.option == option.name || bounds.contains($0.option) && bounds.contains(option.name)
                })
                else { continue }
                // Mostly a plausible value, so that combinations get past parsing and train.
                let boundary = random.chance(0.6) ? Boundary.typical : random.pick(Self.boundaries(option))
                drawn.values.append(Self.value(for: option, boundary, &random))
            }
            for output in outputs where random.chance(0.45) { drawn.outputs.append(Self.output(output, data: drawn.shape, &random)) }
        } else if command == .sweep {
            drawSweep(&drawn, &random)
        } else if let output = outputs.first {
            drawn.outputs.append(Self.output(output, data: drawn.shape, &random))
        }
        if command == .train || command == .evaluate, random.chance(0.12) {
            let name = random.pick(SlurmStep.countVariables)
            let boundary = random.pick(Self.slurmBoundaries)
            drawn.environment = ["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "1", "SLURM_PROCID": "0", "SLURM_JOB_ID": "7"]
            drawn.environment[name] = Self.slurmText(boundary, &random)
            drawn.slurmValue = (name, boundary)
        }
        if command == .plot {
            // An output that is the input's own path names the metrics file: read it as --metrics.
            let ownPath = drawn.outputs.contains { $0.kind == .inputPath }
            drawn.plotInput = ownPath || random.chance(0.5) ? .metrics : random.pick([.sweep, .sweep, .sweep, .both, .metricsAsSweep])
        }
        drawn.resumeAuto = command == .train && random.chance(0.1)
        // Mostly with the --checkpoint it resumes, so that its path kinds meet --resume auto.
        if drawn.resumeAuto, !drawn.outputs.contains(where: { $0.option == .checkpoint }), random.chance(0.7) {
            drawn.outputs.append(Self.output(.checkpoint, data: drawn.shape, &random))
        }
        drawn.arguments = arguments(drawn, &random)
        return drawn
    }

    static let slurmBoundaries: [Boundary] = [.typical, .zero, .minusOne, .one, .max, .maxPlusOne, .nan, .empty, .oneCharacter,
                                              .bytes255, .unicode]

    /// A task count or index at a boundary: srun's own range is 1 ... 2²⁴ tasks.
    static func slurmText(_ boundary: Boundary, _ random: inout SplitMix64) -> String {
        switch boundary {
        case .typical: return random.pick(["2", "3"])
        case .max: return "\(1 << 24)"
        case .maxPlusOne: return "\((1 << 24) + 1)"
        case .zero: return "0"
        case .minusOne: return "-1"
        case .one: return "1"
        case .nan: return "nan"
        case .empty: return ""
        case .oneCharacter: return "x"
        case .bytes255: return String(repeating: "9", count: 255)
        default: return "½é✓"
        }
    }

    static func output(_ option: OutputOption, data: DataShape, _ random: inout SplitMix64) -> DrawnOutput {
        let kinds = option.command == "convert" ? PathKind.forPrefix : PathKind.allCases
        let kind = random.chance(0.2) ? .oneCharacter : random.pick(kinds)
        return DrawnOutput(option: option, kind: kind, path: Scratch.path(of: kind, for: option, data: data.fileName))
    }

    /// The boundaries that make sense for the option's declared type.
    static func boundaries(_ option: AnyTrainOption) -> [Boundary] {
        if option.isFlag { return [.typical, .flagWithValue] }
        if option.range != nil || option.valueType == UInt64.self { return Boundary.allCases.filter { $0 != .flagWithValue } }
        return [.typical, .empty, .oneCharacter, .bytes255, .unicode]
    }

    static func value(for option: AnyTrainOption, _ boundary: Boundary, _ random: inout SplitMix64) -> DrawnValue {
        if option.isFlag {
            return DrawnValue(option: option.name, boundary: boundary, text: boundary == .flagWithValue ? "1" : nil,
                              valid: boundary == .flagWithValue ? false : true)
        }
        let text = Self.text(boundary, option, &random)
        return DrawnValue(option: option.name, boundary: boundary, text: text, valid: Expectation.isValid(text, for: option))
    }

    /// The text of `boundary` for the option: its range's bounds, its type's choices.
    static func text(_ boundary: Boundary, _ option: AnyTrainOption, _ random: inout SplitMix64) -> String {
        let isInteger = [Int.self, UInt64.self, [Int].self].contains { $0 == option.valueType }
        let upper = option.range?.upperBound ?? (option.valueType == UInt64.self ? Double(UInt64.max) : .infinity)
        switch boundary {
        case .typical:
            if let choices = Expectation.choices(option.valueType) { return random.pick(choices) }
            if let typical = option.defaultText, option.range != nil || option.valueType == UInt64.self {
                return typical.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).replacingOccurrences(of: " ", with: "")
            }
            return random.pick(typicalTexts[option.name] ?? ["a"])
        case .zero: return "0"
        case .minusOne: return "-1"
        case .one: return "1"
        case .max:
            if option.valueType == UInt64.self { return "\(UInt64.max)" }
            if upper.isFinite { return isInteger ? "\(Int(upper))" : "\(upper)" }
            return isInteger ? "\(Int.max)" : "\(Double.greatestFiniteMagnitude)"
        case .maxPlusOne:
            if option.valueType == UInt64.self { return "18446744073709551616" }
            return upper.isFinite ? (isInteger ? "\(Int(upper) + 1)" : "\(upper.nextUp)") : (isInteger ? "9223372036854775808" : "inf")
        case .nan: return "nan"
        case .inf: return "inf"
        case .minusInf: return "-inf"
        case .empty: return ""
        case .oneCharacter: return "x"
        case .bytes255: return String(repeating: "9", count: 255)
        case .unicode: return "½é✓"
        case .flagWithValue: return "1"
        }
    }

    /// Plausible values of options whose type has no range or choices (texts the command line parses itself).
    static let typicalTexts: [String: [String]] = [
        "--class-weight": ["balanced", "0:2", "1:0.5,0:3"], "--target": ["label", "a"], "--sample-weight": ["a", "b"],
        "--categorical": ["a", "b", "c", "a,b"], "--missing-values": [",NA", "?", "NA,null,"],
        "--random": ["2", "3"], "--folds": ["2", "3"], "--halving": ["2", "3"],
    ]

    /// The command line of the case. Small defaults keep a case cheap; a drawn value replaces them.
    func arguments(_ drawn: Case, _ random: inout SplitMix64) -> [String] {
        var arguments = [drawn.command.rawValue]
        let data = drawn.shape.fileName
        let output = drawn.outputs.first?.path ?? "o"
        switch drawn.command {
        case .train:
            arguments += ["--train", data]
            let given = Set(drawn.values.map(\.option))
            for (name, value) in [("--hidden", "4"), ("--batch-size", "4"), ("--checksum-every", "2")] where !given.contains(name) {
                arguments += [name, value]
            }
            // A drawn epoch count as large as 2³¹ − 1 must still end: steps are capped unless they are the drawn value.
            if !given.contains("--epochs") { arguments += ["--epochs", "2"] }
            if !given.contains("--max-steps") { arguments += ["--max-steps", "4"] }
            for value in drawn.values {
                guard let text = value.text else { arguments.append(value.option); continue }
                // `--name=value` keeps a value that starts with '-' a value; the two-word form is drawn too.
                if text.hasPrefix("-") || random.chance(0.5) {
                    arguments.append("\(value.option)=\(text)")
                } else {
                    arguments += [value.option, text]
                }
            }
            for output in drawn.outputs { arguments += [output.option.name, output.path] }
            // Inputs beside the data: the same file as test data, the fixture model as a start (its 2-4-2 shape may clash).
            if random.chance(0.2) { arguments += ["--test", data] }
            if random.chance(0.1) { arguments += ["--init-from", "model.st"] }
            if drawn.resumeAuto { arguments += ["--resume", "auto"] }
        case .sweep: arguments += sweepArguments(drawn, &random)
        case .predict: arguments += ["--model", "model.st", "--input", data, "--output", output]
        case .evaluate: arguments += ["--model", "model.st", "--data", data] + (random.chance(0.5) ? ["--json"] : [])
        case .export: arguments += ["--model", "model.st", "--output", output]
        case .plot: arguments += (drawn.plotInput ?? .metrics).arguments + ["--output", output]
        case .convert: arguments += ["--input", data, "--output", output]
        case .info: arguments += [random.pick(["model.st", data, "metrics.jsonl"])] + (random.chance(0.5) ? ["--json"] : [])
        }
        return arguments
    }
}
