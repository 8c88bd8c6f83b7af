import Foundation

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
///
/// A stream (`-`, a FIFO, a device) gets each line as its epoch ends and is never replaced; when
/// its reader has gone (EPIPE) the lines stop and training goes on.
final class MetricsWriter {
    let output: OutputPath
    /// The file written: a symbolic link's target.
    var path: String { output.destination }
    /// A stream's open descriptor, after its first line; nil after its reader has gone.
    private var stream: OutputStream?
    private var streamClosed = false
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
        output = try OutputPath(path, for: .metrics)
        pending = []
        if let step, !output.isStream, access(output.destination, F_OK) == 0 {
            pending = Self.completeLines(of: try readFileBytes(output.destination), upToStep: step)
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
        if output.isStream { return try appendToStream(line) }
        if descriptor < 0 {
            let bytes = pending + line
            try writeFileAtomically(bytes, to: path)
            pending = []
            descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard descriptor >= 0 else { throw WriteError(path: path, code: errno) }
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

    private func appendToStream(_ line: [UInt8]) throws {
        guard !streamClosed else { return }
        do {
            if stream == nil { stream = try OutputStream(output) }
            try stream?.write(line)
        } catch is OutputStreamClosed {
            streamClosed = true
            stream = nil
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
