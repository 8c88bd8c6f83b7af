/// The hidden activation h, applied element-wise: q = h(z). The last layer is linear.
public enum Activation: String, CaseIterable, Sendable {
    case relu, tanh, sigmoid

    /// Q = h(Z), in place over `rows` rows of `units` values.
    @inline(__always)
    func forward<T: Scalar>(_ Z: UnsafeMutablePointer<T>, rows: Int, units: Int) {
        switch self {
        // Row by row: the SIMD kernel's tail rule must fall on the same elements in every build.
        case .relu: for row in 0 ..< rows { T.rectify(Z + row * units, count: units) }
        case .tanh: for i in 0 ..< rows * units { Z[i] = T.tanh(Z[i]) }
        case .sigmoid: for i in 0 ..< rows * units { Z[i] = 1 / (1 + T.exp(-Z[i])) }
        }
    }

    /// dZ = dQ ⊙ h′(Z), in place over dQ. h′ is written in terms of Q = h(Z), which forward kept.
    @inline(__always)
    func backward<T: Scalar>(_ dQ: UnsafeMutablePointer<T>, Q: UnsafePointer<T>, count: Int) {
        switch self {
        case .relu: T.zeroWhereNotPositive(dQ, Q, count: count)
        case .tanh: for i in 0 ..< count { dQ[i] *= 1 - Q[i] * Q[i] }
        case .sigmoid: for i in 0 ..< count { dQ[i] *= Q[i] * (1 - Q[i]) }
        }
    }

    /// The initialization that keeps activations' variance steady through layers of this kind:
    /// He for relu, Glorot for tanh and sigmoid.
    var initialization: Initialization { self == .relu ? .he : .glorot }
}

public enum Initialization: Sendable {
    /// W ~ N(0, 2 / fan_in).
    case he
    /// W ~ U(−a, a), a = √(6 / (fan_in + fan_out)).
    case glorot
}
