import Foundation

/// The whole contents of the file at `path`, read with one `read` loop (no Foundation `Data`).
///
/// Throws an `InputError` naming the path and the system's reason ("No such file or
/// directory", "Is a directory", …) when the file cannot be opened or read.
public func readFileBytes(_ path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw InputError("\(path): cannot open: \(errnoDescription())") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
        throw InputError("\(path): cannot read: \(errnoDescription())")
    }
    if (info.st_mode & S_IFMT) == S_IFDIR {
        throw InputError("\(path): cannot read: is a directory")
    }
    // The size from fstat is a hint: read exactly that much in one buffer, then keep reading
    // until end of file, which also covers pipes and files that grew in between.
    let expectedSize = max(Int(info.st_size), 0)
    var failure: Int32 = 0
    var bytes = [UInt8](unsafeUninitializedCapacity: expectedSize) { buffer, initializedCount in
        initializedCount = 0
        while initializedCount < expectedSize {
            let count = read(descriptor, buffer.baseAddress! + initializedCount, expectedSize - initializedCount)
            if count > 0 { initializedCount += count; continue }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { failure = errno }
            break
        }
    }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while failure == 0 {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
        if count > 0 { bytes.append(contentsOf: chunk[0 ..< count]); continue }
        if count < 0 && errno == EINTR { continue }
        if count < 0 { failure = errno }
        break
    }
    guard failure == 0 else { throw InputError("\(path): cannot read: \(errnoDescription(failure))") }
    return bytes
}

/// The C library's text for an `errno` value, e.g. "No such file or directory".
func errnoDescription(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old file or the new
/// one, never a torn one: write "<path>.tmp-<pid>" in the same directory, fsync it, rename it
/// over `path`, fsync the directory (which makes the rename itself durable).
///
/// On failure the temporary file is removed and an `InputError` names the path and the
/// system's reason.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let temporaryPath = "\(path).tmp-\(getpid())"
    func failure(_ step: String, _ code: Int32 = errno) -> InputError {
        InputError("\(path): cannot write: \(step): \(errnoDescription(code))")
    }
    let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw failure("cannot create \(temporaryPath)") }
    var isOpen = true
    do {
        try bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw failure("write", count < 0 ? errno : EIO) }
                written += count
            }
        }
        guard fsync(descriptor) == 0 else { throw failure("fsync") }
        isOpen = false
        guard close(descriptor) == 0 else { throw failure("close") }
        FileWriting.beforeRename?(path)
        guard rename(temporaryPath, path) == 0 else { throw failure("rename") }
    } catch {
        if isOpen { close(descriptor) }
        unlink(temporaryPath)
        throw error
    }
    var directory = (path as NSString).deletingLastPathComponent
    if directory.isEmpty { directory = "." }
    let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directoryDescriptor >= 0 else { throw failure("open directory \(directory)") }
    defer { close(directoryDescriptor) }
    // Some file systems cannot fsync a directory (EINVAL); the file itself is durable already.
    guard fsync(directoryDescriptor) == 0 || errno == EINVAL else { throw failure("fsync directory \(directory)") }
}

/// Where tests reach into `writeFileAtomically`.
public enum FileWriting {
    /// Called with the destination path after the temporary file is written, synced and closed,
    /// just before it is renamed over the destination: the worst instant for a crash, when the
    /// previous file must survive intact. nil (nothing is called) unless a test sets it.
    public nonisolated(unsafe) static var beforeRename: ((String) -> Void)?
}
