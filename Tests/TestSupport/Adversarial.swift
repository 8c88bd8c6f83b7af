import Foundation
import XCTest

/// The files under a folder, byte for byte, to compare before and after a run that must fail
/// without touching them (nor leaving anything new, such as a temporary file).
public struct FolderSnapshot: Equatable {
    public let files: [String: Data]

    public init(_ folder: URL) throws {
        var files: [String: Data] = [:]
        let names = try FileManager.default.subpathsOfDirectory(atPath: folder.path)
        for name in names.sorted() {
            var isDirectory: ObjCBool = false
            let path = folder.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            files[name] = FileManager.default.contents(atPath: path) ?? Data()
        }
        self.files = files
    }

    /// What differs from `before`, for a failure message: added, removed and changed names.
    public func changes(since before: FolderSnapshot) -> String {
        let added = Set(files.keys).subtracting(before.files.keys).sorted()
        let removed = Set(before.files.keys).subtracting(files.keys).sorted()
        let changed = files.keys.filter { before.files[$0] != nil && before.files[$0] != files[$0] }.sorted()
        return "added \(added), removed \(removed), changed \(changed)"
    }
}

/// Checks a run that must be refused: it ended by itself (no liveness limit reached) with
/// `status`, and stderr holds exactly one `mlp: error:` line (one for the whole job, under
/// mpirun too), which contains each of `parts`. Returns that line.
@discardableResult
public func assertRefused(_ output: MLPProcess.Output, status: Int32, _ parts: String..., file: StaticString = #filePath,
                          line: UInt = #line) -> String {
    XCTAssertFalse(output.timedOut, "hung: killed after \(Int(output.seconds)) s\n\(output.stderr)", file: file, line: line)
    XCTAssertEqual(output.reason, .exit, "ended by a signal: \(output.status)\n\(output.stderr)", file: file, line: line)
    XCTAssertEqual(output.status, status, output.stderr, file: file, line: line)
    let errors = output.stderr.split(separator: "\n").filter { $0.hasPrefix("mlp: error:") }
    XCTAssertEqual(errors.count, 1, "one error line for the job:\n\(output.stderr)", file: file, line: line)
    let message = errors.first.map(String.init) ?? ""
    for part in parts { XCTAssertTrue(message.contains(part), "'\(part)' not in: \(message)", file: file, line: line) }
    return message
}
