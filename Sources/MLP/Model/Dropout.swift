/// Inverted dropout on the hidden layers while training: unit j of hidden layer l is kept with
/// probability 1 − p_l and then scaled by 1/(1 − p_l), so evaluation, prediction and export use
/// the network as it is (PyTorch's `nn.Dropout`).
///
/// The mask of a unit depends on (seed, step, the row's index in the dataset, layer, unit) alone,
/// through a counter-based hash, never on the rank or on the rows around it: P ranks drop exactly
/// the units one process drops, a resumed run the ones an uninterrupted run drops, and backward
/// reads the same mask forward used. Buffers are allocated once; a step allocates nothing.
public final class Dropout<T: Scalar> {
    /// p_l for the hidden layers l = 1…L−1, at index l − 1.
    public let rates: [Double]
    let seed: UInt64
    /// The global step whose masks apply (set by the trainer before each step).
    var step = 0
    /// Per hidden layer with p_l > 0: S, the scale of each unit of each row (0 or 1/(1 − p_l)),
    /// and D = Q ⊙ S, what the next layer multiplies; nil where p_l = 0.
    let scales: [UnsafeMutablePointer<T>?], outputs: [UnsafeMutablePointer<T>?]

    init(rates: [Double], seed: UInt64, layout: ParameterLayout, capacity: Int) {
        precondition(rates.count == layout.layerCount - 1 && rates.allSatisfy { (0 ..< 1).contains($0) })
        self.rates = rates
        self.seed = seed
        let units = Array(layout.layerSizes.dropFirst().dropLast())
        scales = zip(rates, units).map { $0 > 0 ? .allocate(capacity: capacity * $1) : nil }
        outputs = zip(rates, units).map { $0 > 0 ? .allocate(capacity: capacity * $1) : nil }
    }

    deinit {
        scales.forEach { $0?.deallocate() }
        outputs.forEach { $0?.deallocate() }
    }

    /// Draws the masks of hidden layer l for rows `rows` (dataset rows `rowIndices`) and writes
    /// D = Q ⊙ S; no-op where p_l = 0.
    func apply(layer l: Int, Q: UnsafePointer<T>, rows: Range<Int>, units: Int, rowIndices: UnsafePointer<Int>) {
        guard let S = scales[l - 1], let D = outputs[l - 1] else { return }
        let p = rates[l - 1], kept = T(1 / (1 - p))
        // Keep a unit when its 53-bit uniform u ≥ p: compare integers, u·2⁵³ ≥ ⌈p·2⁵³⌉.
        let threshold = UInt64((p * 0x1p53).rounded(.up))
        for i in rows {
            let base = Self.key(seed: seed, step: step, row: rowIndices[i], layer: l)
            let q = Q + i * units, s = S + i * units, d = D + i * units
            for j in 0 ..< units {
                s[j] = Self.mix(base ^ UInt64(j)) >> 11 >= threshold ? kept : 0
                d[j] = q[j] * s[j]
            }
        }
    }

    /// dQ ⊙= S for hidden layer l over rows `rows`: the gradient reaches only the kept units.
    func backward(layer l: Int, _ dQ: UnsafeMutablePointer<T>, rows: Range<Int>, units: Int) {
        guard let S = scales[l - 1] else { return }
        for i in rows.lowerBound * units ..< rows.upperBound * units { dQ[i] *= S[i] }
    }

    /// What layer l + 1 multiplies instead of Q⁽ˡ⁾, or nil where p_l = 0.
    func output(_ l: Int) -> UnsafeMutablePointer<T>? { outputs[l - 1] }

    static func key(seed: UInt64, step: Int, row: Int, layer: Int) -> UInt64 {
        var key = mix(seed ^ 0x6472_6F70_6F75_7400)   // "dropout"
        key = mix(key ^ UInt64(step))
        key = mix(key ^ UInt64(row))
        return mix(key ^ UInt64(layer) << 32)
    }

    /// SplitMix64's finalizer: every input bit changes about half the output bits.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
