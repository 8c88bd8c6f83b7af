import XCTest
@testable import MLP

/// Backpropagation against central finite differences of J(θ), in Double.
final class GradientTests: XCTestCase {
    /// A small batch: 5 rows, 4 features; 3 classes or 2 regression targets.
    func makeWorkspace(_ network: Network<Double>, rows: Int, seed: UInt64) -> Workspace<Double> {
        let workspace = Workspace<Double>(layout: network.layout, capacity: rows)
        var generator = SplitMix64(seed: seed)
        for i in 0 ..< rows * network.layout.inputCount { workspace.input[i] = 2 * generator.nextUniform() - 1 }
        for i in 0 ..< rows { workspace.labels[i] = Int32(generator.next() % UInt64(network.layout.outputCount)) }
        for i in 0 ..< rows * network.layout.outputCount { workspace.targetValues[i] = 2 * generator.nextUniform() - 1 }
        return workspace
    }

    /// A 4-6-5-3 classifier, seeded, with non-zero biases so that every parameter's path is exercised.
    func classifier(_ activation: Activation) -> Network<Double> {
        let network = Network<Double>(layerSizes: [4, 6, 5, 3], activation: activation, loss: .crossEntropy)
        network.initialize(seed: 7)
        var generator = SplitMix64(seed: 11)
        for l in 1 ... network.layout.layerCount {
            for j in 0 ..< network.layout.layerSizes[l] { network.parameters.biases(l)[j] = 0.3 * (2 * generator.nextUniform() - 1) }
        }
        return network
    }

    /// J(θ) = (1/n_b) Σ L_i at the current parameters.
    func cost(_ network: Network<Double>, _ workspace: Workspace<Double>, rows: Int) -> Double {
        network.forwardAndLoss(workspace, rows: rows).sum / Double(rows)
    }

