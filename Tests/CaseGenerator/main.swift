// `mlp-cases`: adversarial command lines for `mlp`, drawn from the library's declarations (each train option's
// type and range, each output's accepted kinds of path), run in scratch directories and checked by an oracle.
//   mlp-cases --cases N --seed S [--mlp PATH] [--ranks-fraction F] [--jobs J] [--only K] [--keep]
// Ends with a coverage table and the line `N passed, M failed`; exit 1 when a case failed.
import Foundation
import MLP
import TestSupport

struct Settings {
    var cases = 100, seed: UInt64 = 1, ranksFraction = 0.1, jobs = 2
    var only: Int?
    var keep = false
    var mlp: String?

    init(_ arguments: [String]) {
        var words = arguments.makeIterator()
        while let word = words.next() {
            func parsed<T>(_ value: T?, _ message: String) -> T {
                guard let value else { Settings.usage(message) }
                return value
            }
            func next() -> String {
                guard let value = words.next() else { Settings.usage("\(word) needs a value") }
                return value
            }
            switch word {
            case "--cases": cases = parsed(Int(next()), "--cases takes a count")
            case "--seed": seed = parsed(UInt64(next()), "--seed takes an unsigned integer")
            case "--ranks-fraction": ranksFraction = parsed(Double(next()), "--ranks-fraction takes a number in [0, 1]")
            case "--jobs": jobs = max(1, parsed(Int(next()), "--jobs takes a count"))
            case "--only": only = parsed(Int(next()), "--only takes a case index")
            case "--keep": keep = true
            case "--mlp": mlp = next()
            default: Settings.usage("unknown argument \(word)")
            }
        }
    }

    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(Data(("mlp-cases: \(message)\nusage: mlp-cases --cases N --seed S [--mlp PATH] "
                                             + "[--ranks-fraction F] [--jobs J] [--only K] [--keep]\n").utf8))
        exit(64)
    }
}

/// What the workers share: the next case to run, the coverage and the failures.
final class Progress: @unchecked Sendable {
    let lock = NSLock()
    var next = 0
    var coverage = Coverage()
    var passed = 0
    var failures: [(Int, String)] = []
}

func main() throws {
    let settings = Settings(Array(CommandLine.arguments.dropFirst()))
    let mlp = try settings.mlp ?? MLPProcess.executable("mlp").path
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-cases-\(getpid())")
    let fixtures = base.appendingPathComponent("fixtures")
    try Scratch.makeFixtures(in: fixtures, mlp: mlp)
    let drawer = Drawer(seed: settings.seed, ranksFraction: settings.ranksFraction)
    let indices = settings.only.map { [$0] } ?? Array(0 ..< settings.cases)
    let oracle = Oracle(mlp: mlp)
    let progress = Progress()
    let started = Date()
    DispatchQueue.concurrentPerform(iterations: settings.jobs) { _ in
        while true {
            let position: Int = progress.lock.withLock { defer { progress.next += 1 }; return progress.next }
            guard position < indices.count else { return }
            let drawn = drawer.draw(indices[position])
            let directory = base.appendingPathComponent("case-\(drawn.index)")
            let command = Runner.commandLine(drawn.arguments, ranks: drawn.ranks, mlp: mlp, in: directory,
                                                 environment: drawn.environment)
            var problems: [String]
            var status = "-"
            do {
                let outcome = try Runner.execute(drawn, mlp: mlp, in: directory, fixtures: fixtures)
                status = "\(outcome.output.status)"
                problems = oracle.judge(drawn, outcome, in: directory)
                if !problems.isEmpty {
                    problems.append("stderr: " + outcome.output.stderr.suffix(600).replacingOccurrences(of: "\n", with: "⏎"))
                }
            } catch {
                problems = ["could not run the case: \(error)"]
            }
            let report = "FAIL case \(drawn.index) (exit \(status)):\n  reproduce: mlp-cases --seed \(settings.seed) --only \(drawn.index)"
                + " --keep\n  command: \(command)\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
            if problems.isEmpty && !settings.keep { Scratch.remove(directory) }
            progress.lock.withLock {
                progress.coverage.add(drawn)
                progress.coverage.statuses[status, default: 0] += 1
                if drawn.command == .sweep { progress.coverage.sweepStatuses[status, default: 0] += 1 }
                if problems.isEmpty { progress.passed += 1 } else { progress.failures.append((drawn.index, report)) }
            }
            // Unbuffered, so a failure shows while the run goes on (and survives an interrupted run).
            if !problems.isEmpty { FileHandle.standardOutput.write(Data((report + "\n").utf8)) }
        }
    }
    print(progress.coverage.table())
    let kept = progress.failures.isEmpty && !settings.keep ? "" : "; scratch directories kept in \(base.path)"
    print(String(format: "seed %llu, %d cases, %.0f s", settings.seed, indices.count, Date().timeIntervalSince(started)) + kept)
    if progress.failures.isEmpty && !settings.keep { Scratch.remove(base) }
    print("\(progress.passed) passed, \(progress.failures.count) failed")
    exit(progress.failures.isEmpty ? 0 : 1)
}

do { try main() } catch {
    FileHandle.standardError.write(Data("mlp-cases: \(error)\n".utf8))
    exit(1)
}
