// `mlp-faults`: `mlp` with the faults the tests inject, each chosen by an environment variable:
//   MLP_TEST_NAN_AT_STEP=K         the last rank's gradient is NaN at step K (1-based)
//   MLP_TEST_DRIFT_AT_STEP=K       the last rank's θ drifts from the others' at step K
//   MLP_TEST_STALL_AT_STEP=K       rank 0's main thread sleeps for ever before step K's
//                                  allreduce (--allreduce single): alive, never reaching it
//   MLP_TEST_SLOW_AT_STEP=K:S      rank 0's main thread sleeps S seconds before step K's gradient
//                                  reduction, then goes on: busy longer than a collective timeout
//   MLP_TEST_SIGNAL_AT_STEP=K:N    rank 0 sends itself signal N before step K's gradient reduction
//                                  (training stops after step K + 1, when the trainer reads it)
//   MLP_TEST_KILL_AT_STEP=K        rank MLP_TEST_KILL_RANK (default: the last rank) SIGKILLs itself
//                                  at step K, before its gradient reduction; with
//   MLP_TEST_KILL_ONCE_FILE=P      only if P does not exist, creating P just before dying (once
//                                  per job: a restarted job runs through)
//   MLP_TEST_KILL_BEFORE_RENAME=P  SIGKILL just before a file that replaces an existing P is
//                                  renamed into place
//   MLP_TEST_BUILD_SALT=S          this build differs from `mlp`'s (as another source would), for
//                                  the ranks' agreement at start
//   MLP_TEST_NODES=G               the world pretends to span G nodes (rank r on node r·G/P), so that
//                                  --allreduce shared takes its several-node path on one machine
//   MLP_TEST_GROUPS=G              the world is split into G groups (rank r in group r mod G) and
//                                  each group runs the command on its own; group g's --save,
//                                  --checkpoint and --metrics get the suffix .gG
// It simulates what cannot be produced on demand; `mlp` itself reads none of these.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MLP
import MLPCommandLine

let environment = ProcessInfo.processInfo.environment
let nanAtStep = environment["MLP_TEST_NAN_AT_STEP"].flatMap(Int.init)
let driftAtStep = environment["MLP_TEST_DRIFT_AT_STEP"].flatMap(Int.init)
let stallAtStep = environment["MLP_TEST_STALL_AT_STEP"].flatMap(Int.init)
let slowStep = environment["MLP_TEST_SLOW_AT_STEP"].flatMap { text -> (step: Int, seconds: UInt32)? in
    let parts = text.split(separator: ":")
    guard parts.count == 2, let step = Int(parts[0]), let seconds = UInt32(parts[1]) else { return nil }
    return (step, seconds)
}
let signalStep = environment["MLP_TEST_SIGNAL_AT_STEP"].flatMap { text -> (step: Int, signal: Int32)? in
    let parts = text.split(separator: ":")
    guard parts.count == 2, let step = Int(parts[0]), let signal = Int32(parts[1]) else { return nil }
    return (step, signal)
}
let rankKill = environment["MLP_TEST_KILL_AT_STEP"].flatMap(Int.init).map {
    RankKill(step: $0, rank: environment["MLP_TEST_KILL_RANK"].flatMap(Int.init), onceFile: environment["MLP_TEST_KILL_ONCE_FILE"])
}
let pretendNodes = environment["MLP_TEST_NODES"].flatMap(Int.init)
if nanAtStep != nil || driftAtStep != nil || stallAtStep != nil || slowStep != nil || signalStep != nil || rankKill != nil
    || pretendNodes != nil {
    MLPCommand.communicatorWrapper = {
        let communicator = FaultInjectingCommunicator(wrapping: $0, nanAtStep: nanAtStep, driftAtStep: driftAtStep,
                                                      stallAtStep: stallAtStep, kill: rankKill)
        communicator.slowStep = slowStep
        communicator.signalStep = signalStep
        communicator.pretendNodes = pretendNodes
        return communicator
    }
}
if let target = environment["MLP_TEST_KILL_BEFORE_RENAME"] {
    FileWriting.beforeRename = { path in
        // Only a replacement: the first write of the file has no previous one to keep.
        if path == target, access(path, F_OK) == 0 { kill(getpid(), SIGKILL) }
    }
}
if let salt = environment["MLP_TEST_BUILD_SALT"] { MLPCommand.buildSalt = salt }
var arguments = Array(CommandLine.arguments.dropFirst())
if let groups = environment["MLP_TEST_GROUPS"].flatMap(Int.init), groups > 0 {
    let group = (environment["OMPI_COMM_WORLD_RANK"].flatMap(Int.init) ?? 0) % groups
    let wrapper = MLPCommand.communicatorWrapper
    MLPCommand.communicatorWrapper = { world in
        let communicator = world.split(color: world.rank % groups, key: world.rank)
        return wrapper?(communicator) ?? communicator
    }
    for i in arguments.indices.dropLast() where ["--save", "--checkpoint", "--metrics"].contains(arguments[i]) {
        arguments[i + 1] += ".g\(group)"
    }
}
MLPCommand.main(arguments)
