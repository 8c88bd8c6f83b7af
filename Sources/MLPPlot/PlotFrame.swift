import Foundation

/// One panel of an `mlp plot` drawing: where its plot area lies in the SVG, the values its axes
/// span, and the frame both drawings give a panel (grid lines, ticks and their labels, the axes
/// and their titles).
struct PlotFrame {
    let left: Double, height: Double
    /// The plot area: x from `x0` to `x1`, y from `y0` (bottom) up to `y1`, inside margins for
    /// tick labels and axis titles.
    let x0: Double, x1: Double, y0: Double, y1: Double
    let xRange: (Double, Double), yRange: (Double, Double)

    init(left: Double, width: Double, height: Double, xRange: (Double, Double), yRange: (Double, Double)) {
        (self.left, self.height, self.xRange, self.yRange) = (left, height, xRange, yRange)
        (x0, x1, y0, y1) = (left + 60, left + width - 20, height - 45, 35)
    }

    func px(_ x: Double) -> Double { x0 + fraction(x, of: xRange) * (x1 - x0) }
    func py(_ y: Double) -> Double { y0 - fraction(y, of: yRange) * (y0 - y1) }

    /// Grid lines and labels at `yTicks`, the x ticks with their texts, both axes and their titles.
    func axes(yTicks: [Double], xTicks: [(x: Double, text: String)], xTitle: String, yTitle: String) -> String {
        let f = svgNumber
        var out = ""
        for tick in yTicks {
            out += "<line x1=\"\(f(x0))\" y1=\"\(f(py(tick)))\" x2=\"\(f(x1))\" y2=\"\(f(py(tick)))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(x0 - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\">\(label(tick, ticks: yTicks))</text>\n"
        }
        for tick in xTicks {
            out += "<line x1=\"\(f(px(tick.x)))\" y1=\"\(f(y0))\" x2=\"\(f(px(tick.x)))\" y2=\"\(f(y0 + 5))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(f(px(tick.x)))\" y=\"\(f(y0 + 18))\" text-anchor=\"middle\">\(escape(tick.text))</text>\n"
        }
        out += "<line x1=\"\(f(x0))\" y1=\"\(f(y0))\" x2=\"\(f(x1))\" y2=\"\(f(y0))\" stroke=\"black\"/>\n"
        out += "<line x1=\"\(f(x0))\" y1=\"\(f(y0))\" x2=\"\(f(x0))\" y2=\"\(f(y1))\" stroke=\"black\"/>\n"
        out += "<text x=\"\(f((x0 + x1) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(escape(xTitle))</text>\n"
        out += "<text x=\"\(f(left + 16))\" y=\"\(f((y0 + y1) / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(left + 16)) "
            + "\(f((y0 + y1) / 2)))\">\(escape(yTitle))</text>\n"
        return out
    }
}

/// A coordinate as the SVG holds it: one decimal.
func svgNumber(_ value: Double) -> String { String(format: "%.1f", value) }
