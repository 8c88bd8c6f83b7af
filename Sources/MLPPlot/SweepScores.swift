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
        let x0 = left + 60, x1 = left + width - 20, y0 = height - 45, y1 = 35.0
        let xs = panel.points.map(\.x)
        // Categories sit at 0, 1, … with half a step of room on either side.
        let xRange = panel.categories.isEmpty ? niceTicks(min: xs.min()!, max: xs.max()!, integers: false)
            : [-0.5, Double(panel.categories.count) - 0.5]
        let xBounds = (xRange.first!, xRange.last!), yBounds = (yTicks.first!, yTicks.last!)
        func px(_ x: Double) -> Double { x0 + fraction(x, of: xBounds) * (x1 - x0) }
        func py(_ y: Double) -> Double { y0 - fraction(y, of: yBounds) * (y0 - y1) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var out = "<g>\n"
        for tick in yTicks {
            out += "<line x1=\"\(f(x0))\" y1=\"\(f(py(tick)))\" x2=\"\(f(x1))\" y2=\"\(f(py(tick)))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(x0 - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\">\(label(tick, ticks: yTicks))</text>\n"
        }
        let xTicks: [(x: Double, text: String)] = panel.categories.isEmpty
            ? xRange.map { ($0, panel.logarithmic ? String(format: "%g", Foundation.pow(10, $0)) : label($0, ticks: xRange)) }
            : panel.categories.enumerated().map { (Double($0.offset), $0.element) }
        for tick in xTicks {
            out += "<line x1=\"\(f(px(tick.x)))\" y1=\"\(f(y0))\" x2=\"\(f(px(tick.x)))\" y2=\"\(f(y0 + 5))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(f(px(tick.x)))\" y=\"\(f(y0 + 18))\" text-anchor=\"middle\">\(escape(tick.text))</text>\n"
        }
        out += "<line x1=\"\(f(x0))\" y1=\"\(f(y0))\" x2=\"\(f(x1))\" y2=\"\(f(y0))\" stroke=\"black\"/>\n"
        out += "<line x1=\"\(f(x0))\" y1=\"\(f(y0))\" x2=\"\(f(x0))\" y2=\"\(f(y1))\" stroke=\"black\"/>\n"
        let axis = panel.name + (panel.logarithmic ? " (log scale)" : "")
        out += "<text x=\"\(f((x0 + x1) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(escape(axis))</text>\n"
        out += "<text x=\"\(f(left + 16))\" y=\"\(f((y0 + y1) / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(left + 16)) "
            + "\(f((y0 + y1) / 2)))\">mean score</text>\n"
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
