import Foundation

/// `mlp sweep --halving FACTOR`: successive halving with epochs as the resource, by
/// scikit-learn's `HalvingGridSearchCV` rule (`min_resources='exhaust'`, a resource other than
/// the samples): with C candidates and E epochs, `required` = 1 + ⌊log_F C⌋ rounds would leave one
/// candidate; the first round's budget is ⌊E / F^(required − 1)⌋ epochs (at least 1); there are
/// min(required, 1 + ⌊log_F(E // first)⌋) rounds; round i trains ⌊F^i · first⌋ epochs (at most E)
/// and keeps the best ⌈n / F⌉ of its n candidates for the next.
public struct HalvingSchedule: Sendable, Equatable {
    public let factor: Double
    /// Each round's budget in epochs.
    public let epochs: [Int]

    /// The most rounds a sweep may have: a factor near 1 would make millions of them.
    public static let largestRoundCount = 100

    public init(factor: Double, candidates: Int, epochs maximum: Int) throws {
        precondition(factor > 1 && candidates >= 1 && maximum >= 1)
        self.factor = factor
        let required = 1 + Foundation.floor(Foundation.log(Double(candidates)) / Foundation.log(factor))
        guard required <= Double(Self.largestRoundCount) else {
            throw InputError("--halving \(factor) would take \(Int(required)) rounds to halve \(candidates) trials down to one: "
                + "give a factor that needs at most \(Self.largestRoundCount) (such as 2 or 3)")
        }
        let first = max(1, Int(Foundation.floor(Double(maximum) / Foundation.pow(factor, required - 1))))
        let possible = 1 + Int(Foundation.floor(Foundation.log(Foundation.floor(Double(maximum) / Double(first))) / Foundation.log(factor)))
        epochs = (0 ..< min(Int(required), possible)).map { round in
            Int(min(Foundation.pow(factor, Double(round)) * Double(first), Double(maximum)))
        }
    }

    public var rounds: Int { epochs.count }

    /// How many of `candidates` go on to the next round.
    public func kept(of candidates: Int) -> Int { Int(Foundation.ceil(Double(candidates) / factor)) }
}
