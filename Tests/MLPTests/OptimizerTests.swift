import Foundation
import XCTest
@testable import MLP
import TestSupport

/// The update rules, schedules and clipping against PyTorch's documented algorithms (written out
/// here) and against PyTorch itself (a fixture from `Tests/python/optimizer_fixture.py`), in
/// float64: max relative difference ≤ 1e-12.
final class OptimizerTests: XCTestCase {
    // The fixture's problem: J(θ) = Σ ½ a_i θ_i² + b_i θ_i on the 17 parameters of a 2-3-2
    // network, g = a ⊙ θ + b, six steps with a different learning rate each.
    static let layout = ParameterLayout(layerSizes: [2, 3, 2])
    static let initial = (0 ..< 17).map { Double(($0 * 7) % 11 - 5) / 8 }
    static let a = (0 ..< 17).map { 0.25 + Double($0 % 5) * 0.5 }
    static let b = (0 ..< 17).map { Double(($0 * 3) % 7 - 3) / 10 }
    static let sgdRates = [0.1, 0.05, 0.2, 0.1, 0.08, 0.15]
    static let adamRates = [0.01, 0.02, 0.005, 0.01, 0.03, 0.01]

    /// θ after each step from our optimizer (and clipping, if given).
    func ours(_ settings: OptimizerSettings, rates: [Double], clip: Double? = nil) -> [[Double]] {
        let theta = FlatBuffer<Double>(layout: Self.layout), g = FlatBuffer<Double>(layout: Self.layout)
        _ = theta.values.update(fromContentsOf: Self.initial)
        let optimizer = Optimizer<Double>(settings: settings, layout: Self.layout)
        var trajectory: [[Double]] = []
        for rate in rates {
            for i in 0 ..< 17 { g.values[i] = Self.a[i] * theta.values[i] + Self.b[i] }
            applyUpdate(optimizer, theta, g, clip: clip, rate: rate)
            trajectory.append(theta.array)
        }
        XCTAssertEqual(optimizer.stepCount, rates.count)
        return trajectory
    }

    /// θ after each step from PyTorch's documented algorithms, written out independently.
    func reference(_ settings: OptimizerSettings, rates: [Double], clip: Double? = nil) -> [[Double]] {
        var theta = Self.initial
        var buffer = [Double](repeating: 0, count: 17), m = buffer, v = buffer
        let lambda = settings.effectiveWeightDecay, mu = settings.momentum
        let beta1 = settings.beta1, beta2 = settings.beta2, epsilon = settings.epsilon
        var trajectory: [[Double]] = []
        for (index, gamma) in rates.enumerated() {
            let t = index + 1
            var g = (0 ..< 17).map { Self.a[$0] * theta[$0] + Self.b[$0] }
            if let clip {   // torch.nn.utils.clip_grad_norm_
                let norm = sqrt(g.map { $0 * $0 }.reduce(0, +))
                let coefficient = min(clip / (norm + 1e-6), 1)
                g = g.map { $0 * coefficient }
            }
            switch settings.kind {
            case .sgd:   // torch.optim.SGD, dampening τ = 0
                for i in 0 ..< 17 {
                    var gi = g[i]
                    if lambda != 0 { gi += lambda * theta[i] }
                    if mu != 0 {
                        buffer[i] = t > 1 ? mu * buffer[i] + gi : gi
                        gi = settings.nesterov ? gi + mu * buffer[i] : buffer[i]
                    }
                    theta[i] -= gamma * gi
                }
            case .adam, .adamw:   // torch.optim.Adam / AdamW
                for i in 0 ..< 17 {
                    var gi = g[i]
                    if settings.kind == .adamw { theta[i] -= gamma * lambda * theta[i] } else if lambda != 0 { gi += lambda * theta[i] }
                    m[i] = beta1 * m[i] + (1 - beta1) * gi
                    v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                    let mHat = m[i] / (1 - pow(beta1, Double(t))), vHat = v[i] / (1 - pow(beta2, Double(t)))
                    theta[i] -= gamma * mHat / (sqrt(vHat) + epsilon)
                }
            }
            trajectory.append(theta)
        }
        return trajectory
    }

