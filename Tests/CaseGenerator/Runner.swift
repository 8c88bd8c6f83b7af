import Foundation
import TestSupport

typealias RunOutput = MLPProcess.Output

extension MLPProcess.Output {
    var signalled: Bool { reason == .uncaughtSignal }
}

/// Runs a case in its own scratch directory with a liveness limit, one process or `mpirun -n 2`.
enum Runner {
    /// The liveness limit of one case: a hang, not a slow run (each case trains a few steps on ≤ 8 rows).
    static let timeLimit: Double = 60

    /// The shell line that runs `arguments` in `directory`: what a failure prints to reproduce it.
    static func commandLine(_ arguments: [String], ranks: Int, mlp: String, in directory: URL, environment: [String: String] = [:],
                            exec: Bool = false) -> String {
        var words = [mlp] + arguments
        if ranks > 1 { words = [(try? MLPProcess.which("mpirun")) ?? "mpirun"] + MLPProcess.mpirunFlags + ["-n", "\(ranks)"] + words }
        if !environment.isEmpty { words = ["env"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + words }
        return "cd \(quote(directory.path)) && " + (exec ? "exec " : "") + words.map(quote).joined(separator: " ")
    }

    /// - Parameter standardOutput: a file for stdout's bytes (an ONNX model is not text), outside the scratch directory.
    static func run(_ arguments: [String], ranks: Int, mlp: String, in directory: URL, environment: [String: String] = [:],
                    standardOutput: URL? = nil) throws -> RunOutput {
        // `exec`: the shell becomes mlp (or mpirun, or env, which execs them), so a signal that ends it is what the status shows.
        let line = commandLine(arguments, ranks: ranks, mlp: mlp, in: directory, environment: environment, exec: true)
            + (standardOutput.map { " > " + quote($0.path) } ?? "")
        // Most cases end in a refusal: without mpirun's second after a non-zero exit (a case that
        // works past a rank's failure would show it as a file left behind or a missing line).
        return try MLPProcess.launch("/bin/sh", ["-c", line], environment: ranks > 1 ? MLPProcess.refusalEnvironment : [:],
                                     timeLimit: timeLimit)
    }

    /// A word as the shell reads it back.
    static func quote(_ word: String) -> String {
        let plain = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+")
        if !word.isEmpty && word.unicodeScalars.allSatisfy(plain.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Prepares, snapshots, runs and snapshots one case; FIFOs get a reader so an accepted one cannot block the run.
    static func execute(_ drawn: Case, mlp: String, in directory: URL, fixtures: URL) throws -> Outcome {
        try Scratch.prepare(drawn, in: directory, fixtures: fixtures)
        let before = Snapshot(directory)
        let fifos = drawn.outputs.filter { $0.kind == .fifo }
        let readers = fifos.map { FIFOReader(directory.appendingPathComponent(Scratch.madePath($0)).path) }
        let captured = directory.deletingLastPathComponent().appendingPathComponent(directory.lastPathComponent + ".stdout")
        let output = try run(drawn.arguments, ranks: drawn.ranks, mlp: mlp, in: directory, environment: drawn.environment,
                             standardOutput: captured)
        defer { try? FileManager.default.removeItem(at: captured) }
        var streamed: [String: [UInt8]] = [:]
        for (out, reader) in zip(fifos, readers) { streamed[out.path] = reader.finish() }
        streamed["-"] = (try? [UInt8](Data(contentsOf: captured))) ?? []
        return Outcome(output: output, before: before, after: Snapshot(directory), streamed: streamed)
    }
}

/// Reads a FIFO from before the run starts until `finish`: opened without waiting for a writer, so a writer's
/// open never blocks, and drained so a writer never fills the pipe.
final class FIFOReader: @unchecked Sendable {
    private let descriptor: Int32
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(_ path: String) {
        descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { done.signal(); return }
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count > 0 { lock.withLock { bytes += buffer.prefix(count) }; continue }
                if lock.withLock({ stopped }) { break }
                usleep(20_000)   // no writer yet, or nothing written: poll again
            }
            done.signal()
        }
    }

    /// What was read; called after the run has ended.
    func finish() -> [UInt8] {
        lock.withLock { stopped = true }
        done.wait()
        if descriptor >= 0 { close(descriptor) }
        return lock.withLock { bytes }
    }
}
