import XCTest
@testable import MLP
@testable import MLPBenchmarks

/// What `mlp bench` counts and times is what a training step does.
final class BenchmarkTests: XCTestCase {
    /// 3.21 MFLOP per sample at 784-512-512-10: forward 2·Σ U_l·U_{l−1},
    /// dW the same, dQ for every layer but the first.
    func testFlopsPerSampleCountTheStepsProducts() {
        let w1 = Benchmark.workloads.first { $0.name == "W1" }!
        let forward: Int = 2 * (784 * 512 + 512 * 512 + 512 * 10)
        let inputGradients: Int = 2 * (512 * 512 + 512 * 10)
        XCTAssertEqual(w1.flopsPerSample, Double(2 * forward + inputGradients))
        XCTAssertEqual(w1.flopsPerSample, 3_209_216)
    }

    /// The products-alone bound runs the step's products: Z⁽ˡ⁾ = Q⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ, dW⁽ˡ⁾ = dZᵀQ⁽ˡ⁻¹⁾,
    /// dQ⁽ˡ⁻¹⁾ = dZ·W⁽ˡ⁾, with the shapes and transposes of forward and backward (checked here
    /// against plain loops; it reuses the dZ buffer for every layer, whose values do not matter).
    func testMatrixProductsHaveTheStepsShapes() {
        let sizes = [5, 4, 3], rows = 6
        let network = Network<Float>(layerSizes: sizes, activation: .relu, loss: .crossEntropy)
        network.initialize(seed: 3)
        let products = MatrixProducts(network: network, rows: rows)
        var generator = SplitMix64(seed: 4)
        for i in 0 ..< rows * sizes[0] { products.layers[0][i] = Float(generator.nextUniform() - 0.5) }
        for i in 0 ..< rows * 4 { products.dZ[i] = Float(generator.nextUniform() - 0.5) }
        products.run()
        let gradients = products.gradients

        // C[i][j] = Σ_k A(i, k)·B(k, j), with A and B given as element functions.
        func product(_ m: Int, _ n: Int, _ k: Int, _ a: (Int, Int) -> Float, _ b: (Int, Int) -> Float) -> [Float] {
            (0 ..< m * n).map { index in (0 ..< k).reduce(Float(0)) { $0 + a(index / n, $1) * b($1, index % n) } }
        }
        func assertClose(_ actual: UnsafeMutablePointer<Float>, _ expected: [Float], _ what: String) {
            for (i, value) in expected.enumerated() { XCTAssertEqual(actual[i], value, accuracy: 1e-5, "\(what)[\(i)]") }
        }
        let W1 = network.parameters.weights(1), W2 = network.parameters.weights(2)
        let X = products.layers[0], Z1 = products.layers[1], dZ = products.dZ
        // Forward: Z1 = X W1ᵀ (rows × 4), Z2 = Z1 W2ᵀ (rows × 3).
        assertClose(Z1, product(rows, 4, 5, { X[$0 * 5 + $1] }, { W1[$1 * 5 + $0] }), "Z1")
        assertClose(products.layers[2], product(rows, 3, 4, { Z1[$0 * 4 + $1] }, { W2[$1 * 4 + $0] }), "Z2")
        // Backward, layer 2: dW2 = dZᵀ Z1 (3 × 4) with dZ as rows × 3, dQ1 = dZ W2 (rows × 4).
        assertClose(gradients.weights(2), product(3, 4, rows, { dZ[$1 * 3 + $0] }, { Z1[$0 * 4 + $1] }), "dW2")
        assertClose(products.dQ, product(rows, 4, 3, { dZ[$0 * 3 + $1] }, { W2[$0 * 4 + $1] }), "dQ1")
        // Layer 1: dW1 = dZᵀ X (4 × 5) with dZ as rows × 4.
        assertClose(gradients.weights(1), product(4, 5, rows, { dZ[$1 * 4 + $0] }, { X[$0 * 5 + $1] }), "dW1")
    }
}
