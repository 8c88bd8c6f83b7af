import CKernels
import CMemory
import Foundation

/// Which update rule to apply and its hyperparameters (`--optimizer`, `--momentum`, `--nesterov`,
/// `--beta1`, `--beta2`, `--eps`, `--weight-decay`), with PyTorch's defaults.
public struct OptimizerSettings: Sendable, Equatable {
    /// `torch.optim.SGD`, `torch.optim.Adam`, `torch.optim.AdamW`.
    public enum Kind: String, CaseIterable, Sendable {
        case sgd, adam, adamw
    }

    public var kind: Kind = .sgd
    /// SGD's μ (PyTorch `momentum`, default 0). Dampening is PyTorch's default, 0.
    public var momentum = 0.0
    /// SGD's Nesterov variant; needs μ > 0, as in PyTorch.
    public var nesterov = false
    /// Adam's β₁, β₂ and ε (PyTorch `betas=(0.9, 0.999)`, `eps=1e-8`).
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon = 1e-8
    /// λ; nil: PyTorch's default for the kind (0 for SGD and Adam, 0.01 for AdamW).
    public var weightDecay: Double?

    public init(kind: Kind = .sgd, momentum: Double = 0, nesterov: Bool = false, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double? = nil) {
        self.kind = kind
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// λ as the update uses it.
    public var effectiveWeightDecay: Double { weightDecay ?? (kind == .adamw ? 0.01 : 0) }

    /// `--learning-rate` when it is not given: the spec's SGD baseline 0.05 for SGD, PyTorch's
    /// 0.001 for Adam and AdamW.
    public var defaultLearningRate: Double { kind == .sgd ? 0.05 : 0.001 }

    static let defaults = OptimizerSettings()

    /// The checks PyTorch makes, and refusals of options that do not apply to the kind.
    public func validate() throws {
        for (option, value) in [(TrainOptionTable.momentum, momentum), (TrainOptionTable.beta1, beta1),
                                (TrainOptionTable.beta2, beta2), (TrainOptionTable.eps, epsilon)] {
            try option.check(value)
        }
        try TrainOptionTable.weightDecay.check(weightDecay)
        switch kind {
        case .sgd:
            if nesterov && momentum <= 0 {
                throw InputError("--nesterov requires --momentum greater than 0 (Nesterov momentum requires a momentum)")
            }
            for (name, value, standard) in [("--beta1", beta1, Self.defaults.beta1), ("--beta2", beta2, Self.defaults.beta2),
                                            ("--eps", epsilon, Self.defaults.epsilon)] where value != standard {
                throw InputError("\(name) applies to --optimizer adam or adamw, not sgd")
            }
        case .adam, .adamw:
            if momentum != 0 { throw InputError("--momentum applies to --optimizer sgd only (Adam's momentum is --beta1)") }
            if nesterov { throw InputError("--nesterov applies to --optimizer sgd only") }
        }
    }
}

/// The parameter update: SGD (with momentum, Nesterov, L2 weight decay), Adam (L2 weight decay)
/// or AdamW (decoupled weight decay), exactly as PyTorch's `torch.optim.SGD`, `Adam`, `AdamW`
/// (single-tensor implementation, `maximize=False`, `amsgrad=False`, dampening 0).
///
/// It acts on g, the exact, already-allreduced mini-batch gradient, so every rank applies the
/// same update and the parameters stay identical without further communication. With γ the
/// step's learning rate and t the step number (1, 2, …):
///
///     SGD:    g ← g + λθ;  b ← g (t = 1) or μb + g;  g ← g + μb (Nesterov) or b;  θ ← θ − γg
///     Adam:   g ← g + λθ;  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
///             θ ← θ − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
///     AdamW:  θ ← θ(1 − γλ), then Adam without the λθ term.
///
/// **State for checkpoints.** Everything the next update depends on besides θ, g and γ is
/// `stepCount` and `stateBuffers`; a checkpoint that saves them and restores them into an
/// optimizer built with the same `settings` and layout makes the continuation exact:
///
///     for (name, values) in optimizer.stateBuffers { write(name, values) }   // θ[slice] order
///     …
///     let restored = Optimizer<T>(settings: settings, layout: layout, slice: slice)
///     for (name, values) in restored.stateBuffers { read(name, θ[slice], into: values) }
///     restored.stepCount = savedStepCount
///
/// The buffers are, by kind (names as in PyTorch's `state_dict()`, prefixed):
/// - SGD with μ > 0: `"optimizer.momentum_buffer"` (b); plain SGD has none;
/// - Adam, AdamW: `"optimizer.exp_avg"` (m) and `"optimizer.exp_avg_sq"` (v).
/// Each holds the state of θ[`slice`] only: all of θ, or with the sharded update the rank's
/// slice (`ParameterShards`), so P ranks keep one copy of the state between them. Allocated once.
/// The learning rate is not state: `LearningRateSchedule.rate(atStep:)` gives it from the
/// trainer's global step.
public final class Optimizer<T: Scalar> {
    public let settings: OptimizerSettings
    public let layout: ParameterLayout
    /// The part of θ this optimizer updates and keeps state for.
    public let slice: Range<Int>
    /// Updates applied so far (PyTorch's `state["step"]`): Adam's t is `stepCount + 1` in the
    /// next update; SGD's momentum buffer is initialized to g when it is 0. Set it on resume.
    public var stepCount = 0
    /// SGD's b (μ > 0 only).
    let momentumBuffer: UnsafeMutableBufferPointer<T>?
    /// Adam's m and v.
    let firstMoment: UnsafeMutableBufferPointer<T>?
    let secondMoment: UnsafeMutableBufferPointer<T>?
    /// θ's new values go out with non-temporal stores, a block at a time through `outBlock`:
    /// the node-shared θ, whose lines the other ranks' cores have just read (`CMemory`).
    /// The arithmetic is the same either way, so are the bits.
    public var streamsParameters = false
    /// Adam's update through `CKernels`' AVX loop, where the CPU has AVX: the same bits at twice
    /// the lanes (tests turn it off to compare).
    var usesAVX = CPUFeatures.hasAVX
    /// One block of new θ values before they are streamed out.
    private let outBlock = UnsafeMutablePointer<T>.allocate(capacity: Optimizer.outBlockLength)
    /// 4 KiB in float32: in L1, and a multiple of every vector width, so a block's tail is θ's.
    static var outBlockLength: Int { ParameterShards.blockLength }

