import Foundation

/// What a path given for an output can be when a command starts, after following symbolic links.
/// A case generator draws paths of every kind; `OutputOption.accepted` says which each output takes,
/// every other kind is refused before any work with one line.
public enum OutputKind: String, CaseIterable, Sendable {
    /// Nothing there yet, in a writable directory (a dangling symbolic link: its target is created).
    case newFile
    /// An existing regular file: replaced atomically, its mode kept.
    case regularFile
    /// A symbolic link (or a chain of them) to a regular file or to nothing yet: written through,
    /// the link stays and its target is replaced in the target's directory.
    case symbolicLink
    /// A named pipe: written as a stream, never replaced.
    case fifo
    /// A character device (`/dev/null`, a terminal, `/dev/stdout` on one): written as a stream.
    case characterDevice
    /// `-`: standard output, written as a stream; progress and status lines then go to stderr.
    case standardOutput
    // Refused for every output:
    case directory, trailingSlash, dot, dotDot, empty, nameTooLong, missingDirectory, notADirectory
    case unwritableDirectory, readOnlyFileSystem, socket, blockDevice, symbolicLinkLoop

    /// The kinds written as a stream (opened for writing, never renamed over).
    public static let streams: Set<OutputKind> = [.fifo, .characterDevice, .standardOutput]
    /// The kinds that end in a regular file written atomically.
    public static let files: Set<OutputKind> = [.newFile, .regularFile, .symbolicLink]
}

/// One option that names a file a command writes, and the kinds of path it accepts.
public struct OutputOption: Hashable, Sendable {
    public let command: String
    public let name: String
    public let accepted: Set<OutputKind>

    public init(command: String, name: String, accepted: Set<OutputKind>) {
        self.command = command
        self.name = name
        self.accepted = accepted
    }

    /// A model or checkpoint must be a regular file to be read back and resumed from.
    public static let save = OutputOption(command: "train", name: "--save", accepted: OutputKind.files)
    public static let checkpoint = OutputOption(command: "train", name: "--checkpoint", accepted: OutputKind.files)
    /// Lines, a CSV, an ONNX model, an SVG: read once by whatever takes them, so a pipe will do.
    public static let metrics = OutputOption(command: "train", name: "--metrics", accepted: filesOrStreams)
    public static let predictOutput = OutputOption(command: "predict", name: "--output", accepted: filesOrStreams)
    public static let exportOutput = OutputOption(command: "export", name: "--output", accepted: filesOrStreams)
    public static let plotOutput = OutputOption(command: "plot", name: "--output", accepted: filesOrStreams)
    /// Each of `PREFIX.X.npy`, `PREFIX.y.npy`, `PREFIX.y.json`: three files put in place together.
    public static let convertOutput = OutputOption(command: "convert", name: "--output", accepted: OutputKind.files)

    /// `mlp sweep`: the results are read back to continue a sweep, and the refit is a model.
    public static let sweepResults = OutputOption(command: "sweep", name: "--results", accepted: OutputKind.files)
    public static let sweepSave = OutputOption(command: "sweep", name: "--save", accepted: OutputKind.files)
    /// A directory of the trials' files: an existing one (empty, or this sweep's), or a new one made in an existing directory,
    /// named with or without a trailing slash; not `.` or `..`, which hold other files.
    public static let sweepDirectory = OutputOption(command: "sweep", name: "--sweep-dir",
                                                    accepted: [.newFile, .directory, .trailingSlash])

    /// Every output of every command, for a generator that tries each kind of path on each.
    public static let all: [OutputOption] = [save, checkpoint, metrics, predictOutput, exportOutput, plotOutput, convertOutput,
                                             sweepResults, sweepSave, sweepDirectory]

    static let filesOrStreams = OutputKind.files.union(OutputKind.streams)
}

/// A path a command writes, checked before any work: what it is (`kind`) and where the bytes go.
/// A file is replaced atomically (`writeFileAtomically`: through links, mode kept); a stream is
/// opened and written in place.
public struct OutputPath: Sendable {
    public let option: OutputOption
    /// The path as the user gave it.
    public let given: String
    public let kind: OutputKind
    /// Where a file's bytes go (the symbolic links' final target); a stream's path as given.
    public let destination: String

