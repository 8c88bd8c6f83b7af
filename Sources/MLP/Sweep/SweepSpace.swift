import Foundation

/// One `mlp sweep --param NAME=…`: an option of `mlp train` and the values its trials take, a
/// list (`0.1,0.05`; `64|128,64` for an option whose value is itself a list) or, with `--random`,
/// a range (`log:1e-4..1e-1`, `lin:0..0.5`, `int:1..5`). Values are read by `mlp train`'s own
/// parser and checked against the option's declared range before any work.
public struct SweepParameter: Sendable {
    public let option: AnyTrainOption
    public let values: Values
    /// The text after `=`, for messages.
    public let given: String

    public enum Values: Sendable, Equatable {
        /// The values as given.
        case list([String])
        /// Drawn so that the logarithm is uniform in [log lower, log upper].
        case logUniform(lower: Double, upper: Double)
        case uniform(lower: Double, upper: Double)
        /// Each integer of the range equally likely.
        case integers(lower: Int, upper: Int)

        public var isRange: Bool { if case .list = self { return false } else { return true } }
    }

    /// The name as given to `--param`: the flag without its dashes.
    public var name: String { String(option.name.dropFirst(2)) }

    /// Whether the option's value is itself a list (`--hidden 64,64`, `--class-weight a:2,b:1`):
    /// its alternatives are separated by `|`, other options' by `,`.
    static func valueIsList(_ option: AnyTrainOption) -> Bool {
        let listTypes: [Any.Type] = [[Int].self, [Double].self, [String].self, TrainingOptions.ClassWeight.self]
        return listTypes.contains { $0 == option.valueType }
    }

    /// Reads `NAME=VALUES`; `parse` reads a fragment of `mlp train`'s command line (the options
    /// as given, unchecked), so every value means what it means to `mlp train`.
    public init(_ text: String, parse: TrainArgumentParser) throws {
        guard let equals = text.firstIndex(of: "="), equals > text.startIndex else {
            throw InputError("--param \(text): expected NAME=VALUES, such as learning-rate=0.1,0.05 or hidden=64|128,64")
        }
        let name = String(text[..<equals]), spec = String(text[text.index(after: equals)...])
        let flag = name.hasPrefix("--") ? name : "--" + name
        guard let option = TrainOptionTable.all.first(where: { $0.name == flag }) else {
            throw InputError("--param \(text): \(name) is not an option of mlp train (see mlp train --help)")
        }
        if case .fixed(let reason) = option.sweep { throw InputError("--param \(text): \(option.name) cannot vary in a sweep: \(reason)") }
        self.option = option
        self.given = spec
        values = try Self.readValues(spec, of: option, parse: parse)
    }

    private static func readValues(_ spec: String, of option: AnyTrainOption, parse: TrainArgumentParser) throws -> Values {
        let shown = "--param \(option.name.dropFirst(2))=\(spec)"
        for (prefix, kind) in [("log:", 0), ("lin:", 1), ("int:", 2)] where spec.hasPrefix(prefix) {
            let bounds = spec.dropFirst(prefix.count).components(separatedBy: "..")
            guard bounds.count == 2 else { throw InputError("\(shown): a range is \(prefix)LOW..HIGH") }
            let isInteger = option.valueType == Int.self || option.valueType == UInt64.self
            guard isInteger == (kind == 2), isInteger || option.valueType == Double.self else {
                let requirement = kind == 2 ? "int: ranges are for options that take a whole number"
                    : "\(prefix) ranges are for options that take a number (int:LOW..HIGH for whole numbers)"
                throw InputError("\(shown): \(requirement)")
            }
            // Each bound is a value of the option: parsed and checked as one.
            for bound in bounds { _ = try options(option, bound, parse: parse, shown: shown) }
            if kind == 2 {
                // Drawn as Int: an unsigned bound past Int.max (a --seed) cannot be.
                guard let lower = Int(bounds[0]), let upper = Int(bounds[1]) else {
                    throw InputError("\(shown): int: bounds are drawn as whole numbers up to \(Int.max)")
                }
                guard lower <= upper else { throw InputError("\(shown): int:LOW..HIGH needs LOW ≤ HIGH") }
                return .integers(lower: lower, upper: upper)
            }
            guard let lower = Double(bounds[0]), let upper = Double(bounds[1]), lower <= upper else {
                throw InputError("\(shown): \(prefix)LOW..HIGH needs LOW ≤ HIGH")
            }
            if kind == 0 {
                guard lower > 0 else { throw InputError("\(shown): log: needs LOW > 0 (got \(bounds[0]))") }
                return .logUniform(lower: lower, upper: upper)
            }
            return .uniform(lower: lower, upper: upper)
        }
        let isList = valueIsList(option)
        let texts = spec.isEmpty && !isList ? [] : spec.split(separator: isList ? "|" : ",", omittingEmptySubsequences: false).map(String.init)
        guard !texts.isEmpty else { throw InputError("\(shown): no values: the grid would be empty") }
        for value in texts { _ = try options(option, value, parse: parse, shown: shown) }
        return .list(texts)
    }

    /// The option given `value`, read as `mlp train` reads it and checked against its range. A
    /// flag takes `true` or `false`.
    func options(for value: String, parse: TrainArgumentParser) throws -> TrainingOptions {
        try Self.options(option, value, parse: parse, shown: "--param \(name)=\(value)")
    }

