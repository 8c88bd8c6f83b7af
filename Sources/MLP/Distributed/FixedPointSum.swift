/// Sums whose bits depend only on the set of terms, never on how they are grouped or ordered:
/// each term is rounded once onto a fixed-point grid chosen before any term is added, and the
/// grid values are added as integers, which any MPI reduction adds exactly.
///
/// Each element has its own grid, from a bound |xᵢ| ≤ 2^e on its terms that every rank agrees
/// on (a MAX allreduce of exponents): the unit in the last place is u = 2^(e + 1 + g − W), where
/// 2^g is at least the number of terms and W the grid's width, so no sum of terms can overflow.
/// The result ŝ of terms x₁…xₙ satisfies, per element,
///
///     |ŝ − Σ xᵢ| ≤ n·u/2 + ulp(ŝ)/2
///
/// (each term rounded to nearest on the grid, then the exact integer sum rounded once to the
/// scalar). W = 51 for one Int64 word per element (float32 gradients: u = 2^(g−50)·2^e, 26 − g
/// bits finer than float32's own unit at the bound; every grid value and sum stays below 2^51,
/// where one addition of 1.5·2⁵² converts between Double and Int64, so the hot loops vectorize)
/// and W = 93 for two words (float64: 40 − g bits finer than float64's unit; the high word
/// holds multiples of 2³², the low word the rest in [−2³¹, 2³¹], so neither carries).
public enum FixedPointSum {
    /// The grid width in bits for one word (`words == 1`) or two.
    @inline(__always) public static func width(words: Int) -> Int { words == 1 ? 51 : 93 }

    /// 1.5·2⁵²: a Double in [2^52, 2^53) has unit spacing, so for |x| < 2^51 the bits of
    /// x + magic, less magic's bits, are x rounded to the nearest integer (ties to even).
    @usableFromInline static let magic = 0x1.8p52
    @usableFromInline static let magicBits = Int64(bitPattern: magic.bitPattern)

    /// A term already scaled onto a one-word grid (|x| < 2^51), rounded to its grid value.
    @inline(__always)
    public static func gridValue(_ scaled: Double) -> Int64 {
        Int64(bitPattern: (scaled + magic).bitPattern) &- magicBits
    }

    /// A one-word sum (|s| < 2^51) as the Double it equals exactly.
    @inline(__always)
    public static func exactDouble(_ sum: Int64) -> Double {
        Double(bitPattern: UInt64(bitPattern: sum &+ magicBits)) - magic
    }

    /// Exponents are clamped here: bounds below 2^−400 are taken as 2^−400 (finer values are
    /// rounded to that grid), and a bound above 2^480 is reported as not finite (a float64
    /// gradient that large has diverged); every grid's scale stays a normal Double either way.
    public static let smallestExponent = -400, largestExponent = 480
    /// The exponent that marks a bound that is not finite (or above 2^480).
    public static let notFinite = Double(largestExponent + 1)

    /// The smallest e with |x| ≤ 2^e, clamped; `notFinite` for NaN, ±∞ or |x| > 2^480.
    @inline(__always)
    public static func exponent(bounding x: Double) -> Double {
        let magnitude = abs(x)
        guard magnitude <= 0x1p480 else { return notFinite }
        guard magnitude > 0x1p-400 else { return Double(smallestExponent) }
        // x = m·2^k with 1 ≤ m < 2: e = k, or k + 1 unless m is exactly 1.
        let k = Int(magnitude.exponent)
        return Double(magnitude.significand == 1 ? k : k + 1)
    }

    /// ⌈log₂ n⌉ for n ≥ 1: the bits n terms can add.
    @inline(__always)
    public static func growthBits(terms n: Int) -> Int {
        n <= 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount
    }

    /// 2^k as a Double (k within the normal range).
    @inline(__always)
    public static func power(_ k: Int) -> Double { Double(sign: .plus, exponent: k, significand: 1) }

    /// x rounded to the nearest integer, ties to even. Without SSE4.1's `roundsd` Swift's
    /// `rounded()` is a libm call: adding and subtracting 1.5·2⁵² rounds in two instructions
    /// for |x| < 2^51, and from 2^52 on a Double is an integer already.
    @inline(__always)
    public static func roundedToInteger(_ x: Double) -> Double {
        let magnitude = abs(x)
        if magnitude < 0x1p51 { return (x + 0x1.8p52) - 0x1.8p52 }
        return magnitude < 0x1p52 ? x.rounded(.toNearestOrEven) : x
    }