    public init(settings: OptimizerSettings, layout: ParameterLayout, slice: Range<Int>? = nil) {
        self.settings = settings
        self.layout = layout
        let slice = slice ?? 0 ..< layout.count
        precondition(slice.lowerBound >= 0 && slice.upperBound <= layout.count)
        self.slice = slice
        let needsMomentum = settings.kind == .sgd && settings.momentum != 0
        func state() -> UnsafeMutableBufferPointer<T> {
            let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: slice.count)
            buffer.initialize(repeating: 0)
            return buffer
        }
        momentumBuffer = needsMomentum ? state() : nil
        firstMoment = settings.kind == .sgd ? nil : state()
        secondMoment = settings.kind == .sgd ? nil : state()
    }

    deinit {
        outBlock.deallocate()
        momentumBuffer?.deallocate()
        firstMoment?.deallocate()
        secondMoment?.deallocate()
    }

    /// The optimizer's state besides `stepCount`, by name, each θ[slice] in θ order (see the
    /// type's documentation). Empty for plain SGD.
    public var stateBuffers: [(name: String, values: UnsafeMutableBufferPointer<T>)] {
        var buffers: [(name: String, values: UnsafeMutableBufferPointer<T>)] = []
        if let momentumBuffer { buffers.append(("optimizer.momentum_buffer", momentumBuffer)) }
        if let firstMoment { buffers.append(("optimizer.exp_avg", firstMoment)) }
        if let secondMoment { buffers.append(("optimizer.exp_avg_sq", secondMoment)) }
        return buffers
    }

    /// Plain SGD without weight decay updates θ by axpy, which reads g from memory: its
    /// gradient sums are best divided in place before `update` (which then gets scale 1).
    public var needsGradientInMemory: Bool { settings.kind == .sgd && settings.momentum == 0 && settings.effectiveWeightDecay == 0 }

    /// Bytes of state this optimizer holds (what the sharded update divides by P).
    public var stateBytes: Int { stateBuffers.reduce(0) { $0 + $1.values.count * MemoryLayout<T>.stride } }

