import Foundation
import MLP

/// `mlp plot --sweep`: a sweep's mean score against each of its parameters, one panel per
/// parameter, as a self-contained SVG. Each trial that succeeded is a point at its mean score,
/// with a bar of ± its folds' deviation. A parameter whose values are all numbers gets a number
/// axis (logarithmic when they are positive and span more than a factor of 20, as `log:` draws
/// do); other values (`64|32`, `adam`) are categories, in the order the file first has them.
public struct SweepScores {
    struct Point {
        var x: Double, score: Double, deviation: Double
    }

    struct Panel {
        var name: String
        /// Non-empty for a parameter of categories: x is an index into it.
        var categories: [String]
        var logarithmic: Bool
        var points: [Point]
    }

    var panels: [Panel] = []
    let title: String

    /// Reads JSON lines as `mlp sweep --results` writes them. With `--halving` a trial has a line
    /// per round it reached: its last round counts.
    public init(resultsPath path: String) throws {
        let bytes = try readFileBytes(path)
        var latest: [Int: TrialRecord] = [:]
        for (index, line) in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated() {
            guard let record = TrialRecord(line: line) else {
                throw InputError("\(path):\(index + 1): not a line of mlp sweep --results (a JSON object with \"trial\", "
                    + "\"status\", \"fold_scores\" and \"sweep\")")
            }
            if let earlier = latest[record.trial], (earlier.round ?? 0) > (record.round ?? 0) { continue }
            latest[record.trial] = record
        }
        guard !latest.isEmpty else { throw InputError("\(path): no mlp sweep --results lines") }
        let succeeded = latest.keys.sorted().compactMap { latest[$0] }.filter(\.succeeded)
        guard !succeeded.isEmpty else { throw InputError("\(path): no trial succeeded: there is no score to draw") }
        var names: [String] = []
        for record in succeeded { for value in record.parameters where !names.contains(value.name) { names.append(value.name) } }
        panels = names.map { name in Self.panel(name, of: succeeded) }
        title = (path as NSString).lastPathComponent
    }

    private static func panel(_ name: String, of records: [TrialRecord]) -> Panel {
        let given = records.compactMap { record in
            record.parameters.first { $0.name == name }.map { (text: $0.value, record: record) }
        }
        let numbers = given.map { Double($0.text) }
        if numbers.allSatisfy({ $0?.isFinite == true }) {
            let values = numbers.map { $0! }
            let logarithmic = values.allSatisfy { $0 > 0 } && values.max()! > 20 * values.min()!
            let points = zip(values, given).map { value, entry in
                Point(x: logarithmic ? Foundation.log10(value) : value, score: entry.record.meanScore!,
                      deviation: entry.record.standardDeviation ?? 0)
            }
            return Panel(name: name, categories: [], logarithmic: logarithmic, points: points)
        }
        var categories: [String] = []
        for entry in given where !categories.contains(entry.text) { categories.append(entry.text) }
        let points = given.map { entry in
            Point(x: Double(categories.firstIndex(of: entry.text)!), score: entry.record.meanScore!,
                  deviation: entry.record.standardDeviation ?? 0)
        }
        return Panel(name: name, categories: categories, logarithmic: false, points: points)
    }

    /// The SVG document.
    public var svg: String {
        let panelWidth = 360.0, height = 320.0
        let width = panelWidth * Double(panels.count)
        let scores = panels.flatMap { $0.points.flatMap { [$0.score - $0.deviation, $0.score + $0.deviation] } }.filter(\.isFinite)
        let yTicks = niceTicks(min: scores.min() ?? 0, max: scores.max() ?? 1, integers: false)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="18" text-anchor="middle" font-size="14">\(escape(title))</text>

            """
        for (index, panel) in panels.enumerated() {
            svg += draw(panel, yTicks: yTicks, left: Double(index) * panelWidth, width: panelWidth, height: height)
        }
        return svg + "</svg>\n"
    }

    /// One parameter's panel; every panel shares the score axis, so they read side by side.
    private func draw(_ panel: Panel, yTicks: [Double], left: Double, width: Double, height: Double) -> String {
        let xs = panel.points.map(\.x)
        // Categories sit at 0, 1, … with half a step of room on either side.
        let xRange = panel.categories.isEmpty ? niceTicks(min: xs.min()!, max: xs.max()!, integers: false)
            : [-0.5, Double(panel.categories.count) - 0.5]
        let frame = PlotFrame(left: left, width: width, height: height, xRange: (xRange.first!, xRange.last!),
                              yRange: (yTicks.first!, yTicks.last!))
        let (px, py, f) = (frame.px, frame.py, svgNumber)

        let xTicks: [(x: Double, text: String)] = panel.categories.isEmpty
            ? xRange.map { ($0, panel.logarithmic ? String(format: "%g", Foundation.pow(10, $0)) : label($0, ticks: xRange)) }
            : panel.categories.enumerated().map { (Double($0.offset), $0.element) }
        var out = "<g>\n"
        out += frame.axes(yTicks: yTicks, xTicks: xTicks, xTitle: panel.name + (panel.logarithmic ? " (log scale)" : ""),
                          yTitle: "mean score")
        let color = "#1f77b4"
        for point in panel.points {
            let x = f(px(point.x))
            if point.deviation > 0 {
                out += "<line x1=\"\(x)\" y1=\"\(f(py(point.score - point.deviation)))\" x2=\"\(x)\" "
                    + "y2=\"\(f(py(point.score + point.deviation)))\" stroke=\"\(color)\" stroke-opacity=\"0.5\"/>\n"
            }
            out += "<circle cx=\"\(x)\" cy=\"\(f(py(point.score)))\" r=\"3\" fill=\"\(color)\"/>\n"
        }
        return out + "</g>\n"
    }
}