    /// Largest |x − y| / max(|x|, |y|) over all entries.
    func maxRelative(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        return zip(x, y).map { $0 == $1 ? 0 : abs($0 - $1) / max(abs($0), abs($1)) }.max() ?? 0
    }

    static func settings(_ kind: OptimizerSettings.Kind, momentum: Double = 0, nesterov: Bool = false, beta1: Double = 0.9,
                         beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double? = nil) -> OptimizerSettings {
        var settings = OptimizerSettings(kind: kind)
        settings.momentum = momentum; settings.nesterov = nesterov
        settings.beta1 = beta1; settings.beta2 = beta2; settings.epsilon = epsilon; settings.weightDecay = weightDecay
        return settings
    }

    /// Name → (settings, rates, clip), the configurations of the fixture.
    static let cases: [(String, OptimizerSettings, [Double], Double?)] = [
        ("sgd", settings(.sgd), sgdRates, nil),
        ("sgdMomentumWeightDecay", settings(.sgd, momentum: 0.9, weightDecay: 0.01), sgdRates, nil),
        ("sgdNesterov", settings(.sgd, momentum: 0.8, nesterov: true), sgdRates, nil),
        ("sgdMomentumClipped", settings(.sgd, momentum: 0.9), sgdRates, 1.0),
        ("adam", settings(.adam), adamRates, nil),
        ("adamWeightDecay", settings(.adam, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.03), adamRates, nil),
        ("adamw", settings(.adamw), adamRates, nil),   // PyTorch's default λ = 0.01
        ("adamwSmallBeta1", settings(.adamw, beta1: 0.3, beta2: 0.9, weightDecay: 0.1), adamRates, nil),   // lerp's other branch
    ]

    /// θ after the six steps, from PyTorch 2.15 (float64, CPU):
    /// `python3 Tests/python/optimizer_fixture.py`.
    static let pytorch: [String: [Double]] = [
        "sgd": [-0.33518113039306646, 0.14599546086425783, -0.24393653869628906, 0.20253927126220703, -0.05482278899169923, -0.18840428943115237, 0.23652183418945316, 0.1455230712890625, -0.12802199985351562, -0.052371043967285175, -0.04162744846923827, -0.47592682723876956, 0.19542884826660153, -0.10652277137207031, 0.2116411214086914, 0.10514939249267576, -0.3854004539135742],
        "sgdMomentumWeightDecay": [0.25880440752904604, -0.04687703372150049, -0.23110960068989064, -0.37258281644121105, -0.24820565278108064, 0.1935012134916567, -0.2500051378227381, 0.37780798620218725, 0.3778728784682656, -0.5125719928835026, 0.12819801945426726, -0.195309556455723, 0.10517360528916156, 0.08917815759001167, -0.23550008024653313, 0.06289482541687783, -0.3984376605569605],
        "sgdNesterov": [0.21142445106581112, -0.005720478230942212, -0.23743945111816406, -0.106432470473908, -0.13471789182597674, 0.16351985205607023, -0.14782521151838696, 0.3014531731640625, 0.1440285903543844, -0.2422516130409577, 0.11561525304632925, -0.25846731453564953, 0.13695506006347657, -0.0015889722918802994, 0.027986144763663876, 0.06771065403658827, -0.4005720478230942],
        "sgdMomentumClipped": [-0.060555148804947445, 0.04893963485767966, -0.23846408099185237, -0.15794900051816943, -0.1957202564496397, -0.01159030128537708, -0.009352925027211533, 0.2768620561955429, 0.18938905706002337, -0.387231258834858, 0.0373745462341932, -0.33681347662934075, 0.14617672892667144, 0.015907207723151892, -0.11224007002060025, 0.08633939375376352, -0.39510603651423204],
        "adam": [-0.5400804688402046, 0.1657885972395878, -0.2518919418250557, 0.5402869875867783, 0.040975783521918975, -0.29012828670412516, 0.41525334043645323, 0.08416689590221886, -0.4153326637517894, 0.2903262946706115, -0.040314260239466944, -0.5404965540705665, 0.16893126568064262, -0.16612960795233095, 0.5403392829811506, 0.04220241375862092, -0.4129779099981129],
        "adamWeightDecay": [-0.5401710456687924, 0.1664051461502643, -0.24101299862034414, 0.5405438374575857, 0.04171892014294162, -0.2902712578724206, 0.41548797550091937, 0.08347827223592158, -0.41562713365674697, 0.29061806703031645, -0.040653610283866826, -0.5408857481378266, 0.17052092515246361, -0.1669371715360987, 0.5406364252007083, 0.04354632413777802, -0.37118228412444343],
        "adamw": [-0.5395778905195087, 0.16560652663790743, -0.25183665175847775, 0.53978588022982, 0.040898911075061946, -0.28983811241994517, 0.4148578321697441, 0.08413920334349502, -0.41493763882943846, 0.29003696737828, -0.04023639274341241, -0.5399971558208967, 0.1687638794860338, -0.1659488260639133, 0.539838583814898, 0.04212790482258422, -0.41292648818765554],
        "adamwSmallBeta1": [-0.5355323418035514, 0.16745405232709223, -0.2399174595371041, 0.5368156267938986, 0.04427106748137438, -0.2879408852352218, 0.41265525069150955, 0.0803529099454073, -0.4131127787166261, 0.2891096618911011, -0.04111001569373742, -0.5379854791078708, 0.1779591132643636, -0.1689363113209354, 0.5371182550766765, 0.04878488603612896, -0.39840427314560833]
    ]