    public var isStream: Bool { OutputKind.streams.contains(kind) }

    /// Checks `given` for `option`: refuses with an `InputError` (one line, naming the option, the
    /// path and what to do) every kind the option does not accept. `-` sends status lines to stderr.
    /// - Parameter shown: how messages name the output (convert's "--output P (P.X.npy)").
    public init(_ given: String, for option: OutputOption, shown: String? = nil) throws {
        self.option = option
        self.given = given
        let shown = shown ?? "\(option.name) \(given)"
        // A directory may be named with a trailing slash: what it names decides (`./` is `.`).
        let named = option.accepted.contains(.directory) ? Self.withoutTrailingSlashes(given) : given
        let (kind, destination) = Self.classify(named)
        self.kind = kind
        self.destination = destination
        guard option.accepted.contains(kind) else { throw InputError("\(shown): \(Self.refusal(kind, destination, option))") }
        if kind == .standardOutput || (isStream && Self.isStandardOutput(destination)) { StandardStreams.linesToStandardError = true }
    }

    /// Writes `bytes`: a file atomically, a stream in full. Throws `OutputStreamClosed` when a
    /// stream's reader has gone (EPIPE), a `WriteError` for anything else.
    public func write(_ bytes: [UInt8]) throws {
        guard isStream else { return try writeFileAtomically(bytes, to: destination) }
        let stream = try OutputStream(self)
        try stream.write(bytes)
    }

    /// Whether `path` is the stream standard output writes to (`/dev/stdout`, `/proc/self/fd/1`).
    static func isStandardOutput(_ path: String) -> Bool {
        var named = stat(), standard = stat()
        return stat(path, &named) == 0 && fstat(STDOUT_FILENO, &standard) == 0
            && named.st_dev == standard.st_dev && named.st_ino == standard.st_ino
    }

    /// `path` without the slashes it ends in; the root stays `/`.
    static func withoutTrailingSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// What `path` is, and where a file written for it goes.
    static func classify(_ path: String) -> (OutputKind, String) {
        if path.isEmpty { return (.empty, path) }
        if path == "-" { return (.standardOutput, path) }
        let name = splitPath(path).name
        if name.isEmpty { return (.trailingSlash, path) }
        if name == "." { return (.dot, path) }
        if name == ".." { return (.dotDot, path) }
        var info = stat()
        if stat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFIFO: return (.fifo, path)
            case S_IFCHR: return (.characterDevice, path)
            case S_IFDIR: return (.directory, path)
            case S_IFSOCK: return (.socket, path)
            case S_IFBLK: return (.blockDevice, path)
            default: break
            }
        }
        let target = finalTarget(of: path)
        let isLink = target != path
        if stat(path, &info) == 0 {
            return directoryProblem(of: target).map { ($0, target) } ?? (isLink ? .symbolicLink : .regularFile, target)
        }
        switch errno {
        case ENOTDIR: return (.notADirectory, target)
        case ENAMETOOLONG: return (.nameTooLong, target)
        case ELOOP: return (.symbolicLinkLoop, target)
        default: break
        }
        if let problem = directoryProblem(of: target) { return (problem, target) }
        if splitPath(target).name.utf8.count > nameMax(directory: splitPath(target).directory) { return (.nameTooLong, target) }
        return (isLink ? .symbolicLink : .newFile, target)
    }

    /// Why a file cannot be created or renamed into `path`'s directory, if it cannot.
    static func directoryProblem(of path: String) -> OutputKind? {
        let directory = directoryOrDot(splitPath(path).directory)
        var info = stat()
        guard stat(directory, &info) == 0 else { return errno == ENOTDIR ? .notADirectory : .missingDirectory }
        guard info.st_mode & S_IFMT == S_IFDIR else { return .notADirectory }
        guard access(directory, W_OK | X_OK) == 0 else { return errno == EROFS ? .readOnlyFileSystem : .unwritableDirectory }
        return nil
    }

    /// Why `kind` is refused for `option`, and what to do.
    static func refusal(_ kind: OutputKind, _ destination: String, _ option: OutputOption) -> String {
        let directory = directoryOrDot(splitPath(destination).directory)
        let needsFile = "\(option.name) writes a regular file (a temporary file renamed over it), which would replace it: give a file path"
        switch kind {
        case .empty: return "an empty path: give a file name"
        case .trailingSlash: return "ends in '/', a directory: give a file name (such as \(destination)out)"
        case .dot, .dotDot, .directory:
            if option.accepted.contains(.directory) {
                return "holds other files: give the sweep a directory of its own (such as \(destination)/sweep.trials)"
            }
            return "is a directory: give a file name in it (such as \(destination)/out)"
        case .missingDirectory: return "directory \(directory) does not exist"
        case .notADirectory: return "a component of the path is not a directory: fix the path"
        case .unwritableDirectory:
            return "directory \(directory) is not writable (Permission denied): choose another directory or fix its permissions"
        case .readOnlyFileSystem: return "directory \(directory) is on a read-only file system: write to another one"
        case .nameTooLong:
            return "the name is \(splitPath(destination).name.utf8.count) bytes, more than this file system allows "
                + "(\(nameMax(directory: splitPath(destination).directory))): use a shorter name"
        case .standardOutput: return "standard output is a stream; \(needsFile)"
        case .fifo: return "is a named pipe (FIFO); \(needsFile)"
        case .characterDevice: return "is a character device; \(needsFile)"
        case .socket: return "is a socket: give a file path"
        case .blockDevice: return "is a block device: give a file path"
        case .symbolicLinkLoop: return "symbolic links that lead back to themselves: fix the links or give another path"
        case .newFile, .regularFile, .symbolicLink:
            return option.accepted.contains(.directory) ? "is a file; \(option.name) takes a directory: give a new or existing one"
                : "is a file; \(option.name) takes a stream here"
        }
    }
}