    /// The largest relative difference between backpropagation's `gradients` (sums over the
    /// rows) and central differences of J with step 1e-6, over every parameter.
    func worstRelativeError(_ network: Network<Double>, _ workspace: Workspace<Double>, rows: Int,
                            gradients: FlatBuffer<Double>) -> Double {
        let theta = network.parameters.values, h = 1e-6
        var worst = 0.0
        for i in 0 ..< theta.count {
            let saved = theta[i]
            theta[i] = saved + h
            let plus = cost(network, workspace, rows: rows)
            theta[i] = saved - h
            let minus = cost(network, workspace, rows: rows)
            theta[i] = saved
            let numeric = (plus - minus) / (2 * h), analytic = gradients.values[i] / Double(rows)
            worst = max(worst, abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-7))
        }
        return worst
    }

    func testGradientsMatchFiniteDifferences() {
        for loss in Loss.allCases {
            for activation in Activation.allCases {
                let outputs = loss == .crossEntropy ? 3 : 2
                let network = Network<Double>(layerSizes: [4, 6, 5, outputs], activation: activation, loss: loss)
                network.initialize(seed: 7)
                // Non-zero biases so that every parameter's path is exercised.
                var generator = SplitMix64(seed: 11)
                for l in 1 ... network.layout.layerCount {
                    let b = network.parameters.biases(l)
                    for j in 0 ..< network.layout.layerSizes[l] { b[j] = 0.3 * (2 * generator.nextUniform() - 1) }
                }
                let rows = 5
                let workspace = makeWorkspace(network, rows: rows, seed: 3)
                let gradients = FlatBuffer<Double>(layout: network.layout)
                _ = network.forwardAndLoss(workspace, rows: rows)
                network.backward(workspace, rows: rows, into: gradients)

                let worst = worstRelativeError(network, workspace, rows: rows, gradients: gradients)
                XCTAssertLessThan(worst, 1e-6, "\(loss) with \(activation): worst relative error \(worst)")
            }
        }
    }

    /// With dropout the gradient is that of the thinned network the step's masks define: the
    /// masks are fixed by (seed, step, row), so J(θ ± h) sees the same ones.
    func testDropoutGradientsMatchFiniteDifferences() {
        for activation in Activation.allCases {
            // Non-zero biases: a row whose inputs to a layer are all dropped would sit on ReLU's kink.
            let network = classifier(activation)
            let rows = 6
            let workspace = makeWorkspace(network, rows: rows, seed: 3)
            for i in 0 ..< rows { workspace.rowIndices[i] = 100 + 7 * i }
            let dropout = Dropout<Double>(rates: [0.4, 0.25], seed: 9, layout: network.layout, capacity: rows)
            dropout.step = 12
            workspace.dropout = dropout
            let gradients = FlatBuffer<Double>(layout: network.layout)
            _ = network.forwardAndLoss(workspace, rows: rows)
            network.backward(workspace, rows: rows, into: gradients)
            // Some units of each hidden layer are dropped, the rest scaled by 1/(1 − p).
            for (l, p) in [(1, 0.4), (2, 0.25)] {
                let scales = (0 ..< rows * network.layout.layerSizes[l]).map { dropout.scales[l - 1]![$0] }
                XCTAssertTrue(scales.contains(0) && scales.contains(1 / (1 - p)), "\(activation), layer \(l): \(scales)")
                XCTAssertTrue(scales.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) })
            }
            let worst = worstRelativeError(network, workspace, rows: rows, gradients: gradients)
            XCTAssertLessThan(worst, 1e-6, "\(activation) with dropout: worst relative error \(worst)")
            // Another step draws other masks; evaluation (a workspace without dropout) none.
            let before = (0 ..< rows * 6).map { dropout.scales[0]![$0] }
            dropout.step = 13
            _ = network.forwardAndLoss(workspace, rows: rows)
            XCTAssertNotEqual((0 ..< rows * 6).map { dropout.scales[0]![$0] }, before)
        }
    }

    /// The backward pass over a row range with an error buffer per layer (the path
    /// `--reproducible`'s chunks take): chunk by chunk, its errors first and each layer's
    /// gradient after (`layerGradient`), the chunks' sums add up to the whole batch's gradient,
    /// and each chunk's gradient matches finite differences of the loss over that chunk's rows.
    func testChunkedBackwardEqualsWholeAndFiniteDifferences() {
        for activation in Activation.allCases {
            let network = classifier(activation)
            let rows = 11, chunks = [0 ..< 4, 4 ..< 8, 8 ..< 11]
            let workspace = makeWorkspace(network, rows: rows, seed: 3)
            let whole = FlatBuffer<Double>(layout: network.layout)
            _ = network.forwardAndLoss(workspace, rows: rows)
            network.backward(workspace, rows: rows, into: whole)

            let errors = network.layout.layerSizes.dropFirst().map { UnsafeMutablePointer<Double>.allocate(capacity: rows * $0) }
            defer { errors.forEach { $0.deallocate() } }
            for chunk in chunks { _ = network.forwardAndLoss(workspace, rows: chunk, errors: errors) }
            for chunk in chunks { network.backward(workspace, rows: chunk, errors: errors, into: nil) }
            let summed = FlatBuffer<Double>(layout: network.layout), part = FlatBuffer<Double>(layout: network.layout)
            for chunk in chunks {
                for l in 1 ... network.layout.layerCount {
                    network.layerGradient(l, workspace, rows: chunk, dZ: errors[l - 1], weights: part.weights(l), biases: part.biases(l))
                }
                for i in 0 ..< summed.values.count { summed.values[i] += part.values[i] }
            }
            var largest = 0.0
            for i in 0 ..< whole.values.count {
                largest = max(largest, abs(summed.values[i] - whole.values[i]) / max(abs(whole.values[i]), 1e-12))
            }
            XCTAssertLessThan(largest, 1e-12, "\(activation): chunks' sum vs the whole batch's gradient")

            // The last chunk alone, its rows moved to the workspace's start: the range's gradient
            // against finite differences of J over those rows.
            let chunk = chunks[2], inputs = network.layout.inputCount, outputs = network.layout.outputCount
            let alone = makeWorkspace(network, rows: chunk.count, seed: 99)
            alone.input.update(from: workspace.input + chunk.lowerBound * inputs, count: chunk.count * inputs)
            alone.labels.update(from: workspace.labels + chunk.lowerBound, count: chunk.count)
            alone.targetValues.update(from: workspace.targetValues + chunk.lowerBound * outputs, count: chunk.count * outputs)
            _ = network.forwardAndLoss(workspace, rows: chunk, errors: errors)
            network.backward(workspace, rows: chunk, errors: errors, into: part)
            let worst = worstRelativeError(network, alone, rows: chunk.count, gradients: part)
            XCTAssertLessThan(worst, 1e-6, "\(activation), rows \(chunk): worst relative error \(worst)")
        }
    }

    /// dZ⁽ᴸ⁾ = −2(y − z) for squared error, softmax(z) − onehot(y) for cross-entropy.
    func testLastLayerGradientClosedForms() {
        let z: [Double] = [0.5, -1.25, 2.0, 0.0, 3.5, -0.75]
        let y: [Double] = [1.0, 0.25, -1.0, 2.0, 3.0, 0.0]
        var dZ = [Double](repeating: .nan, count: 6)
        let squared = z.withUnsafeBufferPointer { Z in y.withUnsafeBufferPointer { Y in dZ.withUnsafeMutableBufferPointer { dz in
            Loss.squaredError.lossAndGradient(Z: Z.baseAddress!, targets: .values(Y.baseAddress!),
                                              dZ: dz.baseAddress!, rows: 2, outputs: 3)
        } } }
        for i in 0 ..< 6 { XCTAssertEqual(dZ[i], -2 * (y[i] - z[i]), accuracy: 1e-15) }
        XCTAssertEqual(squared.sum, zip(y, z).map { ($0 - $1) * ($0 - $1) }.reduce(0, +), accuracy: 1e-12)

        let labels: [Int32] = [2, 0]
        let entropy = z.withUnsafeBufferPointer { Z in labels.withUnsafeBufferPointer { L in dZ.withUnsafeMutableBufferPointer { dz in
            Loss.crossEntropy.lossAndGradient(Z: Z.baseAddress!, targets: .classes(L.baseAddress!),
                                              dZ: dz.baseAddress!, rows: 2, outputs: 3)
        } } }
        var expectedLoss = 0.0
        for row in 0 ..< 2 {
            let logits = Array(z[row * 3 ..< row * 3 + 3])
            let sum = logits.map { Foundation.exp($0) }.reduce(0, +)
            expectedLoss += -logits[Int(labels[row])] + Foundation.log(sum)
            for j in 0 ..< 3 {
                let expected = Foundation.exp(logits[j]) / sum - (j == Int(labels[row]) ? 1 : 0)
                XCTAssertEqual(dZ[row * 3 + j], expected, accuracy: 1e-15)
            }
        }
        XCTAssertEqual(entropy.sum, expectedLoss, accuracy: 1e-12)
        XCTAssertEqual(entropy.correct, 1, "row 0 (argmax 2, label 2) is right, row 1 (argmax 1, label 0) is wrong")
    }

    /// Logits of ±1e4 give a finite loss and gradient (log-sum-exp), in both precisions.
    func testCrossEntropyIsFiniteForHugeLogits() {
        func check<T: Scalar>(_: T.Type) {
            let z: [T] = [10_000, -10_000, 0, -10_000, 10_000, 9_999]
            let labels: [Int32] = [1, 2]
            var dZ = [T](repeating: 0, count: 6)
            let result = z.withUnsafeBufferPointer { Z in labels.withUnsafeBufferPointer { L in dZ.withUnsafeMutableBufferPointer { dz in
                Loss.crossEntropy.lossAndGradient(Z: Z.baseAddress!, targets: .classes(L.baseAddress!),
                                                  dZ: dz.baseAddress!, rows: 2, outputs: 3)
            } } }
            XCTAssertTrue(result.sum.isFinite)
            // Row 0: label 1 has logit −1e4 against 1e4: loss 2e4. Row 1: ln(1 + e) ≈ 1.3133 + 0.
            XCTAssertEqual(result.sum, 20_000 + Foundation.log(1 + Foundation.exp(-1.0)) + 1, accuracy: 1e-2)
            XCTAssertTrue(dZ.allSatisfy { $0.isFinite })
            XCTAssertEqual(Double(dZ[1]), -1, accuracy: 1e-6)
        }
        check(Float.self)
        check(Double.self)
    }

    /// A shard of zero rows contributes zeros to every gradient slot.
    func testEmptyShardContributesZeros() {
        let network = Network<Double>(layerSizes: [3, 4, 2], activation: .tanh, loss: .crossEntropy)
        network.initialize(seed: 1)
        let gradients = FlatBuffer<Double>(layout: network.layout)
        gradients.values.update(repeating: 42)
        let workspace = Workspace<Double>(layout: network.layout, capacity: 1)
        let result = network.forwardAndLoss(workspace, rows: 0)
        var layersDone: [Int] = []
        network.backward(workspace, rows: 0, into: gradients) { layersDone.append($0) }
        XCTAssertEqual(result.sum, 0)
        XCTAssertEqual(result.correct, 0)
        XCTAssertEqual(layersDone, [2, 1], "every layer's reduction still starts, last layer first")
        XCTAssertTrue(gradients.values.allSatisfy { $0 == 0 })
    }
}