    func testEachUpdateRuleMatchesPyTorchsAlgorithmStepByStep() {
        for (name, settings, rates, clip) in Self.cases {
            let expected = reference(settings, rates: rates, clip: clip), actual = ours(settings, rates: rates, clip: clip)
            for step in 0 ..< rates.count {
                let difference = maxRelative(actual[step], expected[step])
                XCTAssertLessThanOrEqual(difference, 1e-12, "\(name), step \(step + 1)")
            }
            // The steps moved θ: the comparison is not of a no-op.
            XCTAssertGreaterThan(maxRelative(actual.last!, Self.initial), 0.01, name)
        }
    }

    func testEachUpdateRuleMatchesPyTorch() {
        for (name, settings, rates, clip) in Self.cases {
            let difference = maxRelative(ours(settings, rates: rates, clip: clip).last!, Self.pytorch[name]!)
            XCTAssertLessThanOrEqual(difference, 1e-12, name)
            print("\(name): max relative difference to PyTorch \(difference)")
        }
    }

    /// Adam runs a register of lanes at a time (4 floats; with AVX, `CKernels`, 8): every lane,
    /// and the last group (zero-padded, or the C loop's scalar tail), must give bit for bit what
    /// the scalar formula in the same order gives.
    func testAdamInLanesEqualsTheScalarFormulaBitForBit() {
        let layout = ParameterLayout(layerSizes: [5, 3, 2])   // 26 values: six groups of 4, then 2
        let settingsList = [Self.settings(.adam, weightDecay: 0.03), Self.settings(.adamw, beta1: 0.3, beta2: 0.9, weightDecay: 0.1)]
        let runs = (CPUFeatures.hasAVX ? [false, true] : [false]).flatMap { usesAVX in settingsList.map { (usesAVX, $0) } }
        for (usesAVX, settings) in runs {
            let optimizer = Optimizer<Float>(settings: settings, layout: layout)
            optimizer.usesAVX = usesAVX
            let theta = FlatBuffer<Float>(layout: layout), g = FlatBuffer<Float>(layout: layout)
            var expected = (0 ..< layout.count).map { Float(($0 * 7) % 11 - 5) / 8 }
            _ = theta.values.update(fromContentsOf: expected)
            var m = [Float](repeating: 0, count: layout.count), v = m
            for (index, rate) in Self.adamRates.enumerated() {
                for i in 0 ..< layout.count { g.values[i] = Float(0.25 + Double(i % 5) * 0.5) * theta.values[i] + Float(i % 7) / 10 - 0.3 }
                let gradient = g.array
                applyUpdate(optimizer, theta, g, rate: rate)
                // The scalar formula, in the order of Optimizer.updateAdam.
                let t = Double(index + 1), lambda = settings.effectiveWeightDecay, decoupled = settings.kind == .adamw
                let stepSize = Float(-(rate / (1 - pow(settings.beta1, t))))
                let root = Float((1 - pow(settings.beta2, t)).squareRoot())
                let decay = Float(decoupled ? 1 - rate * lambda : 1), coupled = Float(decoupled ? 0 : lambda)
                let w = Float(1 - settings.beta1), beta2 = Float(settings.beta2), oneMinusBeta2 = Float(1 - settings.beta2)
                for i in 0 ..< layout.count {
                    let parameter = expected[i] * decay
                    let gi = gradient[i] + coupled * parameter
                    m[i] = w < 0.5 ? m[i] + w * (gi - m[i]) : gi - (gi - m[i]) * Float(settings.beta1)
                    v[i] = v[i] * beta2 + oneMinusBeta2 * gi * gi
                    expected[i] = parameter + stepSize * (m[i] / (v[i].squareRoot() / root + Float(settings.epsilon)))
                }
                XCTAssertEqual(theta.array, expected, "\(settings.kind) step \(index + 1), AVX \(usesAVX)")
                XCTAssertEqual(Array(optimizer.stateBuffers[0].values), m)
                XCTAssertEqual(Array(optimizer.stateBuffers[1].values), v)
            }
        }
    }

