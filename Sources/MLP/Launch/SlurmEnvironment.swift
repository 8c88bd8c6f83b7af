/// What `launch` reads from a Slurm job's environment (inside `sbatch` or `salloc`): the task
/// count, the allocation's nodes with their slots, and the CPUs of each task. Every value comes
/// from outside, so each is checked whole: a malformed one is ignored with one note for stderr
/// (`launch: note: ignoring SLURM_NTASKS='abc' (not a task count)`), never a crash, and launch
/// goes on as if it were unset.
public struct SlurmEnvironment {
    public let environment: [String: String]

    public init(_ environment: [String: String]) { self.environment = environment }

    /// Whether mpirun takes its hosts from a Slurm allocation and starts its daemons with `srun`:
    /// OpenMPI's test (its `ras` and `plm` components for Slurm check `SLURM_JOBID`).
    public var mpirunReadsAllocation: Bool { environment["SLURM_JOBID"] != nil }

    /// `SLURM_NTASKS`, the job's tasks: nil when unset or not a count from 1 to 1,000,000 (a note then).
    public func taskCount(notes: inout [String]) -> Int? {
        positive("SLURM_NTASKS", what: "a task count", notes: &notes)
    }

    /// `SLURM_CPUS_PER_TASK` (`--cpus-per-task`): nil when unset or not a count (a note then).
    public func cpusPerTask(notes: inout [String]) -> Int? {
        positive("SLURM_CPUS_PER_TASK", what: "a CPU count", notes: &notes)
    }

    /// The allocation's nodes (`SLURM_JOB_NODELIST`), each with its slots: `SLURM_TASKS_PER_NODE`,
    /// as mpirun reads them, else `SLURM_JOB_CPUS_PER_NODE` divided by `cpusPerTask`.
    /// nil outside an allocation, or when the node list or both counts are malformed (notes
    /// then: launch runs as without an allocation).
    public func allocation(cpusPerTask: Int?, notes: inout [String]) -> Hostfile? {
        guard let list = environment["SLURM_JOB_NODELIST"] else { return nil }
        guard let hosts = Self.hostNames(list) else {
            notes.append(Self.ignoring("SLURM_JOB_NODELIST", list, "not a Slurm host list such as node[01-03,7],gpu5")
                         + "; running as without an allocation")
            return nil
        }
        var slots: [Int]?
        for (name, divisor) in [("SLURM_TASKS_PER_NODE", 1), ("SLURM_JOB_CPUS_PER_NODE", cpusPerTask ?? 1)] where slots == nil {
            guard let text = environment[name] else { continue }
            slots = Self.countsPerNode(text, nodes: hosts.count)?.map { max(1, $0 / divisor) }
            if slots == nil { notes.append(Self.ignoring(name, text, "not counts per node such as 2(x3),1")) }
        }
        guard let slots else {
            notes.append("launch: note: SLURM_JOB_NODELIST without a usable SLURM_TASKS_PER_NODE or SLURM_JOB_CPUS_PER_NODE; "
                         + "running as without an allocation")
            return nil
        }
        return Hostfile(entries: zip(hosts, slots).map { Hostfile.Entry(host: $0, slots: $1) })
    }

    /// The most hosts a list may name: Slurm's own limit on a range is 65,536.
    public static let maximumHosts = 65_536

    /// The host names of a Slurm host list, in order: `node[01-03,7],gpu5` is node01, node02,
    /// node03, node7, gpu5. A bracket holds numbers and ranges separated by commas; a range's
    /// numbers are as wide as its first (`[08-10]`: 08 09 10; `[9-11]`: 9 10 11). Several
    /// brackets in one name combine (`a[1-2]b[3-4]`: a1b3 a1b4 a2b3 a2b4), as `scontrol show
    /// hostnames` expands them; text after the last bracket is kept (`n[1-2]-ib`: n1-ib n2-ib,
    /// which 22.05's scontrol refuses). A name holds letters, digits, `-`, `.` and `_`. nil for
    /// anything else: an unclosed or nested bracket, an empty one, a range that runs backwards,
    /// a sign, white space, a list without hosts or with more than `maximumHosts`.
    public static func hostNames(_ list: String) -> [String]? {
        guard let items = try? splitOutsideBrackets(list) else { return nil }
        var names: [String] = []
        for item in items where !item.isEmpty {   // `a,,b`: scontrol skips the empty name too
            guard let expanded = expand(item, limit: maximumHosts - names.count) else { return nil }
            names += expanded
        }
        return names.isEmpty ? nil : names
    }

