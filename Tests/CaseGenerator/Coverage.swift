import Foundation
import MLP

/// How often each option met each boundary value, and each output each kind of path: what a run tried.
struct Coverage {
    private(set) var values: [String: [Boundary: Int]] = [:]
    private(set) var outputs: [String: [PathKind: Int]] = [:]
    private(set) var shapes: [DataShape: Int] = [:]
    private(set) var commands: [String: Int] = [:]
    /// How the cases ended: a run where every case ends with 64 would prove little.
    var statuses: [String: Int] = [:]
    var sweepStatuses: [String: Int] = [:]
    private(set) var slurmValues: [String: [Boundary: Int]] = [:]
    private(set) var resumeAuto: [String: Int] = [:]
    private(set) var sweepCells: [String: Int] = [:]

    mutating func add(_ drawn: Case) {
        for value in drawn.values { values[value.option, default: [:]][value.boundary, default: 0] += 1 }
        for out in drawn.outputs { outputs[Self.name(out.option), default: [:]][out.kind, default: 0] += 1 }
        shapes[drawn.shape, default: 0] += 1
        if let sweep = drawn.sweep { sweepCells[sweep.cell, default: 0] += 1 }
        if let (name, boundary) = drawn.slurmValue { slurmValues[name, default: [:]][boundary, default: 0] += 1 }
        if drawn.resumeAuto {
            let checkpoint = drawn.outputs.first { $0.option == .checkpoint }
            resumeAuto[checkpoint.map { "--checkpoint \($0.kind.rawValue)" } ?? "no --checkpoint", default: 0] += 1
        }
        commands["\(drawn.command.rawValue)\(drawn.ranks > 1 ? " (mpirun -n \(drawn.ranks))" : "")", default: 0] += 1
        for input in ["--test", "--init-from"] where drawn.arguments.contains(input) { commands["train \(input)", default: 0] += 1 }
        if let input = drawn.plotInput, input != .metrics { commands["plot (\(input.rawValue))", default: 0] += 1 }
    }

    static func name(_ option: OutputOption) -> String { "\(option.command) \(option.name)" }

    /// The tables: a row per declared option (every `TrainOptionTable.all` entry, drawn or not) and per declared output.
    func table() -> String {
        var lines: [String] = []
        let boundaries = Boundary.allCases
        func grid(_ title: String, _ columns: [String], _ rows: [(String, [Int?])]) {
            let width = max(24, rows.map(\.0.count).max() ?? 0)
            lines.append(title)
            lines.append("".padding(toLength: width, withPad: " ", startingAt: 0) + columns.map { " " + $0 }.joined())
            for (name, counts) in rows {
                let cells = zip(columns, counts).map { column, count in
                    let text = count.map { "\($0)" } ?? "·"
                    return " " + String(repeating: " ", count: max(0, column.count - text.count)) + text
                }
                lines.append(name.padding(toLength: width, withPad: " ", startingAt: 0) + cells.joined())
            }
        }
        let valueRows = TrainOptionTable.all.filter { !Drawer.fileOptions.contains($0.name) }.map { option in
            let applicable = Set(Drawer.boundaries(option))
            return (option.name, boundaries.map { applicable.contains($0) ? values[option.name]?[$0] ?? 0 : nil })
        }
        grid("Coverage: mlp train option × boundary value (· not applicable to the declared type)", boundaries.map(\.rawValue), valueRows)
        let sweepRows = Drawer.sweepOptions.map { option in
            let applicable = Set(Drawer.boundaries(option))
            return (option.name, boundaries.map { applicable.contains($0) ? values[option.name]?[$0] ?? 0 : nil })
        }
        grid("Coverage: mlp sweep option × boundary value (--param: NAME=VALUES or not)", boundaries.map(\.rawValue), sweepRows)
        lines.append("mlp sweep rules: " + SweepRule.allCases.map { "\($0.rawValue) \(sweepCells[$0.rawValue] ?? 0)" }.joined(separator: ", "))
        let kinds = PathKind.allCases
        let outputRows = OutputOption.all.map { option in
            (Self.name(option), kinds.map { kind in
                option.command == "convert" && !PathKind.forPrefix.contains(kind) ? nil : outputs[Self.name(option)]?[kind] ?? 0
            })
        }
        grid("Coverage: output × path kind", kinds.map(\.rawValue), outputRows)
        grid("Coverage: Slurm variable × boundary value (mlp train and evaluate, srun's environment)", Drawer.slurmBoundaries.map(\.rawValue),
             SlurmStep.countVariables.map { name in (name, Drawer.slurmBoundaries.map { slurmValues[name]?[$0] ?? 0 }) })
        lines.append("--resume auto: " + resumeAuto.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append("Data shapes: " + DataShape.allCases.map { "\($0.rawValue) \(shapes[$0] ?? 0)" }.joined(separator: ", "))
        lines.append("Commands: " + commands.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append("Exit statuses: " + statuses.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        lines.append("mlp sweep's: " + sweepStatuses.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        let untried = (valueRows + sweepRows).flatMap { row in row.1.filter { $0 == 0 } }.count
            + outputRows.flatMap { $0.1.filter { $0 == 0 } }.count + SweepRule.allCases.count { sweepCells[$0.rawValue] == nil }
        lines.append("Untried cells: \(untried)")
        return lines.joined(separator: "\n")
    }
}
