import Foundation

/// How this rank sits on its node: the ranks that share the node's memory, and how many of them
/// (this one included) may run on the cores this rank may run on. MPI's node-local communicator
/// tells both (`MPI_Comm_split_type` shared, plus the ranks' affinity masks), whatever started
/// the job: mpirun and srun set different environment variables.
public struct NodeLayout: Equatable, Sendable {
    /// Ranks of this job on this node (≥ 1).
    public var ranksOnNode: Int
    /// Ranks on this node whose cores overlap this rank's (≥ 1).
    public var ranksSharingCores: Int
    /// The cores this rank may run on (`sched_getaffinity`).
    public var cores: Int

    public init(ranksOnNode: Int, ranksSharingCores: Int, cores: Int) {
        self.ranksOnNode = max(ranksOnNode, 1)
        self.ranksSharingCores = max(ranksSharingCores, 1)
        self.cores = max(cores, 1)
    }

    /// One process alone on its node.
    public static var singleProcess: NodeLayout {
        NodeLayout(ranksOnNode: 1, ranksSharingCores: 1, cores: CoreAffinity.current.count)
    }

    /// OpenBLAS threads per rank: this rank's cores divided among the ranks that share them, at
    /// least 1, so that the ranks of a node never run more threads than it has cores (2 ranks
    /// × 2 threads on 2 cores collapses; bound ranks get their own cores' worth).
    public var threadsPerRank: Int { max(cores / ranksSharingCores, 1) }
}

/// The cores a process may run on, as a bit mask of 1024 CPUs: what ranks exchange to find
/// which of them share cores.
public struct CoreAffinity: Equatable, Sendable {
    public var mask: [UInt8]

    public init(mask: [UInt8]) { self.mask = mask }

    public static let byteCount = 128

    /// The mask of a CPU list such as "0-3,8,10-11" (Linux's `Cpus_allowed_list`); nil if it is not one.
    public init?(list: Substring) {
        var mask = [UInt8](repeating: 0, count: Self.byteCount)
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1 ... 2).contains(bounds.count), let low = bounds.first!, let high = bounds.last!,
                  low >= 0, low <= high, high < Self.byteCount * 8 else { return nil }
            for cpu in low ... high { mask[cpu / 8] |= 1 << (cpu % 8) }
        }
        self.mask = mask
    }

    /// This process's affinity (what `sched_getaffinity` says, from /proc/self/status); the
    /// online CPUs if the system will not say.
    public static var current: CoreAffinity {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }),
           let affinity = CoreAffinity(list: line.dropFirst("Cpus_allowed_list:".count).drop { $0 == " " || $0 == "\t" }),
           affinity.count > 0 {
            return affinity
        }
        let online = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), byteCount * 8)
        return CoreAffinity(list: "0-\(online - 1)")!
    }

    public var count: Int { mask.reduce(0) { $0 + $1.nonzeroBitCount } }

    public func overlaps(_ other: CoreAffinity) -> Bool {
        zip(mask, other.mask).contains { $0 & $1 != 0 }
    }
}

/// The BLAS thread count a rank runs with.
public enum BLASThreads {
    /// The variables OpenBLAS reads its thread count from: when one is set, the user chose.
    static let environmentNames = ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"]

    /// The threads for this rank: nil when the environment sets them (OpenBLAS has read them),
    /// else the node layout's share of the cores.
    public static func chosen(for layout: NodeLayout, environment: [String: String]) -> Int? {
        if environmentNames.contains(where: { environment[$0].map { !$0.isEmpty } ?? false }) { return nil }
        return layout.threadsPerRank
    }

    /// Sets OpenBLAS's thread count from the node layout unless the environment has.
    public static func apply(_ layout: NodeLayout, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let threads = chosen(for: layout, environment: environment) { BLASInfo.threads = threads }
    }

    /// "2 ranks × 1 thread": the layout the first line of `train` and `bench` states.
    public static func describe(ranks: Int, threads: Int) -> String {
        "\(ranks) rank\(ranks == 1 ? "" : "s") × \(threads) thread\(threads == 1 ? "" : "s")"
    }

    /// OpenBLAS's generic kernels, which it falls back to on a CPU newer than the library: several
    /// times slower than the ones the CPU's instruction set allows.
    static let fallbackCores: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                               "Coppermine", "Northwood", "Banias"]

    /// A one-line warning when OpenBLAS chose fallback kernels on a CPU with AVX2 or AVX-512 and
    /// the environment did not choose a core type; nil otherwise.
    public static func kernelWarning(coreName: String, environment: [String: String], cpuFlags: Set<Substring>) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, fallbackCores.contains(coreName) else { return nil }
        let better: String
        if cpuFlags.contains("avx512f") && cpuFlags.contains("avx512bw") { better = "SkylakeX" }
        else if cpuFlags.contains("avx2") && cpuFlags.contains("fma") { better = "Haswell" }
        else { return nil }
        return "OpenBLAS chose its slow \(coreName) kernels on this CPU, which it does not recognize: "
            + "set OPENBLAS_CORETYPE=\(better) (./launch does)"
    }

    /// This CPU's feature flags (the first `flags` line of /proc/cpuinfo; empty elsewhere).
    public static var cpuFlags: Set<Substring> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: " "))
    }
}