    /// One term already scaled onto the grid (|x| < 2^(W−1)), added into `words` words at `sum`.
    @inline(__always)
    public static func add(_ scaled: Double, words: Int, to sum: UnsafeMutablePointer<Int64>) {
        if words == 1 {
            sum[0] &+= gridValue(scaled)
        } else {
            let rounded = roundedToInteger(scaled)
            // rounded = h·2³² + l with h = round(rounded·2⁻³²): both exact in Double, |h| < 2^61
            // and |l| ≤ 2³¹, so the low words of up to 2³¹ terms never carry.
            let high = roundedToInteger(rounded * 0x1p-32)
            sum[0] &+= Int64(high)
            sum[1] &+= Int64(rounded - high * 0x1p32)
        }
    }

    /// The sum held in `words` words, correctly rounded to Double, times `unit` (a power of 2).
    @inline(__always)
    public static func value(words: Int, _ sum: UnsafePointer<Int64>, unit: Double) -> Double {
        if words == 1 { return exactDouble(sum[0]) * unit }
        let exact = Int128(sum[0]) << 32 + Int128(sum[1])
        return Double(exact) * unit
    }
}

/// An exact, order-independent sum over all ranks of a short vector of non-negative or signed
/// Double terms per chunk (losses, error sums), for evaluation and the step's loss: each rank
/// keeps its chunks' vectors, one MAX allreduce agrees on each element's bound, one Int64 SUM
/// allreduce adds the grid values.
public struct ChunkTotals {
    public let width: Int
    /// The vectors of this rank's chunks, one after another.
    public private(set) var terms: [Double] = []
    /// Integer counts summed exactly alongside (correct predictions, confusion cells…).
    public var counts: [Int64]

    public init(width: Int, counts: Int = 0) {
        self.width = width
        self.counts = [Int64](repeating: 0, count: counts)
    }

    public mutating func append(_ vector: some Sequence<Double>) {
        let before = terms.count
        terms.append(contentsOf: vector)
        precondition(terms.count == before + width)
    }

    /// The totals over all ranks' chunks (nil where some term was not finite), and the counts.
    /// `totalChunks` is the number of chunks over all ranks, the same on every rank.
    public func combined(totalChunks: Int, communicator: Communicator) -> (sums: [Double?], counts: [Int64]) {
        var exponents = [Double](repeating: Double(FixedPointSum.smallestExponent), count: width)
        var chunk = 0
        while chunk * width < terms.count {
            for k in 0 ..< width {
                exponents[k] = max(exponents[k], FixedPointSum.exponent(bounding: terms[chunk * width + k]))
            }
            chunk += 1
        }
        exponents.withUnsafeMutableBufferPointer { communicator.allreduceMax($0) }
        let g = FixedPointSum.growthBits(terms: totalChunks), top = FixedPointSum.width(words: 2)
        // Element k's grid unit is 2^(e + 1 + g − W); its scale is the inverse.
        let scales = exponents.map { FixedPointSum.power(top - 1 - g - Int(min($0, FixedPointSum.notFinite - 1))) }
        var words = [Int64](repeating: 0, count: 2 * width + counts.count)
        words.withUnsafeMutableBufferPointer { sum in
            for i in 0 ..< terms.count {
                let k = i % width
                guard exponents[k] < FixedPointSum.notFinite else { continue }
                FixedPointSum.add(terms[i] * scales[k], words: 2, to: sum.baseAddress! + 2 * k)
            }
            for c in counts.indices { sum[2 * width + c] = counts[c] }
            communicator.allreduceSum(sum)
        }
        let sums: [Double?] = (0 ..< width).map { k in
            guard exponents[k] < FixedPointSum.notFinite else { return nil }
            return words.withUnsafeBufferPointer { FixedPointSum.value(words: 2, $0.baseAddress! + 2 * k, unit: 1 / scales[k]) }
        }
        return (sums, Array(words[(2 * width)...]))
    }
}
