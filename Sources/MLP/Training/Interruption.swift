#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// SIGINT, SIGTERM and SIGUSR1 (Ctrl-C; a batch scheduler's preemption or time limit: Slurm
/// sends SIGTERM, or SIGUSR1 ahead of it with `--signal`, whose exit status 138 a job script
/// tests to requeue itself).
///
/// Before training starts nothing would be lost, so the handler ends the process at once, even
/// in a blocking call (opening a FIFO, reading a slow file system): rank 0 writes one line and
/// the process exits with 128 + the signal. Once the training loop runs (`deferUntilStep`),
/// the handler only records the signal; the trainer reads it once per step, and the ranks agree
/// on it through the step's allreduce, so all of them stop after the same step and keep a
/// checkpoint.
public enum Interruption {
    /// The signal received, 0 if none. Written by the handler, read by the training loop.
    nonisolated(unsafe) static var signalReceived: Int32 = 0
    /// Set when the training loop starts: from then on a signal stops training after a step.
    nonisolated(unsafe) static var deferred = false
    /// The lines the handler writes for SIGINT and SIGTERM before training (nil: this rank does
    /// not print), made at `install` so that the handler only calls write(2) and _exit(2).
    nonisolated(unsafe) static var interruptMessage: UnsafeBufferPointer<UInt8>?
    nonisolated(unsafe) static var terminateMessage: UnsafeBufferPointer<UInt8>?
    nonisolated(unsafe) static var userMessage: UnsafeBufferPointer<UInt8>?

    /// Installs the handlers (the command line does, once, before any work). `printing`: this
    /// process prints the line for the job (rank 0, or the only process).
    public static func install(printing: Bool) {
        func message(_ signal: Int32) -> UnsafeBufferPointer<UInt8>? {
            guard printing else { return nil }
            let bytes = Array("mlp: error: interrupted by \(name(signal)) before training started; nothing was written\n".utf8)
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
            _ = buffer.initialize(from: bytes)
            return UnsafeBufferPointer(buffer)
        }
        interruptMessage = message(SIGINT)
        terminateMessage = message(SIGTERM)
        userMessage = message(SIGUSR1)
        for number in [SIGINT, SIGTERM, SIGUSR1] {
            Glibc.signal(number) { signal in
                guard Interruption.deferred else {
                    let line = signal == SIGINT ? Interruption.interruptMessage
                        : signal == SIGTERM ? Interruption.terminateMessage : Interruption.userMessage
                    if let line { _ = write(STDERR_FILENO, line.baseAddress, line.count) }
                    _exit(128 + signal)
                }
                Interruption.signalReceived = signal
            }
        }
    }

    /// The run failed and the process is on its way out: a signal now (mpirun ending the other
    /// ranks of a failed job) ends it without a line of its own, so the job shows the failure.
    public static func exiting() {
        interruptMessage = nil
        terminateMessage = nil
        userMessage = nil
    }

    /// From now on a signal stops training after the current step (the trainer calls it as its
    /// loop starts).
    static func deferUntilStep() { deferred = true }

    public static var received: Int32 { signalReceived }

    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        case 0: return "a signal"
        default: return "signal \(signal)"
        }
    }
}

/// Training stopped, on every rank after the same step, because a rank received a signal.
public struct TrainingInterrupted: Error {
    public var position: TrainingPosition
    public var signal: Int32
}
