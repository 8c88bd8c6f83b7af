import Foundation

/// An output file that could not be written while a command ran: disk full, quota exceeded,
/// permission lost, an I/O error. The command stops with `ExitStatus.writeFailed`; the file it
/// was replacing is as it was and its temporary file is gone.
public struct WriteError: Error, CustomStringConvertible, Equatable {
    public var message: String
    /// The system's error number, when the system gave one: it decides the advice (`remedy`).
    public var code: Int32?
    public init(_ message: String, code: Int32? = nil) {
        self.message = message
        self.code = code
    }
    /// "cannot write PATH: REASON", REASON being the system's ("No space left on device").
    public init(path: String, reason: String, code: Int32? = nil) { self.init("cannot write \(path): \(reason)", code: code) }
    /// "cannot write PATH: REASON (STEP)" for the system's error `code`.
    init(path: String, code: Int32, step: String? = nil) {
        self.init(path: path, reason: errnoDescription(code) + (step.map { " (\($0))" } ?? ""), code: code)
    }
    public var description: String { message }

    /// What to do about it, fitting the cause: only a full disk or quota asks for space.
    public var remedy: String {
        switch code {
        case ENOSPC, EDQUOT: return "free space"
        case EACCES, EPERM: return "fix the permissions"
        case EROFS: return "write to a writable file system"
        case ENAMETOOLONG: return "use a shorter name"
        case ENOTDIR, EISDIR, ENOENT, ELOOP: return "fix the path"
        case EIO: return "check the disk"
        default: return "fix the cause"
        }
    }
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old file or the new
/// one, never a torn one: write a temporary file in the same directory, fsync it, rename it
/// over `path`, fsync the directory (which makes the rename itself durable). A symbolic link is
/// written through (its final target is replaced, in the target's directory; the link stays), an
/// existing file keeps its mode, a new one gets 0666 less the umask. Something there that is not
/// a regular file (a FIFO, a device, a directory) is never replaced.
///
/// On failure the temporary file is removed, the file at `path` is as it was, and a
/// `WriteError` names the path and the system's reason.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let staged = try StagedFile(bytes, for: path)
    try staged.commit()
    try syncDirectory(of: staged.path)
}

/// Writes `bytes` as a new file named like `path`, never replacing one: `path` itself if
/// nothing is there, else the first free name of `path-1`, `path-2`, … (the number goes before
/// the extension: `mlp-interrupted-1.safetensors`). Returns the name written. For files the
/// user did not name, such as a default file name. Atomic like `writeFileAtomically`, and safe
/// against another process taking the same name at the same moment.
public func writeNewFileAtomically(_ bytes: [UInt8], namedLike path: String) throws -> String {
    // Beside the name itself: a link of that name is never written through, only passed over.
    let staged = try StagedFile(bytes, for: path, followingLinks: false)
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
    let (directory, name) = splitPath(path)
    let dot = name.lastIndex(of: ".").flatMap { $0 == name.startIndex ? nil : $0 }
    let stem = dot.map { String(name[..<$0]) } ?? name, ext = dot.map { String(name[$0...]) } ?? ""
    return joinPath(directory, "\(stem)-\(number)\(ext)")
}

/// A file written in full under a temporary name beside its destination (`temporaryPath`) and
/// synced, waiting to be renamed over the destination (`commit`) or removed (`discard`).
/// Several of them commit together when a command writes several files (`mlp convert`), so a
/// failure in any leaves none of the destinations replaced.
struct StagedFile {
    /// The destination: a symbolic link's final target, not the link.
    let path: String
    let temporaryPath: String

    /// "NAME.tmp-PID" beside `path`; a name too long for that is cut (at a character) and given
    /// a hash of the whole name, so the temporary name fits the file system's limit and two long
    /// names that share their start still differ.
    static func temporaryPath(for path: String) -> String {
        let (directory, name) = splitPath(path)
        let suffix = ".tmp-\(getpid())"
        let limit = nameMax(directory: directory)
        guard name.utf8.count + suffix.utf8.count > limit else { return joinPath(directory, name + suffix) }
        let tag = "-" + String(name.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }, radix: 16)
        var kept = ""
        for character in name where kept.utf8.count + character.utf8.count + tag.utf8.count + suffix.utf8.count <= limit {
            kept.append(character)
        }
        return joinPath(directory, kept + tag + suffix)
    }

    /// A temporary file that its writer has filled, synced and closed.
    init(path: String, temporaryPath: String) {
        self.path = path
        self.temporaryPath = temporaryPath
    }

    /// Creates the empty temporary file for `destination` (through symbolic links), with the mode
    /// of the file it will replace (0666 less the umask for a new one), open for reading and writing.
    static func create(for destination: String, followingLinks: Bool = true) throws -> (StagedFile, descriptor: Int32) {
        let path = followingLinks ? finalTarget(of: destination) : destination
        var existing = stat()
        let exists = followingLinks && stat(path, &existing) == 0
        if exists && existing.st_mode & S_IFMT != S_IFREG {
            throw WriteError(path: destination, reason: "it is no longer a regular file, and is not replaced", code: EEXIST)
        }
        let staged = StagedFile(path: path, temporaryPath: temporaryPath(for: path))
        unlink(staged.temporaryPath)   // left by a killed process of the same id: start afresh
        let descriptor = open(staged.temporaryPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { throw WriteError(path: destination, code: errno, step: "creating \(staged.temporaryPath)") }
        if exists {
            // Best effort for the owner (root only); the mode is the user's intent and must hold.
            if geteuid() == 0 { _ = fchown(descriptor, existing.st_uid, existing.st_gid) }
            guard fchmod(descriptor, existing.st_mode & 0o7777) == 0 else {
                let code = errno
                close(descriptor)
                staged.discard()
                throw WriteError(path: destination, code: code, step: "setting the mode of \(staged.temporaryPath)")
            }
        }
        return (staged, descriptor)
    }

    /// Writes `bytes` to the temporary file of `path` and syncs it; on failure removes it.
    init(_ bytes: [UInt8], for path: String, followingLinks: Bool = true) throws {
        let (staged, descriptor) = try Self.create(for: path, followingLinks: followingLinks)
        self = staged
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
                throw WriteError(path: candidate, code: code, step: "renaming \(temporaryPath)")
            }
            return true
        }
        discard()
        throw WriteError(path: candidate, code: code, step: "linking \(temporaryPath)")
    }

    /// Removes the temporary file.
    func discard() { unlink(temporaryPath) }

    private func writeError(_ code: Int32, _ step: String) -> WriteError {
        WriteError(path: path, code: code, step: step)
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
        guard count > 0 else { throw WriteError(path: path, code: count < 0 ? errno : EIO) }
        written += count
    }
}

/// Makes the renames in `path`'s directory durable. Some file systems cannot fsync a directory
/// (EINVAL); the file itself is durable already.
func syncDirectory(of path: String) throws {
    let directory = directoryOrDot(splitPath(path).directory)
    let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw WriteError(path: path, code: errno, step: "opening its directory \(directory)") }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 || errno == EINVAL else {
        throw WriteError(path: path, code: errno, step: "fsync of its directory \(directory)")
    }
}

/// Where tests reach into file writing.
public enum FileWriting {
    /// Called with the destination path after the temporary file is written, synced and closed,
    /// just before it is renamed over the destination: the worst instant for a crash, when the
    /// previous file must survive intact. nil (nothing is called) unless a test sets it.
    public nonisolated(unsafe) static var beforeRename: ((String) -> Void)?
}
