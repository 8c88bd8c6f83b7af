import Foundation
import MLP
import TestSupport
import XCTest

/// `launch --restarts`' decisions without mpirun: hostfiles and Slurm allocations, dropping hosts,
/// the checkpoint a restart resumes from, mpirun's flags and what its stderr says after an abort.
final class RestartSupervisionTests: XCTestCase {
    let hosts = try! Hostfile(text: "# the cluster\nh1 slots=2\n\n  h2 slots=3 max_slots=4\nh3\t\n10.0.0.4 slots=1\n")

    func testHostfileParsing() {
        XCTAssertEqual(hosts.entries.map(\.host), ["h1", "h2", "h3", "10.0.0.4"])
        XCTAssertEqual(hosts.entries.map(\.slots), [2, 3, 1, 1], "no slots= counts 1")
        XCTAssertEqual(hosts.slots, 7)
        XCTAssertEqual(hosts.text, "h1 slots=2\n  h2 slots=3 max_slots=4\nh3\t\n10.0.0.4 slots=1\n", "the lines as written")
    }

    /// A hostfile is read whole or refused, naming the line: never a host dropped or a job run
    /// here without it.
    func testHostfileRefusals() {
        for (text, message) in [("", "h: no hosts"), ("# only a comment\n\n", "h: no hosts"), ("a slots=0\n", "h:1: slots=0"),
                                ("a\nb slots=abc\n", "h:2: slots=abc"), ("a slots=-1\n", "h:1: slots=-1"),
                                ("a slots=99999999999999999999\n", "h:1: slots=99999999999999999999")] {
            XCTAssertThrowsError(try Hostfile(text: text, path: "h"), text) { error in
                XCTAssertTrue("\(error)".hasPrefix(message), "\(text): \(error)")
            }
        }
    }

    func probe(dropping dropped: Set<String>) -> (Hostfile) -> HostProbe {
        { hostfile in
            HostProbe(answering: Hostfile(entries: hostfile.entries.filter { !dropped.contains($0.host) }),
                      dropped: hostfile.entries.filter { dropped.contains($0.host) }.map { ($0.host, "No route to host") })
        }
    }

    func testDroppedHostsShrinkTheRanksAndTheHostfile() {
        var supervision = RestartSupervision(restarts: 2, checkpoint: "ck", ranks: 6, hosts: JobHosts(hostfile: hosts, path: "hosts"))
        let decision = supervision.decide(status: 137, attempt: 1, answering: probe(dropping: ["h2"]), newHostfilePath: "work/hosts-1") {
            .checkpoint(path: "ck", step: 20)
        }
        let line = "launch: restart 1 of 2: the job ended with status 137 (a rank was killed); "
            + "host h2 dropped (no answer: No route to host); 4 ranks now; resuming from step 20 of checkpoint ck"
        XCTAssertEqual(decision, .restart(line: line, resume: .checkpoint(path: "ck", step: 20)))
        XCTAssertEqual(supervision.ranks, 4)
        XCTAssertEqual(supervision.hosts?.hostfile.entries.map(\.host), ["h1", "h3", "10.0.0.4"])
        XCTAssertEqual(supervision.hosts?.path, "work/hosts-1")
        // Every host answers the second time: the same hostfile, the same ranks.
        let again = supervision.decide(status: 75, attempt: 2, answering: probe(dropping: []), newHostfilePath: "work/hosts-2") {
            .startAgain
        }
        let againLine = "launch: restart 2 of 2: the job ended with status 75 (a rank died or stalled); every host answers; "
            + "4 ranks now; no checkpoint written yet: starting again with the same command"
        XCTAssertEqual(again, .restart(line: againLine, resume: .startAgain))
        XCTAssertEqual(supervision.hosts?.path, "work/hosts-1")
        let last = supervision.decide(status: 205, attempt: 3, answering: probe(dropping: []), newHostfilePath: "w") { .startAgain }
        XCTAssertEqual(last, .exit(205, message: "launch: the job ended with status 205 (mpirun lost a host); "
                                       + "no restart left (--restarts 2)"))
    }

