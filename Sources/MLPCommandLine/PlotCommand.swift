import ArgumentParser
import MLP
import MLPPlot

/// `mlp plot`: learning curves from a metrics file, as SVG.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw train/validation/test loss and accuracy against epochs from a --metrics file, as a self-contained SVG.")

    @Option(help: ArgumentHelp("JSON lines written by mlp train --metrics.", valueName: "file"))
    var metrics: String

    @Option(help: ArgumentHelp("The SVG file to write.", valueName: "file"))
    var output: String

    func run() throws {
        try withoutCommunicator {
            try refuseOverlappingFiles(reads: [NamedFile("--metrics", metrics)], writes: [NamedFile("--output", output)])
            let destination = try OutputPath(output, for: .plotOutput)
            let svg = try LearningCurves(metricsPath: metrics).svg
            try stoppingQuietlyIfTheReaderLeft {
                try destination.write(Array(svg.utf8))
                standardOutput.line("wrote \(output)")
            }
        }
    }
}
