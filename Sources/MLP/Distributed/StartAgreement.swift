#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One thing every rank of a job must have alike before any work: the build, the options, the
/// data, the starting model. Compared by its fingerprint; shown in a message by its `value`.
public struct StartItem {
    /// How the message says that a rank differs in it, after "rank 1 (host h2) ": "runs a
    /// different build", "was started with different training data".
    public var differs: String
    /// This rank's value as the message shows it: a path and its fingerprint, a version.
    public var value: String
    public var fingerprint: UInt64
    /// What to do about it, ending the message.
    public var advice: String
    /// The message's account of the difference from this rank's `value` and rank 0's; nil:
    /// "VALUE where rank 0 has RANK 0'S VALUE".
    var detail: ((_ mine: String, _ rank0: String) -> String)?

    public init(differs: String, value: String, fingerprint: UInt64, advice: String) {
        self.differs = differs
        self.value = value
        self.fingerprint = fingerprint
        self.advice = advice
    }

    /// An item compared by the text it shows (a version, a canonical text of settings).
    public init(differs: String, text: String, advice: String) {
        self.init(differs: differs, value: text, fingerprint: MLP.fingerprint(text: text), advice: advice)
    }

    /// The message's account: rank 0's value beside this rank's.
    func describe(mine: String, rank0: String) -> String {
        detail?(mine, rank0) ?? "\(mine) where rank 0 has \(rank0)"
    }
}

extension Communicator {
    /// Checks that every rank has the same `items` (in the same order on every rank), before any
    /// work; throws `AgreedFailure` (exit status `ExitStatus.ranksDisagree`) on every rank if not,
    /// whose one line, printed by the lowest rank that differs from rank 0, names that rank, its
    /// host, the first item that differs and both values.
    ///
    /// One `MPI_Allreduce(MAX)` of 4 doubles per item when the ranks agree: each 64-bit
    /// fingerprint is split into two exact 32-bit halves h, l, and the maximum of [h, l, −h, −l]
    /// over ranks gives max and −min together; they are equal for every item if and only if
    /// every rank holds the same fingerprints. Only when they differ: one broadcast of rank 0's
    /// fingerprint and value, and one `MAX` of (P − rank) over the ranks that differ from it,
    /// which finds the lowest one. O(1) collectives either way, whatever P. One process makes
    /// no collective and does not evaluate `items` (which may read files).
    public func agreeAtStart(_ makeItems: @autoclosure () -> [StartItem]) throws {
        guard size > 1 else { return }
        let items = makeItems()
        guard !items.isEmpty else { return }
        var bounds = items.flatMap { item -> [Double] in
            let (high, low) = halves(item.fingerprint)
            return [high, low, -high, -low]
        }
        bounds.withUnsafeMutableBufferPointer { allreduceMax($0) }
        let differing = items.indices.first { i in bounds[4 * i] != -bounds[4 * i + 2] || bounds[4 * i + 1] != -bounds[4 * i + 3] }
        guard let index = differing else { return }
        let item = items[index]

        // Rank 0's fingerprint and text (its value and host), to every rank.
        let rootText = rank == 0 ? Array((item.value + "\u{0}" + hostName).utf8) : []
        let (high, low) = halves(item.fingerprint)
        var facts = [high, low, Double(rootText.count)]
        facts.withUnsafeMutableBufferPointer { broadcast($0) }
        var characters = rank == 0 ? rootText.map(Double.init) : [Double](repeating: 0, count: Int(facts[2]))
        characters.withUnsafeMutableBufferPointer { broadcast($0) }
        let text = String(decoding: characters.map { UInt8($0) }, as: UTF8.self).split(separator: "\u{0}", omittingEmptySubsequences: false)
        let (rootValue, rootHost) = (String(text.first ?? ""), String(text.dropFirst().first ?? ""))

        // The lowest rank that differs from rank 0: max of (P − rank) over those that do.
        let differsFromRoot = (high, low) != (facts[0], facts[1])
        var lowest = [differsFromRoot ? Double(size - rank) : 0]
        lowest.withUnsafeMutableBufferPointer { allreduceMax($0) }
        let reportingRank = size - max(Int(lowest[0]), 1)

        let message = rank == reportingRank
            ? "rank \(rank) (host \(hostName)) \(item.differs) than rank 0 (host \(rootHost)): "
              + "\(item.describe(mine: item.value, rank0: rootValue)); \(item.advice)"
            : "rank \(reportingRank) \(item.differs) than rank 0"
        Interruption.exiting()   // a signal from here on is mpirun ending this failed job
        throw AgreedFailure(message: message, reportingRank: reportingRank, exitCode: ExitStatus.ranksDisagree)
    }
}

/// A 64-bit value as two doubles that hold its halves exactly.
private func halves(_ value: UInt64) -> (high: Double, low: Double) {
    (Double(value >> 32), Double(value & 0xFFFF_FFFF))
}

/// This host's name (`gethostname`), as a message names it.
var hostName: String {
    var name = [CChar](repeating: 0, count: 256)
    guard gethostname(&name, name.count - 1) == 0 else { return "unknown" }
    return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A fingerprint of a text's UTF-8 bytes.
func fingerprint(text: String, seed: UInt64 = 0) -> UInt64 {
    Array(text.utf8).withUnsafeBytes { fingerprint($0, seed: seed) }
}

/// A fingerprint as 16 hexadecimal digits, as messages show it.
func hexadecimal(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// What a rank runs: which sources were built, by which compiler, and the OpenBLAS kernels it
/// chose for this CPU. Ranks compare it first, before any other collective: a different build
/// may not even make the same sequence of collectives.
public struct BuildIdentity {
    /// The SHA-256 of the package's sources (`Plugins/SourceFingerprint`).
    public var sourceDigest: String
    /// " + test salt S" in a test build made to differ; empty in `mlp`.
    var testSaltNote: String
    /// The Swift compiler's version line and target, and the build configuration.
    public var compiler: String
    /// The OpenBLAS version and the core type it runs (`openblas_get_corename`): kernels for
    /// another core type may round differently.
    public var blas: String

    /// - Parameters:
    ///   - sourceDigest: the digest the `SourceFingerprint` plugin generated for this build.
    ///   - compiler: the compiler line it generated.
    ///   - testSalt: a test-only difference (`mlp-faults`' `MLP_TEST_BUILD_SALT`); nil in `mlp`.
    public init(sourceDigest: String, compiler: String, testSalt: String? = nil) {
        self.sourceDigest = sourceDigest
        testSaltNote = testSalt.map { " + test salt \($0)" } ?? ""
        #if DEBUG
        self.compiler = compiler + ", debug build"
        #else
        self.compiler = compiler + ", release build"
        #endif
        // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH …": its version; the build options do not change results.
        let version = BLASInfo.configuration.split(separator: " ").prefix(2).joined(separator: " ")
        blas = "\(version), core type \(BLASInfo.coreName)"
    }

    /// The build's items, the most telling first.
    public var items: [StartItem] {
        [StartItem(differs: "runs a different build of mlp", value: "sources \(sourceDigest.prefix(16))…\(testSaltNote)",
                   fingerprint: fingerprint(text: sourceDigest + testSaltNote),
                   advice: "build the same source on every host (or install one build that every host runs)"),
         StartItem(differs: "runs mlp built with a different compiler", text: compiler,
                   advice: "build with the same Swift toolchain and configuration on every host"),
         StartItem(differs: "runs a different OpenBLAS", text: blas,
                   advice: "install the same OpenBLAS on every host and give every rank the same core type "
                       + "(mpirun -x OPENBLAS_CORETYPE=NAME)")]
    }
}
