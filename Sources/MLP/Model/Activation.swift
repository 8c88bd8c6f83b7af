/// The hidden activation h, applied element-wise: q = h(z). The last layer is linear.
public enum Activation: String, CaseIterable, Sendable {
    case relu, tanh, sigmoid

    /// q = h(z + b) over one row of `count` units, in place: the bias add and h in one pass.
    @inline(__always)
    func forward<T: Scalar>(_ z: UnsafeMutablePointer<T>, bias b: UnsafePointer<T>, count: Int) {
        switch self {
        case .relu: T.addBiasAndRectify(z, b, count: count)
        case .tanh: for j in 0 ..< count { z[j] = T.tanh(z[j] + b[j]) }
        case .sigmoid: for j in 0 ..< count { z[j] = 1 / (1 + T.exp(-(z[j] + b[j]))) }
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
