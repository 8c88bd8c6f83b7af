import MLP

/// The matrix products of one training step and nothing else, with the shapes and transposes of
/// `Network.forward` and `Network.backward`: Z⁽ˡ⁾ = Q⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ, dW⁽ˡ⁾ = dZ⁽ˡ⁾ᵀQ⁽ˡ⁻¹⁾ and
/// dQ⁽ˡ⁻¹⁾ = dZ⁽ˡ⁾W⁽ˡ⁾ on a shard of `rows` rows: what BLAS allows at these shapes, the bound of a
/// step. Its buffers have the step's sizes; one dZ buffer serves every layer (speed does not
/// depend on the values as long as none is subnormal, so dZ holds 0.01 everywhere). θ is read,
/// never written.
final class MatrixProducts {
    let network: Network<Float>
    let rows: Int
    /// Q⁽⁰⁾ = X, then Z⁽ˡ⁾ for l = 1…L, rows × U_l each.
    let layers: [UnsafeMutablePointer<Float>]
    let dZ: UnsafeMutablePointer<Float>, dQ: UnsafeMutablePointer<Float>
    let gradients: FlatBuffer<Float>

    init(network: Network<Float>, rows: Int) {
        self.network = network
        self.rows = rows
        let sizes = network.layout.layerSizes, largest = rows * (sizes.max() ?? 1)
        layers = sizes.map { .allocate(capacity: max(rows * $0, 1)) }
        for (layer, size) in zip(layers, sizes) { layer.initialize(repeating: 0.5, count: max(rows * size, 1)) }
        dZ = .allocate(capacity: largest)
        dZ.initialize(repeating: 0.01, count: largest)
        dQ = .allocate(capacity: largest)
        dQ.initialize(repeating: 0, count: largest)
        gradients = FlatBuffer(layout: network.layout)
    }

    deinit {
        layers.forEach { $0.deallocate() }
        dZ.deallocate(); dQ.deallocate()
    }

    /// One step's products.
    func run() {
        guard rows > 0 else { return }
        let sizes = network.layout.layerSizes, parameters = network.parameters
        for l in 1 ..< sizes.count {
            Float.gemm(transposeA: false, transposeB: true, m: rows, n: sizes[l], k: sizes[l - 1], alpha: 1,
                       a: layers[l - 1], lda: sizes[l - 1], b: parameters.weights(l), ldb: sizes[l - 1], beta: 0,
                       c: layers[l], ldc: sizes[l])
        }
        for l in stride(from: sizes.count - 1, through: 1, by: -1) {
            Float.gemm(transposeA: true, transposeB: false, m: sizes[l], n: sizes[l - 1], k: rows, alpha: 1,
                       a: dZ, lda: sizes[l], b: layers[l - 1], ldb: sizes[l - 1], beta: 0,
                       c: gradients.weights(l), ldc: sizes[l - 1])
            if l > 1 {
                Float.gemm(transposeA: false, transposeB: false, m: rows, n: sizes[l - 1], k: sizes[l], alpha: 1,
                           a: dZ, lda: sizes[l], b: parameters.weights(l), ldb: sizes[l - 1], beta: 0,
                           c: dQ, ldc: sizes[l - 1])
            }
        }
    }
}
