/// The numbers an option accepts, and how a message says so: every range check of `mlp train`'s
/// options (given on the command line or read from a checkpoint) goes through `check`, so a bad
/// value reads the same everywhere: "--learning-rate must be a positive number (got -1.0)".
public struct ValueRange: Sendable, CustomStringConvertible {
    public let lowerBound: Double
    public let upperBound: Double
    public let includesLowerBound: Bool
    public let includesUpperBound: Bool
    /// Whether only whole numbers are meant (the bounds of a count are shown as integers).
    public let isCount: Bool
    /// What a value below the range (or NaN) must be, and one above it.
    let below: String
    let above: String

    init(_ lower: Double, _ upper: Double, includesLower: Bool, includesUpper: Bool, isCount: Bool = false,
         below: String, above: String? = nil) {
        (lowerBound, upperBound, includesLowerBound, includesUpperBound) = (lower, upper, includesLower, includesUpper)
        self.isCount = isCount
        self.below = below
        self.above = above ?? below
    }

    /// A count from `lower` to `upper`.
    static func counts(_ range: ClosedRange<Int>) -> ValueRange {
        ValueRange(Double(range.lowerBound), Double(range.upperBound), includesLower: true, includesUpper: true, isCount: true,
                   below: range.lowerBound == 0 ? "0 or more" : "at least \(range.lowerBound)", above: "at most \(range.upperBound)")
    }

    /// 1 … 2³¹ − 1: batch sizes, epochs, steps, patience.
    public static let positiveCount = counts(1 ... TrainingOptions.largestCount)
    /// 0 … 2³¹ − 1.
    public static let count = counts(0 ... TrainingOptions.largestCount)
    /// (0, ∞): rates, norms, factors.
    public static let positive = ValueRange(0, .infinity, includesLower: false, includesUpper: false, below: "a positive number")
    /// [0, ∞).
    public static let nonNegative = ValueRange(0, .infinity, includesLower: true, includesUpper: false, below: "0 or more")
    /// (0, 1): a fraction of the rows, a factor that must shrink.
    public static let openFraction = ValueRange(0, 1, includesLower: false, includesUpper: false, below: "strictly between 0 and 1")
    /// (1, ∞): a factor that must grow (`mlp sweep --halving`).
    public static let moreThanOne = ValueRange(1, .infinity, includesLower: false, includesUpper: false, below: "more than 1")
    /// [0, 1): probabilities of dropping, Adam's β, a relative threshold.
    public static let fraction = ValueRange(0, 1, includesLower: true, includesUpper: false, below: "from 0 up to (not including) 1")

    public func contains(_ value: Double) -> Bool {
        (includesLowerBound ? value >= lowerBound : value > lowerBound) && (includesUpperBound ? value <= upperBound : value < upperBound)
    }

    /// What `value`, outside the range, must be instead.
    func requirement(for value: Double) -> String {
        (includesLowerBound ? value >= lowerBound : value > lowerBound) ? above : below
    }

    /// The first value outside the range, and what it must be instead.
    func firstViolation(_ values: [(number: Double, text: String)]) -> (value: String, requirement: String)? {
        values.first { !contains($0.number) }.map { ($0.text, requirement(for: $0.number)) }
    }

    /// Throws "NAME must be … (got VALUE)" for the first value outside the range.
    func check(_ values: [(number: Double, text: String)], name: String) throws {
        if let (value, requirement) = firstViolation(values) { throw InputError("\(name) must be \(requirement) (got \(value))") }
    }

    public var description: String {
        func bound(_ value: Double) -> String { isCount && value.isFinite ? "\(Int(value))" : "\(value)" }
        return (includesLowerBound ? "[" : "(") + bound(lowerBound) + ", " + bound(upperBound) + (includesUpperBound ? "]" : ")")
    }
}

/// A value an option can take; numbers and lists of numbers give what `ValueRange` checks.
public protocol OptionValue: Equatable, Sendable {
    /// The numbers a range applies to, each with its text for a message; none for other values.
    var rangeValues: [(number: Double, text: String)] { get }
}

extension OptionValue {
    public var rangeValues: [(number: Double, text: String)] { [] }
}

extension Int: OptionValue {
    public var rangeValues: [(number: Double, text: String)] { [(Double(self), "\(self)")] }
}

extension UInt64: OptionValue {
    public var rangeValues: [(number: Double, text: String)] { [(Double(self), "\(self)")] }
}

extension Double: OptionValue {
    public var rangeValues: [(number: Double, text: String)] { [(self, "\(self)")] }
}

extension Array: OptionValue where Element: OptionValue {
    public var rangeValues: [(number: Double, text: String)] { flatMap(\.rangeValues) }
}

extension Bool: OptionValue {}
extension String: OptionValue {}
extension DataSource: OptionValue {}
extension Loss: OptionValue {}
extension Activation: OptionValue {}
extension Precision: OptionValue {}
extension OptimizerSettings.Kind: OptionValue {}
extension ScheduleSettings.Kind: OptionValue {}
extension TrainingOptions.NonFinitePolicy: OptionValue {}
extension TrainingOptions.ClassWeight: OptionValue {}
extension AllreduceMode: OptionValue {}
extension ShardedUpdateMode: OptionValue {}
