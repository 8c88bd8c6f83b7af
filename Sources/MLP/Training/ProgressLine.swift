import Foundation

/// Rank 0's progress bar for the epoch on a terminal: steps done, samples/s, running loss,
/// time left. Redrawn at most ten times a second so it costs nothing measurable.
final class ProgressLine {
    let epochs: Int
    let draw: (String) -> Void
    private var epoch = 0
    private var epochStart = Date()
    private var firstBatch = 0
    private var lastDraw = Date.distantPast

    init(epochs: Int, draw: @escaping (String) -> Void) {
        self.epochs = epochs
        self.draw = draw
    }

    func update(_ position: TrainingPosition, batchesPerEpoch: Int) {
        let now = Date()
        if position.epoch != epoch {
            // Timing starts at the first step seen in this epoch (a resumed epoch starts midway).
            epoch = position.epoch
            epochStart = now
            firstBatch = position.batchInEpoch - 1
        }
        guard now.timeIntervalSince(lastDraw) >= 0.1 || position.batchInEpoch == batchesPerEpoch else { return }
        lastDraw = now
        let done = position.batchInEpoch, elapsed = now.timeIntervalSince(epochStart)
        let stepsTimed = max(done - firstBatch, 1)
        let secondsLeft = elapsed / Double(stepsTimed) * Double(batchesPerEpoch - done)
        let width = 24, filled = width * done / max(batchesPerEpoch, 1)
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let samplesPerSecond = position.epochSamples / Double(max(done, 1)) * Double(stepsTimed) / max(elapsed, 1e-9)
        let loss = position.epochLossSum / max(position.epochSamples, 1)
        draw("epoch \(epoch)/\(epochs) [\(bar)] \(done)/\(batchesPerEpoch)  loss \(fixed(loss, 4))  \(Int(samplesPerSecond)) "
            + "samples/s  \(Int(secondsLeft.rounded()))s left")
    }

    /// Leaves the line empty for the next full line of output.
    func clear() { draw("") }
}
