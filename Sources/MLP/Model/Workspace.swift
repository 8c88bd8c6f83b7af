/// The buffers forward and backward propagation need for shards of up to `capacity` rows,
/// allocated once so that a training step allocates nothing.
public final class Workspace<T: Scalar> {
    public let layout: ParameterLayout
    public let capacity: Int
    /// Q⁽⁰⁾ = X, capacity × U_0: the shard's rows are gathered here.
    public let input: UnsafeMutablePointer<T>
    /// Class indices (classification) of the shard's rows.
    public let labels: UnsafeMutablePointer<Int32>
    /// Regression targets of the shard's rows, capacity × U_L.
    public let targetValues: UnsafeMutablePointer<T>
    /// Layer l's values, capacity × U_l, at index l − 1: Z⁽ˡ⁾ as the linear step writes it, then
    /// Q⁽ˡ⁾ = h(Z⁽ˡ⁾) in place for l < L (backward needs only Q); Z⁽ᴸ⁾ for l = L.
    private let layerValues: [UnsafeMutablePointer<T>]
    /// dZ and dQ for the layer backward is at, capacity × max U_l each: the loss writes dZ⁽ᴸ⁾
    /// into `dZ`; backward writes dQ⁽ˡ⁻¹⁾ into `dQ`, turns it into dZ⁽ˡ⁻¹⁾ in place and swaps
    /// the two roles for the next layer down.
    let dZ: UnsafeMutablePointer<T>, dQ: UnsafeMutablePointer<T>
    /// Values in each of `dZ` and `dQ`.
    let gradientCount: Int
    /// Where backward keeps dZ⁽ˡ⁾, l = 1…L at index l − 1: `dZ` and `dQ` in turn from the top
    /// (dZ⁽ᴸ⁾ in `dZ`), so each layer's error overwrites the one two layers above it.
    let errors: [UnsafeMutablePointer<T>]
    /// `capacity` ones: db = dZᵀ·1 is one BLAS call.
    let ones: UnsafeMutablePointer<T>
    /// The weight of each gathered row, when the data has weights (`hasWeights`).
    let weights: UnsafeMutablePointer<T>
    private(set) var hasWeights = false
    /// The dataset index of each gathered row (dropout's masks depend on it).
    let rowIndices: UnsafeMutablePointer<Int>
    /// Dropout on the hidden layers while training; nil: none (evaluation, prediction).
    public internal(set) var dropout: Dropout<T>?

    public init(layout: ParameterLayout, capacity: Int) {
        self.layout = layout
        self.capacity = max(capacity, 1)
        let rows = self.capacity
        input = .allocate(capacity: rows * layout.inputCount)
        labels = .allocate(capacity: rows)
        targetValues = .allocate(capacity: rows * layout.outputCount)
        layerValues = layout.layerSizes.dropFirst().map { .allocate(capacity: rows * $0) }
        gradientCount = rows * (layout.layerSizes.dropFirst().max() ?? 1)
        dZ = .allocate(capacity: gradientCount)
        dQ = .allocate(capacity: gradientCount)
        errors = (1 ... layout.layerCount).map { [dZ, dQ] in (layout.layerCount - $0) % 2 == 0 ? dZ : dQ }
        ones = .allocate(capacity: rows)
        ones.initialize(repeating: 1, count: rows)
        weights = .allocate(capacity: rows)
        weights.initialize(repeating: 1, count: rows)
        rowIndices = .allocate(capacity: rows)
        rowIndices.initialize(repeating: 0, count: rows)
    }

    deinit {
        input.deallocate(); labels.deallocate(); targetValues.deallocate()
        layerValues.forEach { $0.deallocate() }
        dZ.deallocate(); dQ.deallocate(); ones.deallocate(); rowIndices.deallocate(); weights.deallocate()
    }

    /// Q⁽ˡ⁾, the input of layer l + 1, for l = 0…L−1 (Q⁽⁰⁾ = X).
    @inline(__always) func Q(_ l: Int) -> UnsafeMutablePointer<T> { l == 0 ? input : layerValues[l - 1] }

    /// What layer l = 1…L multiplies: Q⁽ˡ⁻¹⁾, or with dropout on layer l − 1 its kept units.
    @inline(__always) func input(of l: Int) -> UnsafeMutablePointer<T> {
        l == 1 ? input : dropout?.output(l - 1) ?? layerValues[l - 2]
    }

    /// Where the linear step of layer l = 1…L writes Z⁽ˡ⁾ (for l < L the same buffer as Q⁽ˡ⁾).
    @inline(__always) func Z(_ l: Int) -> UnsafeMutablePointer<T> { layerValues[l - 1] }

    /// The outputs Z⁽ᴸ⁾ of the last forward pass, rows × U_L.
    public var outputs: UnsafeMutablePointer<T> { layerValues[layerValues.count - 1] }

    /// Copies rows `row(0)`, …, `row(count − 1)` of `data` into the first `count` rows: the
    /// features, and the targets when `withTargets`.
    func gather(_ count: Int, of data: Dataset<T>, withTargets: Bool = true, row: (Int) -> Int) {
        precondition(count <= capacity)
        data.copyFeatures(count: count, into: input, row: row)
        for i in 0 ..< count { rowIndices[i] = row(i) }
        guard withTargets else { return }
        hasWeights = data.weights != nil
        data.weights?.withUnsafeBufferPointer { weights in
            for i in 0 ..< count { self.weights[i] = weights[row(i)] }
        }
        if data.isClassification {
            data.labels.withUnsafeBufferPointer { labels in
                for i in 0 ..< count { self.labels[i] = labels[row(i)] }
            }
        } else {
            let outputs = layout.outputCount
            data.targetValues.withUnsafeBufferPointer { targets in
                for i in 0 ..< count {
                    (targetValues + i * outputs).update(from: targets.baseAddress! + row(i) * outputs, count: outputs)
                }
            }
        }
    }
}
