import Foundation

/// What a training run will allocate on each rank beyond its data, estimated from the layer
/// sizes before any of it is allocated, so that a network too large for the host is refused in
/// one line instead of aborting in the allocator (`--hidden 100000,100000`).
///
/// Counted, with n = |θ| and s the bytes of a scalar: θ, the gradient sums (the reduction
/// buffer), the optimizer's state (0, 1 or 2 × n), early stopping's best θ, the training and
/// evaluation workspaces (rows × the layers' widths), and writing the model or a checkpoint
/// (θ and the state as Double, their tensors and the file's bytes).
struct MemoryEstimate {
    /// Bytes; nil when it does not even fit in an Int.
    var bytes: Int?
    /// n = Σ (U_{l−1} + 1) · U_l; nil on overflow.
    var parameterCount: Int?

    init(layerSizes: [Int], scalarBytes: Int, optimizer: OptimizerSettings, earlyStopping: Bool, shardRows: Int) {
        func sum(_ terms: [Int?]) -> Int? {
            terms.reduce(Int?(0)) { total, term in
                guard let total, let term else { return nil }
                let (result, overflow) = total.addingReportingOverflow(term)
                return overflow ? nil : result
            }
        }
        func product(_ factors: Int...) -> Int? {
            var result = 1
            for factor in factors {
                let (next, overflow) = result.multipliedReportingOverflow(by: factor)
                if overflow { return nil }
                result = next
            }
            return result
        }
        parameterCount = sum(zip(layerSizes, layerSizes.dropFirst()).map { product($0 + 1, $1) })
        let states = (optimizer.kind == .sgd ? (optimizer.momentum != 0 ? 1 : 0) : 2) + (earlyStopping ? 1 : 0)
        // θ and the reduction buffer, the states; to write: θ and states as Double, as tensors, as the file.
        let perParameter = scalarBytes * (2 + states) + (1 + states) * (8 + 2 * scalarBytes)
        let widths = sum(layerSizes.map { Optional($0) }) ?? Int.max
        let widest = layerSizes.max() ?? 0
        let perRow = sum([widths, layerSizes.last, product(2, widest), 2]).flatMap { product($0, scalarBytes) }
        let workspaceRows = shardRows + 1024   // the training shard's and evaluation's
        bytes = parameterCount.flatMap { count in
            sum([product(count, perParameter), perRow.flatMap { product($0, workspaceRows) }])
        }
    }

    /// This host's physical memory in bytes (`sysconf`).
    static var physicalMemory: Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Refuses a network whose estimate exceeds this rank's share of physical memory, which
    /// `ranks` ranks of the job share (the node layout's).
    func check(layerSizes: [Int], ranksOnThisHost ranks: Int) throws {
        let available = Self.physicalMemory / ranks
        let shape = layerSizes.map(String.init).joined(separator: "-")
        let share = ranks == 1 ? "" : " shared by \(ranks) ranks"
        guard let bytes, let parameterCount else {
            throw InputError("the network \(shape) is too large: its parameter count does not fit in 64 bits; use smaller --hidden widths")
        }
        guard bytes <= available else {
            throw InputError("the network \(shape) has \(parameterCount) parameters and needs about \(gibibytes(bytes)) "
                + "per rank to train (θ, gradient, optimizer state, buffers), "
                + "more than this host's \(gibibytes(Self.physicalMemory)) of memory\(share): use smaller --hidden widths")
        }
    }

    private func gibibytes(_ bytes: Int) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}
