/// Where each layer's weights and biases sit in the flat vector θ.
///
/// θ = [vec(W⁽¹⁾), b⁽¹⁾, …, vec(W⁽ᴸ⁾), b⁽ᴸ⁾], with W⁽ˡ⁾ of shape (U_l, U_{l−1}) stored row-major,
/// so vec(W) here is the row-major flattening (the layout of PyTorch's `nn.Linear.weight`).
public struct ParameterLayout: Equatable, Sendable {
    /// U_0 (inputs), U_1, …, U_L (outputs).
    public let layerSizes: [Int]
    /// Offset of W⁽ˡ⁾ in θ, for l = 1…L at index l − 1.
    public let weightOffsets: [Int]
    /// Offset of b⁽ˡ⁾ in θ, for l = 1…L at index l − 1.
    public let biasOffsets: [Int]
    /// Length of θ.
    public let count: Int

    public init(layerSizes: [Int]) {
        precondition(layerSizes.count >= 2 && layerSizes.allSatisfy { $0 > 0 }, "need U_0 … U_L, all positive")
        self.layerSizes = layerSizes
        var weightOffsets: [Int] = [], biasOffsets: [Int] = []
        var offset = 0
        for l in 1 ..< layerSizes.count {
            weightOffsets.append(offset)
            offset += layerSizes[l] * layerSizes[l - 1]
            biasOffsets.append(offset)
            offset += layerSizes[l]
        }
        self.weightOffsets = weightOffsets
        self.biasOffsets = biasOffsets
        self.count = offset
    }

    /// L, the number of layers with parameters.
    public var layerCount: Int { layerSizes.count - 1 }
    public var inputCount: Int { layerSizes[0] }
    public var outputCount: Int { layerSizes[layerSizes.count - 1] }
}

/// A flat buffer in θ order with per-layer views: the parameters, or a gradient of the same layout.
///
/// Allocated once and owned by this object; the hot loops take its pointers, so the
/// optimizer update and the allreduce are each one call over one buffer.
public final class FlatBuffer<T: Scalar> {
    public let layout: ParameterLayout
    /// `layout.count` values followed by `extraCount` slots (the trainer keeps the step's loss
    /// sum, counts, interrupt flags and weight sum there, `StepExtra`, so one reduction carries
    /// everything).
    /// Its own allocation, or with the node-shared exchange memory the node's ranks share
    /// (`relocate(to:)`, `init(layout:extraCount:wrapping:)`).
    public private(set) var storage: UnsafeMutableBufferPointer<T>
    public let extraCount: Int
    /// What this object allocated and frees; nil: it wraps memory it does not own.
    private let allocation: UnsafeMutableBufferPointer<T>?

    public init(layout: ParameterLayout, extraCount: Int = 0) {
        self.layout = layout
        self.extraCount = extraCount
        storage = .allocate(capacity: layout.count + extraCount)
        storage.initialize(repeating: 0)
        allocation = storage
    }

    /// A view of `layout.count + extraCount` values of memory it does not own (a gradient slot
    /// of the node-shared window), which must outlive it.
    init(layout: ParameterLayout, extraCount: Int, wrapping memory: UnsafeMutableBufferPointer<T>) {
        precondition(memory.count == layout.count + extraCount)
        self.layout = layout
        self.extraCount = extraCount
        storage = memory
        allocation = nil
    }

    deinit { allocation?.deallocate() }

    /// From now on its values are `memory`'s, which the caller has filled and which outlives
    /// it: θ moving into the node-shared window, where every rank of the node reads it.
    func relocate(to memory: UnsafeMutableBufferPointer<T>) {
        precondition(memory.count == storage.count)
        storage = memory
    }

    /// θ itself (without the extra slots).
    public var values: UnsafeMutableBufferPointer<T> { UnsafeMutableBufferPointer(rebasing: storage[0 ..< layout.count]) }
    /// The extra slots after θ.
    public var extras: UnsafeMutableBufferPointer<T> { UnsafeMutableBufferPointer(rebasing: storage[layout.count...]) }

    /// W⁽ˡ⁾ (U_l × U_{l−1}, row-major) for layer l = 1…L.
    @inline(__always) public func weights(_ l: Int) -> UnsafeMutablePointer<T> { storage.baseAddress! + layout.weightOffsets[l - 1] }
    /// b⁽ˡ⁾ (U_l) for layer l = 1…L.
    @inline(__always) public func biases(_ l: Int) -> UnsafeMutablePointer<T> { storage.baseAddress! + layout.biasOffsets[l - 1] }

    /// Sets every value, extras included, to zero.
    public func zero() { storage.update(repeating: 0) }

    public func copy(from other: FlatBuffer<T>) {
        precondition(other.storage.count == storage.count)
        _ = storage.update(fromContentsOf: other.storage)
    }

    /// A copy of θ as an array (tests, model files).
    public var array: [T] { Array(values) }
}