    private static func options(_ option: AnyTrainOption, _ value: String, parse: TrainArgumentParser, shown: String) throws
        -> TrainingOptions {
        let arguments: [String]
        if option.isFlag {
            guard value == "true" || value == "false" else {
                throw InputError("\(shown): \(option.name) is a flag: its values are true and false (got \(value))")
            }
            arguments = value == "true" ? [option.name] : []
        } else {
            arguments = ["\(option.name)=\(value)"]
        }
        do {
            let options = try parse(arguments)
            try option.checkGiven(options)
            return options
        } catch let error as InputError {
            throw InputError("\(shown): \(error.message)")
        }
    }
}

/// Reads a fragment of `mlp train`'s command line into the options as given, without the checks
/// between options: the command line's parser, given to the library.
public typealias TrainArgumentParser = ([String]) throws -> TrainingOptions

/// One value of one parameter in a trial: the name and the value as given (or as drawn).
public struct ParameterValue: Sendable, Equatable {
    public let name: String
    public let value: String
}

/// One trial of a sweep: its parameters' values and the options they make over the base.
public struct Trial: Sendable {
    /// Counted from 0 in the grid's (or the draws') order.
    public let index: Int
    public let parameters: [ParameterValue]
    public let options: TrainingOptions
}

/// The trials of `--param`s: the grid, their product (the last parameter varying fastest), or
/// with `--random N`, N draws, each parameter in turn, from a generator seeded by `--sweep-seed`.
public struct SweepSpace: Sendable {
    public let parameters: [SweepParameter]
    /// `--random N`; nil: the grid.
    public let draws: Int?
    public let seed: UInt64

    /// The most trials a sweep may have: far more than anyone trains, few enough to list and
    /// check at once.
    public static let largestTrialCount = 10_000

    public init(parameters: [SweepParameter], draws: Int?, seed: UInt64) throws {
        var seen = Set<String>()
        for parameter in parameters where !seen.insert(parameter.option.name).inserted {
            throw InputError("--param \(parameter.name) is given twice: give all its values in one --param")
        }
        if let draws {
            guard parameters.contains(where: \.values.isRange) else {
                throw InputError("--random \(draws) draws from ranges: give at least one --param NAME=log:LOW..HIGH, lin:LOW..HIGH "
                    + "or int:LOW..HIGH (without --random, lists make a grid)")
            }
        } else if let range = parameters.first(where: \.values.isRange) {
            throw InputError("--param \(range.name)=\(range.given) is a range: it needs --random N (the number of draws)")
        }
        var count = draws ?? 1
        if draws == nil {
            for parameter in parameters {
                guard case .list(let values) = parameter.values else { continue }
                let (product, overflow) = count.multipliedReportingOverflow(by: values.count)
                guard !overflow, product <= Self.largestTrialCount else {
                    throw InputError("the grid has more than \(Self.largestTrialCount) trials: use --random N or fewer values")
                }
                count = product
            }
        }
        (self.parameters, self.draws, self.seed) = (parameters, draws, seed)
    }

    /// The parameters' values of every trial, in order.
    public var values: [[ParameterValue]] {
        guard let draws else {
            // The product, the last parameter varying fastest (itertools.product's order).
            var trials: [[ParameterValue]] = [[]]
            for parameter in parameters {
                guard case .list(let values) = parameter.values else { continue }
                trials = trials.flatMap { trial in values.map { trial + [ParameterValue(name: parameter.name, value: $0)] } }
            }
            return trials
        }
        var generator = SplitMix64(seed: seed ^ 0x5357_4545_5000_0000)   // "SWEEP"
        return (0 ..< draws).map { _ in
            parameters.map { parameter in ParameterValue(name: parameter.name, value: Self.draw(parameter.values, &generator)) }
        }
    }

    /// One value drawn from `values`, as text.
    static func draw(_ values: SweepParameter.Values, _ generator: inout SplitMix64) -> String {
        switch values {
        case .list(let texts): return texts[Int(generator.next() % UInt64(texts.count))]
        case let .logUniform(lower, upper):
            let value = Foundation.exp(Foundation.log(lower) + generator.nextUniform() * (Foundation.log(upper) - Foundation.log(lower)))
            return "\(min(max(value, lower), upper))"
        case let .uniform(lower, upper): return "\(min(lower + generator.nextUniform() * (upper - lower), upper))"
        case let .integers(lower, upper):
            let span = UInt64(upper - lower) &+ 1
            return "\(lower + Int(span == 0 ? generator.next() >> 1 : generator.next() % span))"
        }
    }

    /// Every trial: the base with its parameters' values put in. A value of a list is read once;
    /// a number drawn from a range is read as the command line reads a number.
    public func trials(base: TrainingOptions, parse: TrainArgumentParser) throws -> [Trial] {
        var read: [String: TrainingOptions] = [:]
        return try values.enumerated().map { index, values in
            var options = base
            for (parameter, value) in zip(parameters, values) {
                if parameter.values.isRange, let setNumber = parameter.option.setNumber, setNumber(value.value, &options) { continue }
                let key = parameter.option.name + "=" + value.value
                let given = try read[key] ?? parameter.options(for: value.value, parse: parse)
                read[key] = given
                parameter.option.copyGiven(given, &options)
            }
            return Trial(index: index, parameters: values, options: options)
        }
    }
}