    /// The AVX kernel (`CKernels`, 8 floats or 4 doubles a register, a scalar tail) gives the
    /// Swift loop's bytes for θ, m and v, step after step: both precisions, both of torch.lerp's
    /// branches, Adam's L2 and AdamW's decay, g scaled and clipped, a slice in place and in
    /// streamed blocks with partial last groups; subnormal, −0 and overflowing g among them.
    func testAdamWithAVXEqualsTheSwiftLoop() throws {
        guard CPUFeatures.hasAVX else { throw XCTSkip("this CPU has no AVX: only the Swift loop runs here") }
        func check<T: Scalar>(_: T.Type) {
            func bytes(_ values: UnsafeMutableBufferPointer<T>) -> [UInt8] { Array(UnsafeRawBufferPointer(values)) }
            let layout = ParameterLayout(layerSizes: [40, 61, 3])   // 2,687 values
            for (settings, slice, streams) in [(Self.settings(.adam, weightDecay: 0.03), 0 ..< 2687, false),
                                               (Self.settings(.adamw, beta1: 0.3, beta2: 0.9, weightDecay: 0.1), 1024 ..< 2685, true),
                                               (Self.settings(.adam, beta1: 0.6), 3 ..< 30, false)] {
                let optimizers = [false, true].map { usesAVX in
                    let optimizer = Optimizer<T>(settings: settings, layout: layout, slice: slice)
                    optimizer.usesAVX = usesAVX
                    optimizer.streamsParameters = streams
                    return optimizer
                }
                var generator = SplitMix64(seed: 5)
                let initial = (0 ..< layout.count).map { _ in T(generator.nextNormal()) }
                let thetas = optimizers.map { _ in FlatBuffer<T>(layout: layout) }
                for theta in thetas { _ = theta.values.update(fromContentsOf: initial) }
                for step in 0 ..< 3 {
                    var g = (0 ..< layout.count).map { _ in T(generator.nextNormal() * 10) }
                    if step == 1 {
                        // Extremes in the first vector and in the tail: subnormal, −0, and g² past the range.
                        let first = slice.lowerBound, last = slice.upperBound - 1
                        g[first] = T.leastNonzeroMagnitude; g[first + 1] = -0.0; g[first + 2] = T.greatestFiniteMagnitude / 4
                        g[last] = T.leastNonzeroMagnitude; g[last - 1] = T.greatestFiniteMagnitude / 4
                    }
                    for (optimizer, theta) in zip(optimizers, thetas) {
                        var sums = g
                        sums.withUnsafeMutableBufferPointer {
                            optimizer.update(parameters: theta, gradientSums: $0.baseAddress! + slice.lowerBound, scale: T(1) / T(3),
                                             clipFactor: T(0.7), learningRate: 0.01 * Double(step + 1))
                        }
                    }
                    let context = "\(T.self), \(settings.kind) β₁ \(settings.beta1), slice \(slice), step \(step)"
                    XCTAssertEqual(bytes(thetas[1].values), bytes(thetas[0].values), context)
                    XCTAssertEqual(optimizers[1].stateBuffers.map { bytes($0.values) }, optimizers[0].stateBuffers.map { bytes($0.values) },
                                   context)
                }
            }
        }
        check(Float.self)
        check(Double.self)
    }