    func testOnlyALostRankRestarts() {
        for status: Int32 in [0, 1, 2, 3, 4, 5, 64, 70, 134, 139, 143, 255] {
            var supervision = RestartSupervision(restarts: 3, checkpoint: "ck", ranks: 2, hosts: nil)
            let answering: (Hostfile) -> HostProbe = { hostfile in XCTFail("no probe"); return HostProbe(answering: hostfile, dropped: []) }
            let decision = supervision.decide(status: status, attempt: 1, answering: answering, newHostfilePath: "w") {
                XCTFail("no resume")
                return ResumePoint.startAgain
            }
            XCTAssertEqual(decision, RestartSupervision.Decision.exit(status, message: nil), "status \(status)")
        }
        var supervision = RestartSupervision(restarts: 1, checkpoint: "ck", ranks: 2, hosts: JobHosts(hostfile: hosts, path: "hosts"))
        let none = supervision.decide(status: 75, attempt: 1, answering: probe(dropping: ["h1", "h2", "h3", "10.0.0.4"]),
                                      newHostfilePath: "w") { .startAgain }
        XCTAssertEqual(none, .exit(75, message: "launch: restart 1 of 1: the job ended with status 75 (a rank died or stalled); "
                                      + "no host of hosts answers; not restarting"))
    }

    /// In a Slurm allocation the hosts are its nodes, which mpirun reads itself (no hostfile on the
    /// first run); a dropped node makes a hostfile of the others, which mpirun then takes as a
    /// filter on the allocation.
    func testAllocationNodesAreProbedAndDroppedLikeAHostfile() throws {
        var notes: [String] = []
        let allocation = try XCTUnwrap(SlurmEnvironment(["SLURM_JOB_NODELIST": "node[01-03]", "SLURM_TASKS_PER_NODE": "2(x3)"])
            .allocation(cpusPerTask: nil, notes: &notes))
        XCTAssertEqual(notes, [])
        var supervision = RestartSupervision(restarts: 2, checkpoint: "ck", ranks: 6, hosts: JobHosts(hostfile: allocation, path: nil))
        let decision = supervision.decide(status: 205, attempt: 1, answering: probe(dropping: ["node02"]), newHostfilePath: "work/hosts-1") {
            .checkpoint(path: "ck", step: 40)
        }
        XCTAssertEqual(decision, .restart(line: "launch: restart 1 of 2: the job ended with status 205 (mpirun lost a host); "
            + "host node02 dropped (no answer: No route to host); 4 ranks now; resuming from step 40 of checkpoint ck",
                                          resume: .checkpoint(path: "ck", step: 40)))
        XCTAssertEqual(supervision.hosts, JobHosts(hostfile: try Hostfile(text: "node01 slots=2\nnode03 slots=2\n"), path: "work/hosts-1"))
        XCTAssertEqual(supervision.hosts?.hostfile.text, "node01 slots=2\nnode03 slots=2\n", "the restart's hostfile")

        var lost = RestartSupervision(restarts: 1, checkpoint: "ck", ranks: 6, hosts: JobHosts(hostfile: allocation, path: nil))
        let none = lost.decide(status: 137, attempt: 1, answering: probe(dropping: ["node01", "node02", "node03"]),
                               newHostfilePath: "w") { .startAgain }
        XCTAssertEqual(none, .exit(137, message: "launch: restart 1 of 1: the job ended with status 137 (a rank was killed); "
                                       + "no host of the Slurm allocation (SLURM_JOB_NODELIST) answers; not restarting"))
    }

