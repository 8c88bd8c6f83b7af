import Foundation

/// An output file that could not be written while a command ran: disk full, quota exceeded,
/// permission lost, an I/O error. The command stops with `ExitStatus.writeFailed`; the file it
/// was replacing is as it was and its temporary file is gone.
public struct WriteError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    /// "cannot write PATH: REASON", REASON being the system's ("No space left on device").
    public init(path: String, reason: String) { message = "cannot write \(path): \(reason)" }
    public var description: String { message }
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old file or the new
/// one, never a torn one: write "<path>.tmp-<pid>" in the same directory, fsync it, rename it
/// over `path`, fsync the directory (which makes the rename itself durable).
///
/// On failure the temporary file is removed, the file at `path` is as it was, and a
/// `WriteError` names the path and the system's reason.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let staged = try StagedFile(bytes, for: path)
    try staged.commit()
    try syncDirectory(of: path)
}

/// Writes `bytes` as a new file named like `path`, never replacing one: `path` itself if
/// nothing is there, else the first free name of `path-1`, `path-2`, … (the number goes before
/// the extension: `mlp-interrupted-1.safetensors`). Returns the name written. For files the
/// user did not name, such as a default file name. Atomic like `writeFileAtomically`, and safe
/// against another process taking the same name at the same moment.
public func writeNewFileAtomically(_ bytes: [UInt8], namedLike path: String) throws -> String {
    let staged = try StagedFile(bytes, for: path)
    for number in 0 ... 9_999 {
        let candidate = number == 0 ? path : numbered(path, number)
        if try staged.commitAsNew(at: candidate) {
            try syncDirectory(of: candidate)
            return candidate
        }
    }
    staged.discard()
    throw WriteError(path: path, reason: "\(numbered(path, 1)) to \(numbered(path, 9_999)) exist too: remove some")
}

/// `dir/name-N.ext` for `dir/name.ext`.
func numbered(_ path: String, _ number: Int) -> String {
    let directory = (path as NSString).deletingLastPathComponent
    let name = (path as NSString).lastPathComponent
    let stem = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
    let numberedName = "\(stem)-\(number)" + (ext.isEmpty ? "" : ".\(ext)")
    return directory.isEmpty ? numberedName : (directory as NSString).appendingPathComponent(numberedName)
}

/// A file written in full under a temporary name beside its destination ("<path>.tmp-<pid>")
/// and synced, waiting to be renamed over the destination (`commit`) or removed (`discard`).
/// Several of them commit together when a command writes several files (`mlp convert`), so a
/// failure in any leaves none of the destinations replaced.
struct StagedFile {
    let path: String
    let temporaryPath: String

    static func temporaryPath(for path: String) -> String { "\(path).tmp-\(getpid())" }

    /// A temporary file that its writer has filled, synced and closed.
    init(path: String, temporaryPath: String) {
        self.path = path
        self.temporaryPath = temporaryPath
    }

    /// Writes `bytes` to the temporary file of `path` and syncs it; on failure removes it.
    init(_ bytes: [UInt8], for path: String) throws {
        self.init(path: path, temporaryPath: Self.temporaryPath(for: path))
        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw writeError(errno, "creating \(temporaryPath)") }
        var isOpen = true
        do {
            try bytes.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
            guard fsync(descriptor) == 0 else { throw writeError(errno, "fsync") }
            isOpen = false
            guard close(descriptor) == 0 else { throw writeError(errno, "close") }
        } catch {
            if isOpen { close(descriptor) }
            discard()
            throw error
        }
    }

    /// Renames the temporary file over `path`; on failure removes it (`path` is as it was).
    func commit() throws {
        FileWriting.beforeRename?(path)
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            discard()
            throw writeError(code, "renaming \(temporaryPath) over it")
        }
    }

    /// Gives the temporary file the name `candidate` unless a file has it: false then, and the
    /// temporary file stays for another name. A hard link does it in one step that fails if the
    /// name is taken (`rename` would replace it).
    func commitAsNew(at candidate: String) throws -> Bool {
        if link(temporaryPath, candidate) == 0 {
            unlink(temporaryPath)
            return true
        }
        let code = errno
        if code == EEXIST { return false }
        // A file system without hard links: check, then rename (not atomic against another
        // process choosing the same name at the same instant).
        if code == EPERM || code == EOPNOTSUPP || code == EMLINK {
            if access(candidate, F_OK) == 0 { return false }
            guard rename(temporaryPath, candidate) == 0 else {
                let code = errno
                discard()
                throw WriteError(path: candidate, reason: "\(errnoDescription(code)) (renaming \(temporaryPath))")
            }
            return true
        }
        discard()
        throw WriteError(path: candidate, reason: "\(errnoDescription(code)) (linking \(temporaryPath))")
    }

    /// Removes the temporary file.
    func discard() { unlink(temporaryPath) }

    private func writeError(_ code: Int32, _ step: String) -> WriteError {
        WriteError(path: path, reason: "\(errnoDescription(code)) (\(step))")
    }
}

/// Writes all of `bytes` to `descriptor` (at `offset`, or at the file position), retrying
/// short writes and EINTR; a `WriteError` for `path` with the system's reason otherwise
/// ("No space left on device").
func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, path: String, at offset: Int? = nil) throws {
    var written = 0
    while written < bytes.count {
        let count = offset.map { pwrite(descriptor, bytes.baseAddress! + written, bytes.count - written, off_t($0 + written)) }
            ?? write(descriptor, bytes.baseAddress! + written, bytes.count - written)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { throw WriteError(path: path, reason: errnoDescription(count < 0 ? errno : EIO)) }
        written += count
    }
}

/// Makes the renames in `path`'s directory durable. Some file systems cannot fsync a directory
/// (EINVAL); the file itself is durable already.
func syncDirectory(of path: String) throws {
    var directory = (path as NSString).deletingLastPathComponent
    if directory.isEmpty { directory = "." }
    let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw WriteError(path: path, reason: "\(errnoDescription()) (opening its directory \(directory))") }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 || errno == EINVAL else {
        throw WriteError(path: path, reason: "\(errnoDescription()) (fsync of its directory \(directory))")
    }
}

/// Where tests reach into file writing.
public enum FileWriting {
    /// Called with the destination path after the temporary file is written, synced and closed,
    /// just before it is renamed over the destination: the worst instant for a crash, when the
    /// previous file must survive intact. nil (nothing is called) unless a test sets it.
    public nonisolated(unsafe) static var beforeRename: ((String) -> Void)?
}