    /// PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8, λ = 0 (SGD, Adam) or 0.01 (AdamW);
    /// --learning-rate 0.05 (SGD, the spec's baseline) or 0.001 (Adam, AdamW).
    func testDefaults() {
        let adamw = OptimizerSettings(kind: .adamw)
        XCTAssertEqual([adamw.beta1, adamw.beta2, adamw.epsilon, adamw.effectiveWeightDecay], [0.9, 0.999, 1e-8, 0.01])
        XCTAssertEqual(OptimizerSettings(kind: .adam).effectiveWeightDecay, 0)
        XCTAssertEqual(OptimizerSettings(kind: .sgd).effectiveWeightDecay, 0)
        XCTAssertEqual(OptimizerSettings(kind: .sgd).defaultLearningRate, 0.05)
        XCTAssertEqual(OptimizerSettings(kind: .adam).defaultLearningRate, 0.001)
    }

    /// The checkpoint API: named buffers in θ order, and a fresh optimizer given them and the
    /// step count continues bit for bit like the original.
    func testStateBuffersAndStepCountMakeAContinuationExact() {
        let names: [OptimizerSettings.Kind: [String]] = [.sgd: ["optimizer.momentum_buffer"],
                                                         .adam: ["optimizer.exp_avg", "optimizer.exp_avg_sq"],
                                                         .adamw: ["optimizer.exp_avg", "optimizer.exp_avg_sq"]]
        XCTAssertTrue(Optimizer<Double>(settings: OptimizerSettings(kind: .sgd), layout: Self.layout).stateBuffers.isEmpty,
                      "plain SGD has no state")
        for (name, settings, rates, clip) in Self.cases {
            let uninterrupted = ours(settings, rates: rates, clip: clip).last!
            let theta = FlatBuffer<Double>(layout: Self.layout), g = FlatBuffer<Double>(layout: Self.layout)
            _ = theta.values.update(fromContentsOf: Self.initial)
            var optimizer = Optimizer<Double>(settings: settings, layout: Self.layout)
            for (index, rate) in rates.enumerated() {
                if index == 3 {   // "checkpoint" and "resume" into a new optimizer
                    let restored = Optimizer<Double>(settings: settings, layout: Self.layout)
                    XCTAssertEqual(restored.stateBuffers.map(\.name), optimizer.stateBuffers.map(\.name))
                    if settings.momentum != 0 || settings.kind != .sgd {
                        XCTAssertEqual(optimizer.stateBuffers.map(\.name), names[settings.kind]!, name)
                    }
                    for (saved, fresh) in zip(optimizer.stateBuffers, restored.stateBuffers) {
                        XCTAssertEqual(saved.values.count, Self.layout.count, "all of θ, no extra slots")
                        _ = fresh.values.update(fromContentsOf: saved.values)
                    }
                    restored.stepCount = optimizer.stepCount
                    optimizer = restored
                }
                for i in 0 ..< 17 { g.values[i] = Self.a[i] * theta.values[i] + Self.b[i] }
                applyUpdate(optimizer, theta, g, clip: clip, rate: rate)
            }
            XCTAssertEqual(theta.array, uninterrupted, "\(name): a restored optimizer continues bit for bit")
        }
    }

