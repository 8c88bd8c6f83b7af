import XCTest
@testable import MLP

/// `--reproducible`'s combination on adversarial terms: magnitudes 2⁸⁰ apart in one sum, exact
/// cancellation, many tiny terms. The result must be within the stated per-element bound
/// |ŝ − s| ≤ n·u/2 + ulp(ŝ)/2 of the exact sum s (computed in Int128), and its bits must not
/// depend on how the terms are ordered or grouped (the ranks' shares).
final class FixedPointSumTests: XCTestCase {
    /// Float terms from 2⁻⁴⁰ to 2⁴⁰, both signs, with pairs that cancel exactly.
    func adversarialFloats(_ generator: inout SplitMix64, count: Int) -> [Float] {
        var terms: [Float] = [0x1p40, -0x1p40 + 0x1p17, 0x1.fffffep39, -0x1.fffffep39]
        while terms.count < count {
            let exponent = Int(generator.next() % 81) - 40
            let significand = Float(1 + generator.nextUniform())
            let sign: Float = generator.next() % 2 == 0 ? 1 : -1
            terms.append(sign * Float(sign: .plus, exponent: exponent, significand: significand))
        }
        return terms
    }

    /// The one-word grid of float32 gradients, as `ExactGradient` uses it (bound from the terms).
    func oneWordSum(_ groups: [[Float]], bound e: Int, terms n: Int) -> (value: Float, unit: Double) {
        let g = FixedPointSum.growthBits(terms: n), width = FixedPointSum.width(words: 1)
        let scale = FixedPointSum.power(width - 1 - g - e), unit = FixedPointSum.power(e + 1 + g - width)
        // Each group is one rank's share; the ranks' sums meet in an integer allreduce.
        let total = groups.map { group in group.reduce(Int64(0)) { $0 &+ FixedPointSum.gridValue(Double($1) * scale) } }.reduce(0, &+)
        return (Float(FixedPointSum.exactDouble(total) * unit), unit)
    }

    func testOneWordSumIsWithinItsBoundAndIndependentOfGrouping() throws {
        var generator = SplitMix64(seed: 7)
        for trial in 0 ..< 200 {
            var terms = adversarialFloats(&generator, count: 4 + trial % 60)
            let e = Int(terms.map { FixedPointSum.exponent(bounding: Double($0)) }.max()!)
            let (value, unit) = oneWordSum([terms], bound: e, terms: terms.count)
            // Exact: every term is a multiple of 2⁻⁶³ below 2¹⁰⁴.
            let exact = terms.reduce(Int128(0)) { $0 + Int128(Double($1) * 0x1p63) }
            let error = abs(Int128(Double(value) * 0x1p63) - exact)
            let bound = Int128(Double(terms.count) * unit / 2 * 0x1p63) + Int128(Double(value.ulp) / 2 * 0x1p63)
            XCTAssertLessThanOrEqual(error, bound, "trial \(trial): \(terms)")
            // Shuffled and cut into 1–5 groups: the same bits.
            for _ in 0 ..< 5 {
                terms.shuffle(using: &generator)
                let cuts = (0 ..< Int(generator.next() % 5)).map { _ in Int(generator.next() % UInt64(terms.count + 1)) }.sorted()
                let groups = zip([0] + cuts, cuts + [terms.count]).map { Array(terms[$0 ..< $1]) }
                XCTAssertEqual(oneWordSum(groups, bound: e, terms: terms.count).value.bitPattern, value.bitPattern, "trial \(trial)")
            }
        }
    }

    func testTwoWordSumIsWithinItsBoundAndIndependentOfGrouping() throws {
        var generator = SplitMix64(seed: 8)
        let width = FixedPointSum.width(words: 2)
        for trial in 0 ..< 200 {
            var terms: [Double] = [0x1p30, -0x1p30, 0x1.fffffffffffffp29]
            while terms.count < 4 + trial % 60 {
                let exponent = Int(generator.next() % 61) - 30
                terms.append((generator.next() % 2 == 0 ? 1 : -1) * Double(sign: .plus, exponent: exponent, significand: 1 + generator.nextUniform()))
            }
            let e = Int(terms.map(FixedPointSum.exponent(bounding:)).max()!), g = FixedPointSum.growthBits(terms: terms.count)
            let scale = FixedPointSum.power(width - 1 - g - e), unit = FixedPointSum.power(e + 1 + g - width)
            func sum(_ groups: [[Double]]) -> Double {
                var total = [Int64](repeating: 0, count: 2)
                for group in groups {
                    var words = [Int64](repeating: 0, count: 2)
                    words.withUnsafeMutableBufferPointer { w in for x in group { FixedPointSum.add(x * scale, words: 2, to: w.baseAddress!) } }
                    total[0] &+= words[0]; total[1] &+= words[1]
                }
                return total.withUnsafeBufferPointer { FixedPointSum.value(words: 2, $0.baseAddress!, unit: unit) }
            }
            let value = sum([terms])
            // Exact: every term is a multiple of 2⁻⁸² below 2¹¹².
            let exact = terms.reduce(Int128(0)) { $0 + Int128($1 * 0x1p82) }
            let error = abs(Int128(value * 0x1p82) - exact)
            let bound = Int128(Double(terms.count) * unit / 2 * 0x1p82) + Int128(value.ulp / 2 * 0x1p82)
            XCTAssertLessThanOrEqual(error, bound, "trial \(trial)")
            for _ in 0 ..< 5 {
                terms.shuffle(using: &generator)
                let half = Int(generator.next() % UInt64(terms.count + 1))
                XCTAssertEqual(sum([Array(terms[..<half]), Array(terms[half...])]).bitPattern, value.bitPattern, "trial \(trial)")
            }
        }
    }

    /// One bound per element: a coordinate 2⁶⁰ below its neighbour keeps its own precision
    /// (a single scale per tensor would round it to zero).
    func testEachElementKeepsItsOwnPrecision() {
        let tiny: [Float] = [0x1.8p-60, 0x1.4p-61, -0x1p-62], huge: [Float] = [0x1p3, -0x1.2p2]
        let small = oneWordSum([tiny], bound: -59, terms: 3).value, large = oneWordSum([huge], bound: 3, terms: 2).value
        XCTAssertEqual(small, 0x1.8p-60 + 0x1.4p-61 - 0x1p-62)
        XCTAssertEqual(large, 0x1p3 - 0x1.2p2)
    }

    func testExponentsBoundTheirValues() {
        XCTAssertEqual(FixedPointSum.exponent(bounding: 1), 0)
        XCTAssertEqual(FixedPointSum.exponent(bounding: 1.5), 1)
        XCTAssertEqual(FixedPointSum.exponent(bounding: -0.25), -2)
        XCTAssertEqual(FixedPointSum.exponent(bounding: 0), Double(FixedPointSum.smallestExponent))
        XCTAssertEqual(FixedPointSum.exponent(bounding: .nan), FixedPointSum.notFinite)
        XCTAssertEqual(FixedPointSum.exponent(bounding: -.infinity), FixedPointSum.notFinite)
        XCTAssertEqual(FixedPointSum.growthBits(terms: 1), 0)
        XCTAssertEqual(FixedPointSum.growthBits(terms: 8), 3)
        XCTAssertEqual(FixedPointSum.growthBits(terms: 9), 4)
    }
}
