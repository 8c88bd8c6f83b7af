import Foundation

/// Rank 0's lines on stdout and stderr, written so that a reader that has gone (`| head -1`, a
/// closed terminal) never ends the command: SIGPIPE is ignored, and after EPIPE on a stream its
/// lines stop while the work goes on and writes its outputs.
public enum StandardStreams {
    /// Set when an output is `-` (standard output): status and progress lines then go to stderr.
    public nonisolated(unsafe) static var linesToStandardError = false
    nonisolated(unsafe) static var closed: Set<Int32> = []

    /// Ignore SIGPIPE for the whole process: a write to a closed pipe then fails with EPIPE,
    /// which each writer handles, instead of killing the process before it saves anything.
    public static func ignoreBrokenPipes() { signal(SIGPIPE, SIG_IGN) }

    /// Writes `text` to stdout (stderr while stdout carries an output) unless that reader has gone.
    public static func writeStatus(_ text: String) {
        write(text, to: linesToStandardError ? STDERR_FILENO : STDOUT_FILENO)
    }

    /// Writes `text` to stderr unless its reader has gone.
    public static func writeError(_ text: String) { write(text, to: STDERR_FILENO) }

    static func write(_ text: String, to descriptor: Int32) {
        guard !closed.contains(descriptor) else { return }
        fflush(nil)   // what stdio still holds goes first
        let bytes = Array(text.utf8)
        do {
            try bytes.withUnsafeBytes { try writeAll(descriptor, $0, path: descriptor == STDOUT_FILENO ? "stdout" : "stderr") }
        } catch {
            // EPIPE, or a stream that fails otherwise: nothing more goes there; the work goes on.
            closed.insert(descriptor)
        }
    }
}