    /// PyTorch's `clip_grad_norm_` coefficient min(1, C / (‖g‖ + 1e-6)) from the trainer's norm.
    func testClipFactorScalesOnlyAboveTheLimit() {
        let g = FlatBuffer<Double>(layout: Self.layout)
        for i in 0 ..< 17 { g.values[i] = Double(i) - 8 }   // ‖g‖ = √408
        let check = UpdateCheck(count: 17, clipping: true)
        check.measure(g.values.baseAddress!, slice: 0 ..< 17, scale: 1)
        XCTAssertEqual(check.norm, sqrt(408), accuracy: 1e-12)
        XCTAssertEqual(UpdateCheck.clipFactor(norm: check.norm, maxNorm: 100), 1, "below the limit g is unchanged")
        XCTAssertEqual(UpdateCheck.clipFactor(norm: check.norm, maxNorm: 2), 2 / (sqrt(408) + 1e-6), accuracy: 1e-15,
                       "PyTorch's coefficient C / (‖g‖ + 1e-6)")
    }

    // MARK: Schedules

    /// Learning rates of 12 steps (3 epochs of 4) with base 0.1, from PyTorch's schedulers
    /// composed as docs/optimizers.md says: LinearLR(start_factor=1/N, total_iters=N−1) per step, then
    /// constant; StepLR(step_size=2, gamma=0.5) per epoch; CosineAnnealingLR(T_max=12) per step.
    static let pytorchRates: [String: [Double]] = [
        "constant": [0.020000000000000004, 0.04000000000000001, 0.06000000000000001, 0.08000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002],
        "step": [0.03333333333333333, 0.06666666666666667, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05],
        "cosine": [0.025, 0.04914814565722671, 0.06997595264191647, 0.08535533905932739, 0.07500000000000002, 0.06294095225512607, 0.050000000000000024, 0.03705904774487399, 0.025000000000000022, 0.014644660940672634, 0.006698729810778068, 0.0017037086855465908]
    ]

    func testSchedulesMatchPyTorchsSchedulers() {
        func schedule(_ kind: ScheduleSettings.Kind, warmup: Int) -> LearningRateSchedule {
            var settings = ScheduleSettings(kind: kind)
            settings.warmupSteps = warmup
            if kind == .step { settings.stepSize = 2; settings.gamma = 0.5 }
            return LearningRateSchedule(baseRate: 0.1, settings: settings, stepsPerEpoch: 4, totalSteps: 12)
        }
        for (kind, warmup) in [(ScheduleSettings.Kind.constant, 5), (.step, 3), (.cosine, 4)] {
            let rates = (0 ..< 12).map { schedule(kind, warmup: warmup).rate(atStep: $0) }
            XCTAssertLessThanOrEqual(maxRelative(rates, Self.pytorchRates[kind.rawValue]!), 1e-12, "\(kind)")
        }
        // The closed forms, by hand.
        let cosine = schedule(.cosine, warmup: 0)
        XCTAssertEqual(cosine.rate(atStep: 0), 0.1)
        XCTAssertEqual(cosine.rate(atStep: 6), 0.05, accuracy: 1e-15)
        XCTAssertEqual(schedule(.constant, warmup: 0).rate(atStep: 11), 0.1)
        XCTAssertEqual(schedule(.constant, warmup: 1).rate(atStep: 0), 0.1, "warm-up over 1 step is none")
        XCTAssertEqual(schedule(.step, warmup: 0).rate(atStep: 7), 0.1, "epoch 1: no decay yet")
        XCTAssertEqual(schedule(.step, warmup: 0).rate(atStep: 8), 0.05, "epoch 2: one decay")
    }

    // MARK: Validation split and early stopping

