import ArgumentParser
import MLP
import MLPPlot

/// `mlp plot`: learning curves from a metrics file, or a sweep's scores against its parameters, as SVG.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw train/validation/test loss and accuracy against epochs from a --metrics file, or a sweep's mean "
            + "score against each parameter from its --results file, as a self-contained SVG.")

    @Option(help: ArgumentHelp("JSON lines written by mlp train --metrics.", valueName: "file"))
    var metrics: String?

    @Option(help: ArgumentHelp("JSON lines written by mlp sweep --results (instead of --metrics).", valueName: "file"))
    var sweep: String?

    @Option(help: ArgumentHelp("The SVG file to write.", valueName: "file"))
    var output: String

    func validate() throws {
        guard (metrics == nil) != (sweep == nil) else {
            throw ValidationError("give one of --metrics FILE (learning curves) and --sweep FILE (a sweep's scores)")
        }
    }

    func run() throws {
        try withoutCommunicator {
            let input = metrics.map { NamedFile("--metrics", $0) } ?? NamedFile("--sweep", sweep!)
            try refuseOverlappingFiles(reads: [input], writes: [NamedFile("--output", output)])
            let destination = try OutputPath(output, for: .plotOutput)
            let svg = try metrics.map { try LearningCurves(metricsPath: $0).svg } ?? SweepScores(resultsPath: sweep!).svg
            try stoppingQuietlyIfTheReaderLeft {
                try destination.write(Array(svg.utf8))
                standardOutput.line("wrote \(output)")
            }
        }
    }
}