    /// One update of θ[slice] from g = (`gradientSums[i]` · `scale`) · `clipFactor` for
    /// θ[slice.lowerBound + i] (the division by Σ wᵢ, then clipping, each product rounded in
    /// turn, in the update's loop: one pass), with learning rate γ; advances `stepCount`. A factor of 1
    /// changes nothing. Plain SGD leaves g in `gradientSums` (for axpy); the other rules only read it.
    public func update(parameters: FlatBuffer<T>, gradientSums: UnsafeMutablePointer<T>, scale: T, clipFactor: T, learningRate: Double) {
        precondition(parameters.layout == layout)
        let theta = parameters.values.baseAddress! + slice.lowerBound
        switch settings.kind {
        case .sgd: updateSGD(theta, gradientSums, scale, clipFactor, learningRate)
        case .adam, .adamw: updateAdam(theta, gradientSums, scale, clipFactor, learningRate)
        }
        stepCount += 1
    }

    /// PyTorch `_single_tensor_sgd`, dampening 0.
    private func updateSGD(_ theta: UnsafeMutablePointer<T>, _ g: UnsafeMutablePointer<T>, _ scale: T, _ clip: T, _ learningRate: Double) {
        let gamma = T(learningRate), lambda = T(settings.effectiveWeightDecay), mu = T(settings.momentum)
        guard let momentumBuffer else {
            if lambda == 0 {
                // OpenBLAS's axpy (a fused multiply-add on CPUs that have one, as PyTorch's add_
                // with alpha) needs g in memory (`needsGradientInMemory`: scale is 1 there).
                if scale != 1 || clip != 1 { for i in 0 ..< slice.count { g[i] = g[i] * scale * clip } }
                // Streaming: θ's block copied out first, so that the same axpy updates it.
                forEachBlock(theta) { start, count, out in
                    if out != theta + start { out.update(from: theta + start, count: count) }
                    T.axpy(count: count, alpha: -gamma, x: g + start, y: out)   // θ ← θ − γg
                }
            } else {
                forEachBlock(theta) { start, count, out in
                    let theta = theta + start, g = g + start
                    for i in 0 ..< count { out[i] = theta[i] - gamma * (g[i] * scale * clip + lambda * theta[i]) }
                }
            }
            return
        }
        let b = momentumBuffer.baseAddress!
        // b ← g on the first step: b is still zero there, so b·0 + g is g exactly.
        let bScale = stepCount == 0 ? 0 : mu
        // Branches hoisted out of the loops so that they vectorize.
        if settings.nesterov {
            forEachBlock(theta) { start, count, out in
                let theta = theta + start, g = g + start, b = b + start
                for i in 0 ..< count {
                    let gradient = g[i] * scale * clip + lambda * theta[i]   // λ = 0: + 0 exactly
                    b[i] = b[i] * bScale + gradient
                    out[i] = theta[i] - gamma * (gradient + mu * b[i])
                }
            }
        } else {
            forEachBlock(theta) { start, count, out in
                let theta = theta + start, g = g + start, b = b + start
                for i in 0 ..< count {
                    let gradient = g[i] * scale * clip + lambda * theta[i]
                    b[i] = b[i] * bScale + gradient
                    out[i] = theta[i] - gamma * b[i]
                }
            }
        }
    }

    /// Runs `body(start, count, out)` over θ[slice]: `out[i]` receives θ[start + i]'s new value
    /// (relative to `theta`, the slice's first value). Without streaming one call, `out` θ itself
    /// (in place, as before); with it, a block at a time into `outBlock`, streamed out to θ.
    @inline(__always)
    private func forEachBlock(_ theta: UnsafeMutablePointer<T>,
                              _ body: (_ start: Int, _ count: Int, _ out: UnsafeMutablePointer<T>) -> Void) {
        guard streamsParameters else { return body(0, slice.count, theta) }
        let length = Self.outBlockLength, out = outBlock
        var start = 0
        while start < slice.count {
            let count = min(length, slice.count - start)
            body(start, count, out)
            cmemory_stream(theta + start, out, count * MemoryLayout<T>.stride)
            start += count
        }
        cmemory_store_fence()
    }

