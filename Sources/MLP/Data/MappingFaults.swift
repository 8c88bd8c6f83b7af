import Foundation

/// Turns the SIGBUS of reading a memory-mapped file that shrank (truncated or rewritten by
/// another program while training reads it) into one line naming the file and exit status 1,
/// instead of a crash with a backtrace.
///
/// Why a signal handler rather than checking the file's size before each batch: a check is a
/// race (the file can shrink between the check and the read), costs a system call per step,
/// and misses reads outside training (fingerprint, statistics, `mlp convert`). The kernel
/// raises SIGBUS exactly when a page past the end of the file is touched, and `si_addr` says
/// where: the handler looks the address up among the live mappings (a fixed table written
/// when a file is mapped or unmapped, read without locks or allocation, as a handler must),
/// writes the message prepared when the file was mapped, and exits. A fault anywhere else is
/// handed back to the previous handler (the Swift runtime's backtracer, or the default action).
enum MappingFaults {
    /// One live mapping: its address range and its message, a C string.
    struct Entry {
        var start: UInt = 0
        var end: UInt = 0
        var message: UnsafeMutablePointer<CChar>?
    }

    static let capacity = 64
    // Written only on the main thread while registering, read by the handler.
    nonisolated(unsafe) static let entries: UnsafeMutablePointer<Entry> = {
        let entries = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
        entries.initialize(repeating: Entry(), count: capacity)
        return entries
    }()
    nonisolated(unsafe) static var previousAction = sigaction()
    nonisolated(unsafe) static var isInstalled = false
    /// Under mpirun, ranks other than 0 wait this long before reporting, so that the job shows
    /// rank 0's line: mpirun ends the other ranks once one has exited with an error.
    static let otherRanksDelaySeconds: UInt32 = 5

    /// Registers the mapping `bytes` of `path`; returns its slot for `unregister` (nil: the
    /// table is full, and a fault there is reported by the runtime, as without this handler).
    static func register(_ bytes: UnsafeRawBufferPointer, path: String) -> Int? {
        install()
        guard let slot = (0 ..< capacity).first(where: { entries[$0].start == 0 }), let base = bytes.baseAddress else { return nil }
        let environment = ProcessInfo.processInfo.environment
        let rank = environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"] ?? "0"
        let prefix = rank == "0" ? "" : "rank \(rank): "
        let message = "mlp: error: \(prefix)\(path): the file became shorter while mlp was reading it (truncated or rewritten by another "
            + "program?): its data can no longer be read; restore the file and run again\n"
        entries[slot].message = strdup(message)
        entries[slot].end = UInt(bitPattern: base) + UInt(bytes.count)
        entries[slot].start = UInt(bitPattern: base)
        return slot
    }

    static func unregister(_ slot: Int) {
        entries[slot].start = 0
        entries[slot].end = 0
        free(entries[slot].message)
        entries[slot].message = nil
    }

    private static func install() {
        guard !isInstalled else { return }
        isInstalled = true
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = { _, info, _ in
            let address = UInt(bitPattern: info?.pointee._sifields._sigfault.si_addr)
            for slot in 0 ..< MappingFaults.capacity {
                let entry = MappingFaults.entries[slot]
                guard entry.start != 0, address >= entry.start, address < entry.end, let message = entry.message else { continue }
                if strncmp(message, "mlp: error: rank ", 17) == 0 { sleep(MappingFaults.otherRanksDelaySeconds) }
                _ = write(STDERR_FILENO, message, strlen(message))
                _exit(ExitStatus.badInput)
            }
            // Not one of ours: the previous handler takes the fault when the instruction runs again.
            sigaction(SIGBUS, &MappingFaults.previousAction, nil)
        }
        action.sa_flags = SA_SIGINFO
        sigemptyset(&action.sa_mask)
        sigaction(SIGBUS, &action, &previousAction)
    }
}
