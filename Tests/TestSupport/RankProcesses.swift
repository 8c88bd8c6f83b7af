import Foundation

extension MLPProcess.Background {
    /// Under mpirun, the rank processes by their rank (`OMPI_COMM_WORLD_RANK` in each one's
    /// environment, from /proc): for tests that stop or kill one chosen rank.
    public func rankProcessesByRank() -> [Int: pid_t] {
        var byRank: [Int: pid_t] = [:]
        for pid in rankProcesses() {
            guard let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            for entry in environment.split(separator: 0) {
                let text = String(decoding: entry, as: UTF8.self)
                if text.hasPrefix("OMPI_COMM_WORLD_RANK="), let rank = Int(text.dropFirst("OMPI_COMM_WORLD_RANK=".count)) {
                    byRank[rank] = pid
                }
            }
        }
        return byRank
    }
}

extension MLPProcess {
    /// Waits up to `timeLimit` seconds for every process of `pids` to be gone (a process killed
    /// by mpirun is reaped once mpirun has exited); returns those still alive then.
    public static func waitUntilGone(_ pids: [pid_t], timeLimit: Double = 10) -> [pid_t] {
        let start = Date()
        while true {
            let alive = pids.filter(isAlive)
            if alive.isEmpty || Date().timeIntervalSince(start) >= timeLimit { return alive }
            usleep(50_000)
        }
    }
}
