/// The exit status that a failure calls for: `writeFailed` for an output that could not be
/// written, an agreed failure's own, otherwise `badInput`.
public func exitStatus(of error: Error) -> Int32 {
    switch error {
    case is WriteError: return ExitStatus.writeFailed
    case let failure as AgreedFailure: return failure.exitCode
    default: return ExitStatus.badInput
    }
}

extension Communicator {
    /// `agree`, and every rank ends with the exit status of the failing rank's error
    /// (`exitStatus(of:)`), not `badInput`: for work that some ranks do for all, such as rank 0
    /// writing a checkpoint, where the other ranks cannot know that a write failed. One more
    /// collective (`MPI_Allreduce` with `MPI_MAX`), on the failure path only.
    public func agreeSharingExitStatus<Result>(_ body: () throws -> Result) throws -> Result {
        var status = ExitStatus.badInput
        do {
            return try agree {
                do { return try body() } catch {
                    status = exitStatus(of: error)
                    throw error
                }
            }
        } catch var failure as AgreedFailure {
            // Only the reporting rank's status counts; the others send 0.
            var statuses: [Double] = [rank == failure.reportingRank ? Double(status) : 0]
            statuses.withUnsafeMutableBufferPointer { allreduceMax($0) }
            failure.exitCode = Int32(statuses[0])
            throw failure
        }
    }
}
