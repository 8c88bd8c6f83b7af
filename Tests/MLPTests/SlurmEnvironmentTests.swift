import Foundation
import MLP
import TestSupport
import XCTest

/// What `launch` reads inside a Slurm allocation: host lists, counts per node, the task count,
/// each checked whole, a malformed value a note (never a crash). Compared with `scontrol show
/// hostnames` where Slurm is installed.
final class SlurmEnvironmentTests: XCTestCase {
    static let expansions: [(String, [String])] = [
        ("node[01-03,7],gpu5", ["node01", "node02", "node03", "node7", "gpu5"]),
        ("n[9-11]", ["n9", "n10", "n11"]),
        ("n[009-011]", ["n009", "n010", "n011"]),
        ("n[08-10]", ["n08", "n09", "n10"]),
        ("n[01-3]", ["n01", "n02", "n03"]),
        ("n[1-03]", ["n1", "n2", "n3"]),
        ("n[1-2,4-5],m[01-2],x", ["n1", "n2", "n4", "n5", "m01", "m02", "x"]),
        ("a[1-2]b[3-4]", ["a1b3", "a1b4", "a2b3", "a2b4"]),
        ("single", ["single"]),
        ("c1.cluster.example.org,c2.cluster.example.org", ["c1.cluster.example.org", "c2.cluster.example.org"]),
        ("n1-2", ["n1-2"]),
        ("rack_1-n[7]", ["rack_1-n7"]),
        ("a,,b", ["a", "b"]),
        (",a", ["a"]),
        ("[1-2]", ["1", "2"]),
        ("n[1,1]", ["n1", "n1"]),
    ]

    func testHostListExpansion() {
        for (list, names) in Self.expansions {
            XCTAssertEqual(SlurmEnvironment.hostNames(list), names, list)
        }
        // A suffix after the bracket (22.05's scontrol refuses it; the names are plain).
        XCTAssertEqual(SlurmEnvironment.hostNames("n[1-2]-ib"), ["n1-ib", "n2-ib"])
        let most = SlurmEnvironment.hostNames("n[1-65536]")
        XCTAssertEqual(most?.count, 65_536)
        XCTAssertEqual(most?.last, "n65536")
    }

    /// Whatever is not a host list is nil (launch then notes it and runs as without an allocation).
    func testMalformedHostLists() {
        let malformed = ["", ",", ",,", "n[1-3", "n]", "n[]", "n[3-1]", "n[a-b]", "n[-1]", "n[1-]", "n[ 1]", "a b", "n[[1]]",
                         "n[1-2-3]", "n[1,]", "n[,1]", "n[+1]", "n[0x1]", "a\nb", "a\tb", "nœud1", "a;rm -rf", "h slots=3", "a=b",
                         "n[0-70000]", "n[0-65536]", "n[1-65536],x", "a[1-300]b[1-300]", "n[0-99999999999999999999]",
                         "n[99999999]", "n]1[", "n[1]]", "#n1", "n1 # comment"]
        for list in malformed {
            XCTAssertNil(SlurmEnvironment.hostNames(list), list.debugDescription)
        }
    }

    func testCountsPerNode() {
        XCTAssertEqual(SlurmEnvironment.countsPerNode("2(x3),1", nodes: 4), [2, 2, 2, 1])
        XCTAssertEqual(SlurmEnvironment.countsPerNode("4", nodes: 1), [4])
        XCTAssertEqual(SlurmEnvironment.countsPerNode("1,16(x2)", nodes: 3), [1, 16, 16])
        XCTAssertEqual(SlurmEnvironment.countsPerNode("4(x30)", nodes: 1), [4], "more counts than nodes: the first, as mpirun reads them")
        XCTAssertEqual(SlurmEnvironment.countsPerNode("2(x65536)", nodes: 2), [2, 2])
        XCTAssertNil(SlurmEnvironment.countsPerNode("2,1", nodes: 3), "fewer counts than nodes")
        XCTAssertNil(SlurmEnvironment.countsPerNode("2", nodes: 0))
        for text in ["", "abc", "0", "-1", "+2", " 2", "2 ", "2(x0)", "2(x)", "2(3)", "(x3)", "2(x3", "2x3", "2(x3),", ",2", "2 ,1",
                     "1.5", "99999999", "1000001", "2(x99999999)", "2(x-1)", "2(x3)(x2)", "2((x3))", "2(x3),abc", "2\n"] {
            XCTAssertNil(SlurmEnvironment.countsPerNode(text, nodes: 2), text.debugDescription)
        }
    }

