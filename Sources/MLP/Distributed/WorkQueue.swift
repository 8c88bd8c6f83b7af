import Synchronization

/// Items handed out one at a time to whichever group asks first: `mlp sweep`'s shared queue of
/// trials. Rank 0 of the communicator that made it (`Communicator.workQueue`) holds the items;
/// the leader of each group asks for the next one, and with the question reports the record of
/// the item it finished, which rank 0 receives. A free group never waits for a busy one.
public protocol WorkQueue: AnyObject {
    /// Reports `record` (the bytes of the item just finished; nil: none) and returns the next
    /// item, or nil when none is left (then this rank asks no more).
    func next(reporting record: [UInt8]?) -> Int?
    /// Called by every rank of the communicator once its group has asked its last: returns when
    /// every rank has (a collective of the idle phase: other groups' trials may take long), and
    /// rank 0 has received every record. The queue is then done.
    func close()
}

extension Communicator {
    /// A queue of one process: its items in order, its records received at once.
    public func workQueue(items: [Int], receive: @escaping @Sendable ([UInt8]) -> Void) throws -> WorkQueue {
        precondition(size == 1, "a work queue across ranks needs the communicator's own implementation")
        return LocalWorkQueue(items: items, receive: receive)
    }
}

/// The queue's state on the rank that holds it: the items left and what receives the records.
/// Locked: under MPI, rank 0's own group asks on the main thread and the others' questions are
/// answered on the queue's thread.
public final class WorkQueueState: Sendable {
    private let items: Mutex<ArraySlice<Int>>
    private let receive: @Sendable ([UInt8]) -> Void

    public init(items: [Int], receive: @escaping @Sendable ([UInt8]) -> Void) {
        self.items = Mutex(items[...])
        self.receive = receive
    }

    /// Receives `record`, then takes the next item; one asker at a time.
    public func take(reporting record: [UInt8]?) -> Int? {
        items.withLock { items in
            if let record { receive(record) }
            return items.popFirst()
        }
    }
}

/// `WorkQueue` in one process.
final class LocalWorkQueue: WorkQueue {
    let state: WorkQueueState
    init(items: [Int], receive: @escaping @Sendable ([UInt8]) -> Void) { state = WorkQueueState(items: items, receive: receive) }
    func next(reporting record: [UInt8]?) -> Int? { state.take(reporting: record) }
    func close() {}
}
