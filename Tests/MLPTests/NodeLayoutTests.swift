import MLP
import XCTest

/// The thread rule (a rank's cores divided among the ranks of its node that share them), the
/// OpenBLAS kernel warning, and how Slurm's variables are read: malformed values are notes.
final class NodeLayoutTests: XCTestCase {
    func testThreadsAreTheCoresDividedAmongTheRanksSharingThem() {
        // srun without binding: 2 ranks on 2 cores, each may run anywhere.
        XCTAssertEqual(NodeLayout(ranksOnNode: 2, ranksSharingCores: 2, cores: 2).threadsPerRank, 1)
        // mpirun binding each rank to its own core.
        XCTAssertEqual(NodeLayout(ranksOnNode: 2, ranksSharingCores: 1, cores: 1).threadsPerRank, 1)
        // One process on a 16-core node; 4 unbound ranks there; more ranks than cores.
        XCTAssertEqual(NodeLayout(ranksOnNode: 1, ranksSharingCores: 1, cores: 16).threadsPerRank, 16)
        XCTAssertEqual(NodeLayout(ranksOnNode: 4, ranksSharingCores: 4, cores: 16).threadsPerRank, 4)
        XCTAssertEqual(NodeLayout(ranksOnNode: 3, ranksSharingCores: 3, cores: 2).threadsPerRank, 1)
        // --cpus-per-task 4 with binding: 2 ranks, 4 cores each, not shared.
        XCTAssertEqual(NodeLayout(ranksOnNode: 2, ranksSharingCores: 1, cores: 4).threadsPerRank, 4)
    }

    func testTheEnvironmentsThreadCountWins() {
        let layout = NodeLayout(ranksOnNode: 2, ranksSharingCores: 2, cores: 8)
        XCTAssertEqual(BLASThreads.chosen(for: layout, environment: [:]), 4)
        XCTAssertEqual(BLASThreads.chosen(for: layout, environment: ["OPENBLAS_NUM_THREADS": ""]), 4)
        for name in ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"] {
            XCTAssertNil(BLASThreads.chosen(for: layout, environment: [name: "3"]), name)
        }
        XCTAssertEqual(BLASThreads.describe(ranks: 2, threads: 1), "2 ranks × 1 thread")
        XCTAssertEqual(BLASThreads.describe(ranks: 1, threads: 4), "1 rank × 4 threads")
    }

    func testAffinityMasksCountAndOverlap() {
        let width = CoreAffinity.byteCount
        func mask(_ cores: [Int]) -> CoreAffinity {
            var bytes = [UInt8](repeating: 0, count: width)
            for core in cores { bytes[core / 8] |= 1 << (core % 8) }
            return CoreAffinity(mask: bytes)
        }
        XCTAssertEqual(mask([0, 1, 9, 1023]).count, 4)
        XCTAssertTrue(mask([0, 1]).overlaps(mask([1, 2])))
        XCTAssertFalse(mask([0]).overlaps(mask([1])))
        XCTAssertGreaterThanOrEqual(CoreAffinity.current.count, 1)
        XCTAssertLessThanOrEqual(CoreAffinity.current.count, ProcessInfo.processInfo.activeProcessorCount)
    }

    func testKernelWarningOnlyForFallbackKernelsTheCPUCouldBeat() {
        let avx2: Set<Substring> = ["sse3", "avx2", "fma"], avx512: Set<Substring> = ["avx2", "fma", "avx512f", "avx512bw"]
        let warning = BLASThreads.kernelWarning(coreName: "Prescott", environment: [:], cpuFlags: avx2)
        XCTAssertEqual(warning, "OpenBLAS chose its slow Prescott kernels on this CPU, which it does not recognize: "
                       + "set OPENBLAS_CORETYPE=Haswell (./launch does)")
        XCTAssertTrue(BLASThreads.kernelWarning(coreName: "Nehalem", environment: [:], cpuFlags: avx512)?
            .contains("OPENBLAS_CORETYPE=SkylakeX") ?? false)
        XCTAssertNil(BLASThreads.kernelWarning(coreName: "Prescott", environment: ["OPENBLAS_CORETYPE": "Prescott"], cpuFlags: avx2))
        XCTAssertNil(BLASThreads.kernelWarning(coreName: "Zen", environment: [:], cpuFlags: avx2))
        XCTAssertNil(BLASThreads.kernelWarning(coreName: "Prescott", environment: [:], cpuFlags: ["sse3"]))
    }

    func testSlurmStepFromTheEnvironment() {
        let step = ["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1", "SLURM_NTASKS": "4"]
        XCTAssertEqual(SlurmStep.from(step).step, SlurmStep(tasks: 2, taskIndex: 1))
        XCTAssertTrue(SlurmStep.from(step).notes.isEmpty)
        // A batch script is not a step of tasks; nor is a process outside Slurm.
        XCTAssertNil(SlurmStep.from(["SLURM_NTASKS": "2", "SLURM_PROCID": "0", "SLURM_JOB_ID": "7"]).step)
        XCTAssertNil(SlurmStep.from([:]).step)
        // SLURM_NTASKS when srun's own count is missing.
        XCTAssertEqual(SlurmStep.from(["SLURM_STEPID": "3", "SLURM_NTASKS": "3", "SLURM_PROCID": "0"]).step,
                       SlurmStep(tasks: 3, taskIndex: 0))
    }

    func testMalformedSlurmValuesAreNotesNeverTrusted() {
        for bad in ["abc", "", "-1", "0", "2x", "99999999999999999999", " 2", "1e3"] {
            let (step, notes) = SlurmStep.from(["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": bad, "SLURM_PROCID": "0"])
            XCTAssertNil(step, bad)
            XCTAssertEqual(notes, ["ignoring SLURM_STEP_NUM_TASKS='\(bad)' (not a task count)"], bad)
        }
        let (step, notes) = SlurmStep.from(["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "-3"])
        XCTAssertNil(step)
        XCTAssertEqual(notes, ["ignoring SLURM_PROCID='-3' (not a task index)"])
        let beyond = SlurmStep.from(["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "2"])
        XCTAssertNil(beyond.step)
        XCTAssertEqual(beyond.notes, ["ignoring SLURM_PROCID='2' (not below the step's 2 tasks)"])
        let long = String(repeating: "9", count: 300)
        XCTAssertEqual(SlurmStep.from(["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": long, "SLURM_PROCID": "0"]).notes.first?.count,
                       "ignoring SLURM_STEP_NUM_TASKS='' (not a task count)".count + 40)
    }

    func testSeparateWorldsAreRefusedOnlyWhenTheStepHasSeveralTasks() {
        let step = SlurmStep(tasks: 2, taskIndex: 0)
        let refusal = step.refusal(worldSize: 1, startedByMPIRun: false)
        XCTAssertTrue(refusal?.contains("srun --mpi=pmix") ?? false)
        XCTAssertTrue(refusal?.contains("MpiDefault=pmix") ?? false)
        XCTAssertNil(step.refusal(worldSize: 2, startedByMPIRun: false))   // srun --mpi=pmix
        XCTAssertNil(step.refusal(worldSize: 1, startedByMPIRun: true))    // mpirun -n 1 inside the step
        XCTAssertNil(SlurmStep(tasks: 1, taskIndex: 0).refusal(worldSize: 1, startedByMPIRun: false))
    }
}