    /// SLURM_NTASKS and SLURM_CPUS_PER_TASK: a whole number from 1 to 1,000,000, else one note
    /// with the value on one line (control characters shown as ?, a long value cut).
    func testTaskCountAndItsNotes() {
        var notes: [String] = []
        XCTAssertNil(SlurmEnvironment([:]).taskCount(notes: &notes))
        XCTAssertEqual(notes, [], "unset: no note")
        XCTAssertEqual(SlurmEnvironment(["SLURM_NTASKS": "3"]).taskCount(notes: &notes), 3)
        XCTAssertEqual(SlurmEnvironment(["SLURM_NTASKS": "1000000"]).taskCount(notes: &notes), 1_000_000)
        XCTAssertEqual(SlurmEnvironment(["SLURM_CPUS_PER_TASK": "4"]).cpusPerTask(notes: &notes), 4)
        XCTAssertEqual(notes, [])
        for value in ["abc", "0", "-1", "", "+3", " 3", "3 ", "3.0", "0x3", "1000001", "99999999999999999999", "٣"] {
            var notes: [String] = []
            XCTAssertNil(SlurmEnvironment(["SLURM_NTASKS": value]).taskCount(notes: &notes), value)
            XCTAssertEqual(notes, ["launch: note: ignoring SLURM_NTASKS='\(value)' (not a task count)"], value)
        }
        var shown: [String] = []
        _ = SlurmEnvironment(["SLURM_CPUS_PER_TASK": "4\nlaunch: forged\u{1b}[2J"]).cpusPerTask(notes: &shown)
        XCTAssertEqual(shown, ["launch: note: ignoring SLURM_CPUS_PER_TASK='4?launch: forged?[2J' (not a CPU count)"])
        var cut: [String] = []
        _ = SlurmEnvironment(["SLURM_NTASKS": String(repeating: "9", count: 10_000)]).taskCount(notes: &cut)
        XCTAssertEqual(cut, ["launch: note: ignoring SLURM_NTASKS='\(String(repeating: "9", count: 60))…' (not a task count)"])
    }

    /// The allocation's nodes with their slots: SLURM_TASKS_PER_NODE, else
    /// SLURM_JOB_CPUS_PER_NODE ÷ --cpus-per-task; a malformed value is a note, and without a
    /// node list or usable counts there is no allocation.
    func testAllocation() throws {
        var notes: [String] = []
        XCTAssertNil(SlurmEnvironment(["SLURM_TASKS_PER_NODE": "2"]).allocation(cpusPerTask: nil, notes: &notes), "no node list")
        XCTAssertEqual(notes, [])

        let tasks = SlurmEnvironment(["SLURM_JOB_NODELIST": "node[01-03,7],gpu5", "SLURM_TASKS_PER_NODE": "2(x3),1,4",
                                      "SLURM_JOB_CPUS_PER_NODE": "64(x5)"])
        let hosts = try XCTUnwrap(tasks.allocation(cpusPerTask: 8, notes: &notes))
        XCTAssertEqual(hosts.text, "node01 slots=2\nnode02 slots=2\nnode03 slots=2\nnode7 slots=1\ngpu5 slots=4\n")
        XCTAssertEqual(hosts.slots, 11)
        XCTAssertEqual(notes, [])

        let cpus = SlurmEnvironment(["SLURM_JOB_NODELIST": "c[1-2]", "SLURM_TASKS_PER_NODE": "2(x)", "SLURM_JOB_CPUS_PER_NODE": "8,6"])
        XCTAssertEqual(cpus.allocation(cpusPerTask: 4, notes: &notes)?.entries.map(\.slots), [2, 1], "CPUs ÷ CPUs per task")
        XCTAssertEqual(notes, ["launch: note: ignoring SLURM_TASKS_PER_NODE='2(x)' (not counts per node such as 2(x3),1)"])

        notes = []
        XCTAssertEqual(SlurmEnvironment(["SLURM_JOB_NODELIST": "c1", "SLURM_JOB_CPUS_PER_NODE": "2"])
            .allocation(cpusPerTask: 4, notes: &notes)?.entries.map(\.slots), [1], "at least one slot")

        notes = []
        XCTAssertNil(SlurmEnvironment(["SLURM_JOB_NODELIST": "node[01-", "SLURM_TASKS_PER_NODE": "1"]).allocation(cpusPerTask: nil, notes: &notes))
        XCTAssertEqual(notes, ["launch: note: ignoring SLURM_JOB_NODELIST='node[01-' (not a Slurm host list such as node[01-03,7],gpu5); "
                               + "running as without an allocation"])

        notes = []
        XCTAssertNil(SlurmEnvironment(["SLURM_JOB_NODELIST": "c[1-3]", "SLURM_TASKS_PER_NODE": "2,2"]).allocation(cpusPerTask: nil, notes: &notes))
        XCTAssertEqual(notes, ["launch: note: ignoring SLURM_TASKS_PER_NODE='2,2' (not counts per node such as 2(x3),1)",
                               "launch: note: SLURM_JOB_NODELIST without a usable SLURM_TASKS_PER_NODE or SLURM_JOB_CPUS_PER_NODE; "
                               + "running as without an allocation"])
    }

    /// Slurm's own expansion, where `scontrol` is installed: it needs a configuration, not a
    /// running controller, so a two-line one is written for it.
    func testExpansionMatchesScontrol() throws {
        guard let scontrol = try? MLPProcess.which("scontrol") else { throw XCTSkip("scontrol is not installed (Slurm's reference)") }
        let directory = try temporaryDirectory(self)
        let configuration = directory.appendingPathComponent("slurm.conf")
        try "ClusterName=reference\nSlurmctldHost=localhost\nNodeName=localhost CPUs=1\nPartitionName=p Nodes=localhost Default=YES\n"
            .write(to: configuration, atomically: true, encoding: .utf8)
        for (list, names) in Self.expansions {
            let output = try MLPProcess.launch(scontrol, ["show", "hostnames", list], environment: ["SLURM_CONF": configuration.path])
            XCTAssertEqual(output.status, 0, output.stderr)
            XCTAssertEqual(output.stdout.split(separator: "\n").map(String.init), names, "scontrol show hostnames \(list)")
        }
    }
}