    /// Counts per node in Slurm's compressed form (`SLURM_TASKS_PER_NODE`,
    /// `SLURM_JOB_CPUS_PER_NODE`): `2(x3),1` is 2, 2, 2, 1. Each count is from 1 to 1,000,000;
    /// nil unless the counts cover at least `nodes` nodes (more are dropped, as mpirun drops them).
    public static func countsPerNode(_ text: String, nodes: Int) -> [Int]? {
        guard nodes > 0 else { return nil }
        var counts: [Int] = [], covered = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            var count = item[...], repeats = 1
            if item.hasSuffix(")"), let open = item.firstIndex(of: "(") {
                let inside = item[item.index(after: open) ..< item.index(before: item.endIndex)]
                guard inside.hasPrefix("x"), let times = wholeNumber(inside.dropFirst(), in: 1 ... maximumHosts) else { return nil }
                (count, repeats) = (item[..<open], times)
            }
            guard let value = wholeNumber(count, in: 1 ... 1_000_000) else { return nil }
            // Every item is checked; only the first `nodes` counts are kept.
            counts += repeatElement(value, count: max(0, min(repeats, nodes - counts.count)))
            covered += repeats
        }
        return covered >= nodes ? counts : nil
    }

    // MARK: - Private

    private func positive(_ name: String, what: String, notes: inout [String]) -> Int? {
        guard let text = environment[name] else { return nil }
        guard let value = Self.wholeNumber(text[...], in: 1 ... 1_000_000) else {
            notes.append(Self.ignoring(name, text, "not \(what)"))
            return nil
        }
        return value
    }

    /// A note's text, with the value shown on one line and short (it comes from outside).
    static func ignoring(_ name: String, _ value: String, _ reason: String) -> String {
        let shown = value.unicodeScalars.prefix(60).map { scalar in
            scalar.properties.generalCategory == .control ? "?" : String(scalar)
        }.joined()
        return "launch: note: ignoring \(name)='\(shown)\(value.unicodeScalars.count > 60 ? "…" : "")' (\(reason))"
    }

    /// Digits only (no sign, no space), at most 7 of them, the value in `range`.
    private static func wholeNumber(_ text: Substring, in range: ClosedRange<Int>) -> Int? {
        guard (1 ... 7).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30 ... 0x39).contains($0) }),
              let value = Int(text), range.contains(value) else { return nil }
        return value
    }

    private struct Malformed: Error {}

    /// `a[1,2],b` → `a[1,2]`, `b`: the commas outside brackets; throws on a bracket that is nested,
    /// closed without being opened, or left open.
    private static func splitOutsideBrackets(_ list: String) throws -> [Substring] {
        var items: [Substring] = [], start = list.startIndex, open = false
        for index in list.indices {
            switch list[index] {
            case "[": guard !open else { throw Malformed() }; open = true
            case "]": guard open else { throw Malformed() }; open = false
            case "," where !open: items.append(list[start ..< index]); start = list.index(after: index)
            default: break
            }
        }
        guard !open else { throw Malformed() }
        return items + [list[start...]]
    }

    /// One name with brackets: the product of its parts, or nil when malformed or longer than `limit`.
    private static func expand(_ item: Substring, limit: Int) -> [String]? {
        var names = [""], rest = item
        while !rest.isEmpty {
            let literal = rest.prefix { $0 != "[" }
            guard literal.unicodeScalars.allSatisfy(isHostNameCharacter) else { return nil }
            rest = rest.dropFirst(literal.count)
            var choices = [String(literal)]
            if !rest.isEmpty {
                guard let close = rest.firstIndex(of: "]"), let numbers = rangeNames(rest[rest.index(after: rest.startIndex) ..< close])
                else { return nil }
                choices = numbers.map { String(literal) + $0 }
                rest = rest[rest.index(after: close)...]
            }
            guard names.count * choices.count <= limit else { return nil }
            names = names.flatMap { name in choices.map { name + $0 } }
        }
        return names
    }

    /// Letters, digits, `-`, `.` and `_`: what host names hold, and nothing that could change the
    /// meaning of a hostfile line or an `srun` argument.
    private static func isHostNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0" ... "9").contains(scalar) || "-._".unicodeScalars.contains(scalar))
    }

    /// `01-03,7` → 01 02 03 7; nil when malformed or longer than `maximumHosts`.
    private static func rangeNames(_ ranges: Substring) -> [String]? {
        var names: [String] = []
        for range in ranges.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = range.split(separator: "-", omittingEmptySubsequences: false)
            guard (1 ... 2).contains(bounds.count), let low = wholeNumber(bounds[0], in: 0 ... 9_999_999),
                  let high = wholeNumber(bounds[bounds.count - 1], in: low ... 9_999_999),
                  names.count + (high - low + 1) <= maximumHosts else { return nil }
            let width = bounds[0].count
            for number in low ... high {
                let digits = String(number)
                names.append(String(repeating: "0", count: max(0, width - digits.count)) + digits)
            }
        }
        return names
    }
}
