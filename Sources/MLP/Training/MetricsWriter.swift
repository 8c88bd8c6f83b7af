import Foundation

/// Fails now, before any work, if `path`'s directory does not exist or cannot be written
/// (an `InputError` naming `option`).
public func checkWritable(_ path: String?, option: String) throws {
    guard let path else { return }
    let directory = (path as NSString).deletingLastPathComponent
    let target = directory.isEmpty ? "." : directory
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw InputError("\(option) \(path): directory \(target) does not exist")
    }
    guard access(target, W_OK) == 0 else { throw InputError("\(option) \(path): directory \(target) is not writable") }
}

/// `--metrics`: one JSON object per epoch and line, flushed as it is written.
final class MetricsWriter {
    let handle: FileHandle
    let path: String

    /// Truncates the file, or appends to it when a resumed run continues its metrics.
    init(path: String, appending: Bool) throws {
        try checkWritable(path, option: "--metrics")
        let exists = FileManager.default.fileExists(atPath: path)
        guard (appending && exists) || FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw InputError("--metrics \(path): cannot create the file")
        }
        if appending { _ = try? handle.seekToEnd() }
        self.handle = handle
        self.path = path
    }

    deinit { try? handle.close() }

    func append(_ report: EpochReport) throws {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return "\(value)"
        }
        let line = "{\"epoch\":\(report.epoch),\"step\":\(report.step),\"train_loss\":\(number(report.trainLoss)),"
            + "\"train_accuracy\":\(number(report.trainAccuracy)),\"test_loss\":\(number(report.testLoss)),"
            + "\"test_accuracy\":\(number(report.testAccuracy)),\"validation_loss\":\(number(report.validationLoss)),"
            + "\"validation_accuracy\":\(number(report.validationAccuracy)),\"learning_rate\":\(number(report.learningRate)),"
            + "\"seconds\":\(number(report.seconds)),\"samples_per_second\":\(number(report.samplesPerSecond))}\n"
        do { try handle.write(contentsOf: Data(line.utf8)) } catch {
            throw WriteError(path: path, reason: error.localizedDescription)
        }
    }
}