/// A stream output's reader went away (EPIPE): nothing more can be delivered. Commands whose only
/// product is that stream stop quietly with status 0, as `head`'s producers do.
public struct OutputStreamClosed: Error {}

/// An open stream output: standard output for `-`, else the FIFO or device opened for writing
/// (without creating or truncating it). Opening a FIFO waits for its reader, as `cat > fifo` does.
final class OutputStream {
    let path: String
    let descriptor: Int32
    private let owned: Bool

    init(_ output: OutputPath) throws {
        path = output.given
        if output.kind == .standardOutput {
            fflush(nil)   // what stdio still holds goes first
            descriptor = STDOUT_FILENO
            owned = false
        } else {
            var opened: Int32
            repeat { opened = open(output.destination, O_WRONLY | O_CLOEXEC) } while opened < 0 && errno == EINTR
            guard opened >= 0 else { throw WriteError(path: output.given, code: errno, step: "opening it") }
            descriptor = opened
            owned = true
        }
    }

    deinit { if owned { close(descriptor) } }

    /// Writes all of `bytes`; `OutputStreamClosed` on EPIPE.
    func write(_ bytes: [UInt8]) throws {
        do {
            try bytes.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
        } catch let error as WriteError where error.code == EPIPE {
            throw OutputStreamClosed()
        }
    }
}

/// `path`'s directory part ("" for a bare name, "/" at the root) and its last component ("" after
/// a trailing slash). Plain byte work: Foundation's NSString path methods trap on some paths.
func splitPath(_ path: String) -> (directory: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return ("", path) }
    let directory = String(path[..<slash])
    return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
}

func directoryOrDot(_ directory: String) -> String { directory.isEmpty ? "." : directory }

/// `name` in `directory` ("" for the current one).
func joinPath(_ directory: String, _ name: String) -> String {
    directory.isEmpty ? name : directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// The longest file name `directory` takes (NAME_MAX, 255 where it cannot say).
func nameMax(directory: String) -> Int {
    let limit = pathconf(directoryOrDot(directory), Int32(_PC_NAME_MAX))
    return limit > 0 ? limit : 255
}

/// The file a chain of symbolic links at `path` ends at (which may not exist yet): writing
/// through a link replaces its target, in the target's directory, and leaves the link.
func finalTarget(of path: String) -> String {
    var current = path
    for _ in 0 ..< 40 {   // the kernel's own limit on links followed (ELOOP)
        var info = stat()
        guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return current }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(current, &buffer, buffer.count - 1)
        guard count > 0 else { return current }
        let target = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        current = target.hasPrefix("/") ? target : joinPath(splitPath(current).directory, target)
    }
    return current
}