    func testValidationRowsDependOnTheSeedAloneAndPartitionTheRows() {
        let split = Dataset<Double>.validationRows(rowCount: 1000, fraction: 0.15, seed: 7)
        XCTAssertEqual(split.validation.count, 150)
        XCTAssertEqual((split.training + split.validation).sorted(), Array(0 ..< 1000), "a partition: nothing lost or shared")
        XCTAssertEqual(split.training, split.training.sorted(), "training rows keep file order")
        let again = Dataset<Double>.validationRows(rowCount: 1000, fraction: 0.15, seed: 7)
        XCTAssertEqual(again.validation, split.validation, "the same seed holds out the same rows (on every rank)")
        XCTAssertNotEqual(Dataset<Double>.validationRows(rowCount: 1000, fraction: 0.15, seed: 8).validation, split.validation)
        XCTAssertEqual(Dataset<Double>.validationRows(rowCount: 10, fraction: 0.01, seed: 0).validation.count, 1, "⌈F·n⌉")
        XCTAssertNotEqual(split.validation, Array(0 ..< 150), "not simply the first rows")

        let data = Dataset<Double>(rowCount: 4, featureCount: 2, features: [0, 1, 10, 11, 20, 21, 30, 31], featureNames: ["x", "y"],
                                   labels: [0, 1, 2, 0], classNames: ["a", "b", "c"], targetNames: ["label"])
        let subset = data.rows([2, 0])
        XCTAssertEqual(subset.features, [20, 21, 0, 1])
        XCTAssertEqual(subset.labels, [2, 0])
        XCTAssertEqual(subset.classNames, data.classNames, "classes are kept even if a subset lacks one")
        XCTAssertThrowsError(try Dataset<Double>(rowCount: 1, featureCount: 1, features: [0], featureNames: ["x"], labels: [0],
                                                 classNames: ["a"], targetNames: ["label"]).holdingOut(fraction: 0.5, seed: 0))
    }

    func testEarlyStoppingKeepsTheBestParametersAndStopsAfterPatience() {
        let layout = ParameterLayout(layerSizes: [1, 1])
        let stopping = EarlyStopping<Double>(patience: 2, layout: layout)
        let theta = FlatBuffer<Double>(layout: layout)
        var stoppedAt: Int?
        for (epoch, loss) in [0.9, 0.5, 0.6, 0.5, 0.7, 0.1].enumerated() {
            theta.values[0] = Double(epoch + 1)
            if stopping.observe(epoch: epoch + 1, validationLoss: loss, parameters: theta) { stoppedAt = epoch + 1; break }
        }
        XCTAssertEqual(stoppedAt, 4, "epochs 3 and 4 did not improve on epoch 2 (equal is not better)")
        XCTAssertEqual(stopping.bestEpoch, 2)
        XCTAssertEqual(stopping.bestLoss, 0.5)
        stopping.restoreBest(into: theta)
        XCTAssertEqual(theta.values[0], 2, "θ of epoch 2")
    }

    /// Early stopping end to end (in-process): it stops `patience` epochs after the best one,
    /// and `--save` holds exactly the model a run of `best` epochs saves.
    func testEarlyStoppingSavesTheBestEpochsModel() throws {
        let directory = try temporaryDirectory(self)
        let data = directory.appendingPathComponent("train.csv")
        try writeClassificationCSV(data, rows: 120, seed: 5)
        func options(epochs: Int, earlyStopping: Int?, save: URL) throws -> TrainingOptions {
            var options = TrainingOptions(train: try DataSource(data.path))
            options.hidden = [64, 64]
            options.optimizer = .adam
            options.learningRate = 0.02
            options.batchSize = 8
            options.epochs = epochs
            options.precision = .float64
            options.validationSplit = 0.3
            options.earlyStopping = earlyStopping
            options.save = save.path
            return options
        }
        var lines: [String] = []
        let stoppedModel = directory.appendingPathComponent("stopped.safetensors")
        let reports = try runTraining(try options(epochs: 60, earlyStopping: 3, save: stoppedModel),
                                      communicator: SingleProcessCommunicator(), output: TrainingOutput(line: { lines.append($0) }))
        let losses = reports.map { $0.validationLoss! }
        let best = losses.indices.min { losses[$0] < losses[$1] }! + 1
        XCTAssertLessThan(reports.count, 60, "this over-fitting run stops early: \(losses)")
        XCTAssertEqual(reports.count, best + 3, "it stops 3 epochs after the best")
        XCTAssertTrue(lines.contains { $0.hasPrefix("early stopping after epoch \(best + 3)") && $0.contains("best epoch \(best)") },
                      lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("val loss") }, "the epoch line shows the validation loss")

