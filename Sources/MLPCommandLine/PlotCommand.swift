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
            try checkWritable(output, option: "--output")
            let svg = try LearningCurves(metricsPath: metrics).svg
            try writeFileAtomically(Array(svg.utf8), to: output)
            standardOutput.line("wrote \(output)")
        }
    }
}