    /// PyTorch `_single_tensor_adam` (AdamW: `decoupled_weight_decay=True`), in its order of
    /// operations: m by lerp, v ← v·β₂ + (1 − β₂)·g·g, the bias corrections in Double.
    private func updateAdam(_ theta: UnsafeMutablePointer<T>, _ g: UnsafeMutablePointer<T>, _ scale: T, _ clip: T, _ learningRate: Double) {
        let m = firstMoment!.baseAddress!, v = secondMoment!.baseAddress!
        let beta1 = settings.beta1, beta2 = settings.beta2, lambda = settings.effectiveWeightDecay
        let t = Double(stepCount + 1)
        let biasCorrection1 = 1 - Foundation.pow(beta1, t), biasCorrection2 = 1 - Foundation.pow(beta2, t)
        let stepSize = T(-(learningRate / biasCorrection1))
        let biasCorrection2Root = T(biasCorrection2.squareRoot())
        let epsilon = T(settings.epsilon)
        let lerpWeight = T(1 - beta1), lerpComplement = T(beta1)
        let beta2T = T(beta2), oneMinusBeta2 = T(1 - beta2)
        let decoupled = settings.kind == .adamw
        // AdamW: θ ← θ(1 − γλ) first; Adam: g ← g + λθ. The unused one multiplies by 1 or adds
        // 0, which changes nothing, so one loop without branches serves both and vectorizes.
        let decay = T(decoupled ? 1 - learningRate * lambda : 1), coupled = T(decoupled ? 0 : lambda)
        // torch.lerp: m + w(g − m) for |w| < 0.5, else g − (g − m)(1 − w).
        let lerpFromFirst = 1 - beta1 < 0.5
        // One SSE register of lanes at a time, so that the divisions and square roots vectorize
        // (with AVX, `CKernels`' loop: two registers' worth, the divisions and roots bound it);
        // every lane computes what the scalar formula would (IEEE operations in the same order),
        // so the result does not depend on the lane count. The last group is padded with zeros.
        let lanes = T.Lanes.scalarCount
        // The constants as the kernel takes them: T → Double → T is exact.
        var constants = CKernelsAdam(decay: Double(decay), scale: Double(scale), clip: Double(clip), coupled: Double(coupled),
                                     lerpWeight: Double(lerpWeight), lerpComplement: Double(lerpComplement), beta2: Double(beta2T),
                                     oneMinusBeta2: Double(oneMinusBeta2), stepSize: Double(stepSize),
                                     biasCorrection2Root: Double(biasCorrection2Root), epsilon: Double(epsilon),
                                     lerpFromFirst: lerpFromFirst)
        let usesAVX = usesAVX
        forEachBlock(theta) { start, count, out in
            let theta = theta + start, g = g + start, m = m + start, v = v + start
            if usesAVX { return T.adamWithAVX(theta, into: out, g, m, v, count: count, &constants) }
            var i = 0
            while i < count {
                let n = Swift.min(lanes, count - i)
                var parameter = T.Lanes(), gradient = T.Lanes(), first = T.Lanes(), second = T.Lanes()
                if n == lanes {
                    parameter = UnsafeRawPointer(theta + i).loadUnaligned(as: T.Lanes.self)
                    gradient = UnsafeRawPointer(g + i).loadUnaligned(as: T.Lanes.self)
                    first = UnsafeRawPointer(m + i).loadUnaligned(as: T.Lanes.self)
                    second = UnsafeRawPointer(v + i).loadUnaligned(as: T.Lanes.self)
                } else {
                    for j in 0 ..< n { parameter[j] = theta[i + j]; gradient[j] = g[i + j]; first[j] = m[i + j]; second[j] = v[i + j] }
                }
                parameter = parameter * decay
                gradient = gradient * scale * clip + coupled * parameter
                first = lerpFromFirst ? first + lerpWeight * (gradient - first) : gradient - (gradient - first) * lerpComplement
                second = second * beta2T + oneMinusBeta2 * gradient * gradient
                parameter = parameter + stepSize * (first / (T.squareRoot(second) / biasCorrection2Root + epsilon))
                if n == lanes {
                    UnsafeMutableRawPointer(out + i).storeBytes(of: parameter, as: T.Lanes.self)
                    UnsafeMutableRawPointer(m + i).storeBytes(of: first, as: T.Lanes.self)
                    UnsafeMutableRawPointer(v + i).storeBytes(of: second, as: T.Lanes.self)
                } else {
                    for j in 0 ..< n { out[i + j] = parameter[j]; m[i + j] = first[j]; v[i + j] = second[j] }
                }
                i += n
            }
        }
    }
}
