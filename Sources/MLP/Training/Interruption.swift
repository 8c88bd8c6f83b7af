#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// SIGINT and SIGTERM (Ctrl-C, a batch scheduler's preemption) ask training to stop cleanly:
/// the handler only records the signal; the trainer reads it once per step, and the ranks agree
/// on it through the step's allreduce, so all of them stop after the same step.
public enum Interruption {
    /// The signal received, 0 if none. Written by the handler, read by the training loop.
    nonisolated(unsafe) static var signalReceived: Int32 = 0

    /// Installs the handlers (the command line does, once).
    public static func install() {
        for number in [SIGINT, SIGTERM] {
            Glibc.signal(number) { Interruption.signalReceived = $0 }
        }
    }

    public static var received: Int32 { signalReceived }

    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        default: return "signal \(signal)"
        }
    }
}

/// Training stopped, on every rank after the same step, because a rank received a signal.
public struct TrainingInterrupted: Error {
    public var position: TrainingPosition
    public var signal: Int32
}