        let bestModel = directory.appendingPathComponent("best.safetensors")
        try runTraining(try options(epochs: best, earlyStopping: nil, save: bestModel), communicator: SingleProcessCommunicator(), output: TrainingOutput(line: { _ in }))
        XCTAssertEqual(try ModelFile.read(path: stoppedModel.path).parameters, try ModelFile.read(path: bestModel.path).parameters)
    }

    // MARK: Options

    func testInvalidOptionsAreRefusedBeforeAnyWork() throws {
        func refused(_ change: (inout TrainingOptions) -> Void) -> String {
            var options = TrainingOptions(train: .spirals)
            change(&options)
            do { try options.validate(); return "accepted" } catch { return "\(error)" }
        }
        let cases: [(String, (inout TrainingOptions) -> Void)] = [
            ("--momentum", { $0.momentum = -0.1 }),
            ("--nesterov requires --momentum", { $0.nesterov = true }),
            ("--beta1", { $0.optimizer = .adam; $0.beta1 = 1 }),
            ("--beta2", { $0.optimizer = .adamw; $0.beta2 = -0.5 }),
            ("--eps", { $0.optimizer = .adam; $0.epsilon = 0 }),
            ("--weight-decay", { $0.weightDecay = -1 }),
            ("--momentum applies to --optimizer sgd", { $0.optimizer = .adam; $0.momentum = 0.9 }),
            ("--beta1 applies to --optimizer adam", { $0.beta1 = 0.8 }),
            ("--lr-schedule step needs --step-size", { $0.lrSchedule = .step }),
            ("--step-size must be", { $0.lrSchedule = .step; $0.stepSize = 0 }),
            ("--step-size applies", { $0.stepSize = 3 }),
            ("--gamma applies", { $0.lrSchedule = .cosine; $0.gamma = 0.5 }),
            ("--gamma must be", { $0.lrSchedule = .step; $0.stepSize = 1; $0.gamma = 0 }),
            ("--warmup-steps", { $0.warmupSteps = -1 }),
            ("--clip-grad-norm", { $0.clipGradientNorm = 0 }),
            ("--validation-split", { $0.validationSplit = 0 }),
            ("--validation-split", { $0.validationSplit = 1 }),
            ("--early-stopping needs --validation-split", { $0.earlyStopping = 3 }),
            ("--early-stopping must be", { $0.validationSplit = 0.1; $0.earlyStopping = 0 }),
        ]
        for (expected, change) in cases {
            let message = refused(change)
            XCTAssertTrue(message.hasPrefix(expected), "expected \(expected): \(message)")
            XCTAssertFalse(message.contains("\n"))
        }
        XCTAssertEqual(refused { $0.optimizer = .sgd; $0.momentum = 0.9; $0.nesterov = true }, "accepted")
    }
}

/// One update the way `Trainer.update` applies it: ‖g‖ from `UpdateCheck`, the clip factor and
/// the optimizer's update of all of θ in one loop (g already divided: scale 1).
func applyUpdate<T: Scalar>(_ optimizer: Optimizer<T>, _ theta: FlatBuffer<T>, _ g: FlatBuffer<T>, clip: Double? = nil, rate: Double) {
    let count = g.layout.count, check = UpdateCheck(count: count, clipping: clip != nil)
    check.measure(g.values.baseAddress!, slice: 0 ..< count, scale: 1)
    let factor = clip.map { UpdateCheck.clipFactor(norm: check.norm, maxNorm: $0) } ?? 1
    optimizer.update(parameters: theta, gradientSums: g.values.baseAddress!, scale: 1, clipFactor: T(factor), learningRate: rate)
}
