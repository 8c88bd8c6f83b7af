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

/// `--metrics`: one JSON object per epoch and line, each line complete or absent.
///
/// The file the user named stays as it was until this run finishes its first epoch, so a run
/// that fails before that (bad data, a refused option, a non-finite first epoch, a full disk)
/// leaves an earlier file byte for byte. At the end of the first epoch the file is replaced
/// atomically (temporary file, fsync, rename) by the kept lines of a resumed run and that
/// epoch's line; each later epoch appends its line with one `write`, cut back (`ftruncate`) to
/// the last complete line if the write fails, so the file never ends in half a line and stays
/// the same file (`tail -f` follows it). A resumed run keeps the complete lines of epochs up to
/// the checkpoint's step and drops the rest, which it runs again: no epoch appears twice.
final class MetricsWriter {
    let path: String
    /// The kept lines of a resumed run, written with the first epoch's line; then empty.
    private var pending: [UInt8]
    /// The file, open for appending after the first epoch; -1 before.
    private var descriptor: Int32 = -1
    /// Its length: the end of its last complete line.
    private var length = 0

    /// - Parameters:
    ///   - resumingAt: the step of the checkpoint a resumed run starts from: the existing file's
    ///     lines of epochs up to it are kept. nil: a new run, whose lines replace the file.
    init(path: String, resumingAt step: Int?) throws {
        try checkWritable(path, option: "--metrics")
        self.path = path
        pending = []
        if let step, access(path, F_OK) == 0 {
            pending = Self.completeLines(of: try readFileBytes(path), upToStep: step)
        }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// The complete lines of `bytes` (those ending in a newline) that are JSON objects of an
    /// epoch ending at or before `step`.
    static func completeLines(of bytes: [UInt8], upToStep step: Int) -> [UInt8] {
        var kept: [UInt8] = []
        var start = 0
        while let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(bytes[start ... end])
            start = end + 1
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let lineStep = object["step"] as? Int, lineStep <= step else { continue }
            kept += line
        }
        return kept
    }

    func append(_ report: EpochReport) throws {
        let line = Array(Self.line(report).utf8)
        if descriptor < 0 {
            let bytes = pending + line
            try writeFileAtomically(bytes, to: path)
            pending = []
            descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard descriptor >= 0 else { throw WriteError(path: path, reason: errnoDescription()) }
            length = bytes.count
            return
        }
        do {
            try line.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
            length += line.count
        } catch {
            // No half-written line: back to the end of the last complete one.
            _ = ftruncate(descriptor, off_t(length))
            throw error
        }
    }

    /// 16 hexadecimal digits.
    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The JSON line of one epoch.
    static func line(_ report: EpochReport) -> String {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return "\(value)"
        }
        return "{\"epoch\":\(report.epoch),\"step\":\(report.step),\"train_loss\":\(number(report.trainLoss)),"
            + "\"train_accuracy\":\(number(report.trainAccuracy)),\"test_loss\":\(number(report.testLoss)),"
            + "\"test_accuracy\":\(number(report.testAccuracy)),\"validation_loss\":\(number(report.validationLoss)),"
            + "\"validation_accuracy\":\(number(report.validationAccuracy)),\"learning_rate\":\(number(report.learningRate)),"
            + "\"parameters_fingerprint\":\"\(hex(report.parametersFingerprint))\","
            + "\"seconds\":\(number(report.seconds)),\"samples_per_second\":\(number(report.samplesPerSecond))}\n"
    }
}
