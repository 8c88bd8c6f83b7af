import Foundation
import XCTest
@testable import MLP

/// Runs the built `mlp` executable, directly or under real `mpirun`.
enum MLPProcess {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `mlp` built beside this test bundle (`swift test` builds every target).
    static var executable: URL { built("mlp") }

    /// `mlp-faults`: `mlp` with the faults of `Tests/FaultInjection` that the MLP_TEST_*
    /// environment variables choose.
    static var faultInjecting: URL { built("mlp-faults") }

    /// The executable `name` built beside this test bundle.
    static func built(_ name: String) -> URL {
        var directory = Bundle.main.bundleURL
        for _ in 0 ..< 3 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        fatalError("\(name) executable not found near \(Bundle.main.bundleURL.path)")
    }

    static var isRoot: Bool { geteuid() == 0 }

    /// `mlp arguments…` (or another `executable`) as one process (the single-node fallback).
    static func run(_ arguments: [String], environment: [String: String] = [:],
                    executable: URL = MLPProcess.executable) throws -> Output {
        try launch(executable.path, arguments, environment: environment)
    }

    /// `mpirun -n ranks mlp arguments…` (or another `executable`), oversubscribed, one OpenBLAS
    /// thread per rank.
    static func mpirun(ranks: Int, _ arguments: [String], environment: [String: String] = [:],
                       executable: URL = MLPProcess.executable) throws -> Output {
        var flags = ["--oversubscribe", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=1"]
        if isRoot { flags.append("--allow-run-as-root") }
        return try launch(try which("mpirun"), flags + ["-n", "\(ranks)", executable.path] + arguments, environment: environment)
    }

    static func which(_ name: String) throws -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("\(name) is not on PATH: install openmpi-bin (bash .ci/run does)")
    }

    static func launch(_ path: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("out"), errURL = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: try String(contentsOf: outURL, encoding: .utf8),
                      stderr: try String(contentsOf: errURL, encoding: .utf8))
    }
}

/// A scratch directory removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A small classification CSV: `rows` rows of 5 features, 3 classes decided by a fixed
/// non-linear rule (learnable, not trivially), deterministic from the seed.
func writeClassificationCSV(_ url: URL, rows: Int, seed: UInt64) throws {
    var generator = SplitMix64(seed: seed)
    var text = "f1,f2,f3,f4,f5,label\n"
    for _ in 0 ..< rows {
        let x = (0 ..< 5).map { _ in 2 * generator.nextUniform() - 1 }
        let score = x[0] * x[1] + 0.5 * x[2] - x[3] * x[3]
        let label = score > 0.1 ? "cat" : (score < -0.3 ? "dog" : "emu")
        text += x.map { String(format: "%.6f", $0) }.joined(separator: ",") + ",\(label)\n"
    }
    try text.write(to: url, atomically: true, encoding: .utf8)
}

/// A small regression CSV with two target columns y1, y2.
func writeRegressionCSV(_ url: URL, rows: Int, seed: UInt64) throws {
    var generator = SplitMix64(seed: seed)
    var text = "a,b,c,y1,y2\n"
    for _ in 0 ..< rows {
        let x = (0 ..< 3).map { _ in 2 * generator.nextUniform() - 1 }
        let y1 = sin(2 * x[0]) + x[1] * x[2], y2 = x[0] - 0.5 * x[2] * x[2]
        text += (x + [y1, y2]).map { String(format: "%.6f", $0) }.joined(separator: ",") + "\n"
    }
    try text.write(to: url, atomically: true, encoding: .utf8)
}

/// Largest |a − b| / max(|a|, |b|, floor) over all parameters of two model files.
func maxRelativeDifference(_ a: ModelFile, _ b: ModelFile, floor: Double = 1e-3) -> Double {
    precondition(a.layerSizes == b.layerSizes && a.parameters.count == b.parameters.count)
    return zip(a.parameters, b.parameters).map { abs($0 - $1) / max(abs($0), abs($1), floor) }.max() ?? 0
}

/// The package root, from this file's path (Tests/MLPTests/Support.swift).
var packageRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// `../shared/data/mnist` beside the package, or a skip that says where it looked.
func mnistDirectory() throws -> String {
    let directory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/mnist").path
    guard FileManager.default.fileExists(atPath: directory) else {
        throw XCTSkip("MNIST not found at \(directory): skipping (it is in ../shared/data/mnist on the team's machines)")
    }
    return directory
}