    /// The checkpoint counts only when this launch's job wrote it (another file at the path now)
    /// and it reads; the restart replaces any --resume or --init-from with --resume PATH.
    func testNewestCheckpointChoice() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("ck").path
        XCTAssertEqual(ResumePoint.choose(path: path, versionBefore: nil, versionNow: nil) { _ in 5 }, .startAgain, "none written")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let before = FileVersion(path: path)
        XCTAssertNotNil(before)
        XCTAssertEqual(ResumePoint.choose(path: path, versionBefore: before, versionNow: FileVersion(path: path)) { _ in 5 }, .startAgain,
                       "the file from before launch started is never resumed")
        try Data("new checkpoint".utf8).write(to: URL(fileURLWithPath: path + ".tmp"))
        XCTAssertEqual(rename(path + ".tmp", path), 0)
        let now = FileVersion(path: path)
        XCTAssertNotEqual(now, before)
        XCTAssertEqual(ResumePoint.choose(path: path, versionBefore: before, versionNow: now) { _ in 30 },
                       .checkpoint(path: path, step: 30))
        XCTAssertEqual(ResumePoint.choose(path: path, versionBefore: before, versionNow: now) { _ in nil }, .startAgain, "unreadable")
        let first = ["train", "--train", "d.csv", "--resume", "old", "--init-from=m", "--checkpoint", "ck", "--resume=x"]
        XCTAssertEqual(ResumePoint.checkpoint(path: "ck", step: 3).arguments(from: first),
                       ["train", "--train", "d.csv", "--checkpoint", "ck", "--resume", "ck"])
        XCTAssertEqual(ResumePoint.startAgain.arguments(from: first), first)
    }

    func testMPIRunFlags() {
        let one = MPIRunJob(ranks: 2, hostfile: nil, cores: 2, progress: true, forwardsCoreType: false, asRoot: false, extraFlags: [])
        XCTAssertEqual(one.flags, ["-n", "2", "-x", "OPENBLAS_NUM_THREADS=1", "-x", "MLP_PROGRESS=1", "--bind-to", "core:overload-allowed"])
        let many = MPIRunJob(ranks: 3, hostfile: nil, cores: 2, progress: false, forwardsCoreType: true, asRoot: true,
                             extraFlags: ["--mca", "a", "b"])
        XCTAssertEqual(many.flags, ["-n", "3", "-x", "OPENBLAS_NUM_THREADS=1", "-x", "MLP_PROGRESS=0", "-x", "OPENBLAS_CORETYPE",
                                    "--allow-run-as-root", "--oversubscribe", "--mca", "a", "b"])
        let threaded = MPIRunJob(ranks: 2, hostfile: "h", cores: 8, progress: false, forwardsCoreType: false, asRoot: false, extraFlags: [])
        XCTAssertEqual(threaded.flags, ["-n", "2", "-x", "OPENBLAS_NUM_THREADS=4", "-x", "MLP_PROGRESS=0",
                                        "--bind-to", "none", "--hostfile", "h"])
        // In a Slurm allocation mpirun has the slots (no --oversubscribe, whatever this node's
        // cores), and each rank gets --cpus-per-task threads.
        let allocated = MPIRunJob(ranks: 8, hostfile: nil, cores: 2, cpusPerTask: 4, readsSlurmAllocation: true, progress: false,
                                  forwardsCoreType: false, asRoot: false, extraFlags: [])
        XCTAssertEqual(allocated.flags, ["-n", "8", "-x", "OPENBLAS_NUM_THREADS=4", "-x", "MLP_PROGRESS=0", "--bind-to", "none"])
        var oneCPU = allocated
        oneCPU.cpusPerTask = nil
        XCTAssertEqual(oneCPU.flags, ["-n", "8", "-x", "OPENBLAS_NUM_THREADS=1", "-x", "MLP_PROGRESS=0", "--bind-to", "core:overload-allowed"],
                       "one rank per core, though the allocation's slots may exceed a node's cores")
    }

    func testRemoteAgent() {
        let job = MPIRunJob(ranks: 2, hostfile: "h", cores: 2, progress: false, forwardsCoreType: false, asRoot: false,
                            extraFlags: ["--mca", "btl", "tcp,self", "--mca", "plm_rsh_agent", "/x/netns-rsh"])
        XCTAssertEqual(job.remoteAgent(environment: [:], isInstalled: { _ in true }), ["/x/netns-rsh"])
        var plain = job
        plain.extraFlags = []
        XCTAssertEqual(plain.remoteAgent(environment: [:], isInstalled: { $0 == "rsh" }), ["rsh"], "ssh : rsh, the first installed")
        XCTAssertEqual(plain.remoteAgent(environment: [:], isInstalled: { $0 == "ssh" }),
                       ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
        XCTAssertEqual(plain.remoteAgent(environment: ["OMPI_MCA_plm_rsh_agent": "myrsh -q"], isInstalled: { _ in true }), ["myrsh", "-q"])
        XCTAssertNil(plain.remoteAgent(environment: [:], isInstalled: { _ in false }))
        // Inside a Slurm allocation mpirun starts its daemons with srun, and so does the probe,
        // unless OpenMPI's plm selection leaves Slurm out.
        let srun = ["srun", "--nodes=1", "--ntasks=1", "--overlap", "--mpi=none", "--nodelist"]
        let inJob = ["SLURM_JOBID": "42"]
        XCTAssertEqual(plain.remoteAgent(environment: inJob, isInstalled: { _ in true }), srun)
        XCTAssertEqual(job.remoteAgent(environment: inJob, isInstalled: { _ in true }), srun, "srun wins over plm_rsh_agent, as in mpirun")
        XCTAssertNil(plain.remoteAgent(environment: inJob, isInstalled: { $0 != "srun" }))
        XCTAssertEqual(plain.remoteAgent(environment: inJob.merging(["OMPI_MCA_plm": "rsh"]) { a, _ in a }, isInstalled: { _ in true }),
                       ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
        XCTAssertEqual(plain.remoteAgent(environment: inJob.merging(["OMPI_MCA_plm": "slurm,rsh"]) { a, _ in a }, isInstalled: { _ in true }), srun)
        var excluding = plain
        excluding.extraFlags = ["--mca", "plm", "^slurm"]
        XCTAssertEqual(excluding.remoteAgent(environment: inJob, isInstalled: { $0 == "rsh" }), ["rsh"])
        excluding.extraFlags = ["-mca", "plm", "^rsh"]
        XCTAssertEqual(excluding.remoteAgent(environment: inJob, isInstalled: { _ in true }), srun)
        XCTAssertTrue(MPIRunJob.isLocal("127.0.1.1", names: [], addresses: []))
        XCTAssertTrue(MPIRunJob.isLocal("h1", names: ["h1"], addresses: []))
        XCTAssertTrue(MPIRunJob.isLocal("10.99.0.1", names: ["h1"], addresses: ["10.99.0.1"]))
        XCTAssertFalse(MPIRunJob.isLocal("10.99.0.3", names: ["h1"], addresses: ["10.99.0.1"]))
    }

    func testAbortStatusFromMPIRunsStderr() {
        let notice = "mlp: error: collective timeout: rank 1 …\n--------\nMPI_ABORT was invoked on rank 0 in communicator MPI_COMM_WORLD\n"
            + "with errorcode 75.\n\nNOTE: invoking MPI_ABORT causes Open MPI to kill all MPI processes.\n"
        XCTAssertTrue(MPIRunJob.showsAbort(notice))
        XCTAssertEqual(MPIRunJob.abortStatus(notice), 75)
        XCTAssertEqual(MPIRunJob.abortStatus("MPI_ABORT was invoked on rank 1 with errorcode 4.\n"), 4)
        // The notice lost (a host gone): the watchdog's line means its abort, 75; any other error line 1.
        XCTAssertEqual(MPIRunJob.abortStatus("ORTE_ERROR_LOG: Data unpack\nmlp: error: collective timeout: rank 2\n"), 75)
        XCTAssertEqual(MPIRunJob.abortStatus("mlp: error: ranks disagree\n"), 1)
        XCTAssertTrue(MPIRunJob.showsAbort("x\nmlp: error: y\n"))
        XCTAssertFalse(MPIRunJob.showsAbort("epoch 1 …\nrank 0: mlp: error: quoted\n"))
    }
}
