import Foundation
import XCTest
@testable import MLP
import TestSupport

/// Memory-mapped features against the kernel's page accounting, on a 64 MiB file: too large
/// for the unit tests.
final class MappedFileTests: XCTestCase {
    /// Reading every row of a mapped file grows the resident set by at most about the budget,
    /// not the file's size: the pages are released as the budget fills.
    func testMappedRowsStayWithinTheResidentBudget() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("wide.npy").path
        let rows = 16_384, columns = 1024   // 64 MiB of float32
        var bytes = NPYHeader(elementType: .float32, shape: [rows, columns]).encoded()
        bytes += [UInt8](repeating: 0, count: rows * columns * 4)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        bytes = []
        func residentFileKiB() throws -> Int {
            let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssFile:") }) else { throw XCTSkip("no RssFile in /proc/self/status") }
            return Int(line.split(separator: " ").dropFirst().first!)!
        }
        // An 8 MiB budget keeps at most 16 MiB resident. Without a budget (1 TiB) nothing is
        // released, and the same reads leave at least half the file resident: the control that
        // shows RssFile does count the pages read, so the first bound is met by releasing them.
        for (budget, bounds) in [(8 << 20, Int.min ... 16 << 10), (1 << 40, 32 << 10 ... Int.max)] {
            let mapped = try MappedFeatures<Float>(path: path, residentBudget: budget)
            let before = try residentFileKiB()
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 64 * columns)
            defer { buffer.deallocate() }
            var generator = SplitMix64(seed: 1)
            for _ in 0 ..< rows / 64 { mapped.copyRows(count: 64, into: buffer) { _ in Int(generator.next() % UInt64(rows)) } }
            let grown = try residentFileKiB() - before
            print("budget \(budget >> 20) MiB: resident file pages grew by \(grown) KiB after reading \(rows) random rows of a 64 MiB file")
            XCTAssertTrue(bounds.contains(grown), "budget \(budget >> 20) MiB: grew by \(grown) KiB, expected \(bounds) KiB")
        }
    }
}
