import Foundation
import MLP

/// `mlp plot`: learning curves from a `--metrics` file as a self-contained SVG: loss against
/// epoch on the left, accuracy against epoch on the right (classification only), each with
/// axes, ticks, labels and a legend.
public struct LearningCurves {
    /// One curve: a name, a colour and (epoch, value) points.
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
    }

    var loss: [Series] = []
    var accuracy: [Series] = []
    let title: String

    /// Reads JSON lines as `--metrics` writes them. A resumed run may repeat an epoch (its
    /// partial report, then the full one): the last line for an epoch wins.
    public init(metricsPath path: String) throws {
        let bytes = try readFileBytes(path)
        var byEpoch: [Int: [String: Any]] = [:]
        for (index, line) in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let epoch = (object["epoch"] as? NSNumber)?.intValue else {
                throw InputError("\(path):\(index + 1): not a metrics line (a JSON object with \"epoch\")")
            }
            byEpoch[epoch] = object
        }
        guard !byEpoch.isEmpty else { throw InputError("\(path): no metrics lines") }
        let epochs = byEpoch.keys.sorted()
        func series(_ key: String, _ name: String, _ color: String, scale: Double = 1) -> Series? {
            let points = epochs.compactMap { epoch -> (x: Double, y: Double)? in
                guard let value = (byEpoch[epoch]?[key] as? NSNumber)?.doubleValue, (value * scale).isFinite else { return nil }
                return (Double(epoch), value * scale)
            }
            return points.isEmpty ? nil : Series(name: name, color: color, points: points)
        }
        let train = "#1f77b4", test = "#d62728", validation = "#2ca02c"
        loss = [series("train_loss", "train", train), series("validation_loss", "validation", validation),
                series("test_loss", "test", test)].compactMap { $0 }
        accuracy = [series("train_accuracy", "train", train, scale: 100),
                    series("validation_accuracy", "validation", validation, scale: 100),
                    series("test_accuracy", "test", test, scale: 100)].compactMap { $0 }
        title = (path as NSString).lastPathComponent
    }

    /// The SVG document.
    public var svg: String {
        let panelWidth = 420.0, height = 320.0
        let panels = accuracy.isEmpty ? [(loss, "loss")] : [(loss, "loss"), (accuracy, "accuracy (%)")]
        let width = panelWidth * Double(panels.count)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="18" text-anchor="middle" font-size="14">\(escape(title))</text>

            """
        for (index, (series, label)) in panels.enumerated() {
            svg += panel(series, yLabel: label, left: Double(index) * panelWidth, width: panelWidth, height: height)
        }
        return svg + "</svg>\n"
    }

    private func panel(_ series: [Series], yLabel: String, left: Double, width: Double, height: Double) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        let xTicks = niceTicks(min: xs.min() ?? 0, max: xs.max() ?? 1, integers: true)
        let yTicks = niceTicks(min: ys.min() ?? 0, max: ys.max() ?? 1, integers: false)
        let frame = PlotFrame(left: left, width: width, height: height, xRange: (xTicks.first!, xTicks.last!),
                              yRange: (yTicks.first!, yTicks.last!))
        let (px, py, f, x1, y1) = (frame.px, frame.py, svgNumber, frame.x1, frame.y1)

        var out = "<g>\n"
        out += frame.axes(yTicks: yTicks, xTicks: xTicks.map { ($0, label($0, ticks: xTicks)) }, xTitle: "epoch", yTitle: yLabel)
        for s in series {
            let path = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for point in s.points { out += "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"2.5\" fill=\"\(s.color)\"/>\n" }
        }
        // Legend, top right of the plot area.
        for (index, s) in series.enumerated() {
            let y = y1 + 8 + Double(index) * 16
            out += "<line x1=\"\(f(x1 - 90))\" y1=\"\(f(y))\" x2=\"\(f(x1 - 70))\" y2=\"\(f(y))\" stroke=\"\(s.color)\" "
                + "stroke-width=\"2\"/>\n"
            out += "<text x=\"\(f(x1 - 64))\" y=\"\(f(y + 4))\">\(escape(s.name))</text>\n"
        }
        return out + "</g>\n"
    }
}

/// Round tick values covering [min, max] (finite): steps of 1, 2 or 5 times a power of ten.
/// Spans are taken as differences of halves or fifths, so values near ±Double.greatestFiniteMagnitude
/// neither overflow nor leave a stride of infinite or NaN steps.
func niceTicks(min low: Double, max high: Double, integers: Bool, target: Int = 5) -> [Double] {
    var low = low, high = high
    if high / 2 - low / 2 < 1e-12 { low -= Swift.max(0.5, abs(low) * 1e-9); high += Swift.max(0.5, abs(high) * 1e-9) }
    let raw = high / Double(target) - low / Double(target)
    let magnitude = pow(10, floor(log10(raw)))
    var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    if integers { step = Swift.max(1, step.rounded()) }
    // In steps: at most about target + 2 of them, each tick a finite value.
    let first = floor(low / step), last = ceil(high / step)
    guard step.isFinite, step > 0, first.isFinite, last.isFinite, last - first <= Double(4 * target) else { return [low, high] }
    let largest = Double.greatestFiniteMagnitude
    return (0 ... Int(last - first)).map { Swift.min(Swift.max((first + Double($0)) * step, -largest), largest) }
}

/// Where `value` lies in `range`, 0 at its start and 1 at its end (halves: no overflow).
func fraction(_ value: Double, of range: (Double, Double)) -> Double {
    (value / 2 - range.0 / 2) / Swift.max(range.1 / 2 - range.0 / 2, 1e-12)
}

func label(_ value: Double, ticks: [Double]) -> String {
    let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
    guard abs(value) < 1e7 || value == 0 else { return String(format: "%.3g", value) }
    let decimals = Swift.min(Swift.max(0, Int(-floor(log10(abs(step))))), 12)
    return String(format: "%.\(decimals)f", value)
}

func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;")
        .replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;")
}
