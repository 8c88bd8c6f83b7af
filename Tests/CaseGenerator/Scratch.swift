import Foundation
import MLP
import TestSupport

/// A case's scratch directory: its data, the fixtures (a model, a metrics file, a sweep's results) and every drawn output path, made
/// to be of its kind before the run.
enum Scratch {
    /// The path given for `kind` (relative to the scratch directory; for convert, the prefix).
    static func path(of kind: PathKind, for option: OutputOption, data: String = "data.csv") -> String {
        let prefix = option.command == "convert"
        switch kind {
        case .oneCharacter: return prefix ? "p" : "o"
        case .unicodeName: return "é✓ó"
        case .name255: return String(repeating: "n", count: 255)
        case .existingFile0600: return "existing"
        case .symbolicLink: return "link"
        case .danglingLink: return "dangling"
        case .fifo: return "fifo"
        case .devNull: return "/dev/null"
        case .standardOutput: return "-"
        case .directory: return "dir"
        case .trailingSlash: return "dir/"
        case .dot: return "."
        case .dotDot: return ".."
        case .empty: return ""
        case .name256: return String(repeating: "n", count: 256)
        case .missingDirectory: return prefix ? "none/p" : "none/o"
        case .notADirectory: return prefix ? "plain/p" : "plain/o"
        case .readOnlyDirectory: return "ro/o"
        case .socket: return "sock"
        case .linkLoop: return "loop"
        case .inputPath:
            switch option.command {
            case "train", "sweep", "predict", "convert": return data
            case "plot": return "metrics.jsonl"
            default: return "model.st"
            }
        }
    }

    /// Where the kind's object is made: convert's `PREFIX.X.npy`, else the path itself.
    static func madePath(_ out: DrawnOutput) -> String { out.option.command == "convert" ? out.path + ".X.npy" : out.path }

    /// The files a successful run may write for the output (after links), relative to the scratch directory.
    static func destinations(_ out: DrawnOutput) -> [String] {
        guard let kind = out.kind.outputKind, !OutputKind.streams.contains(kind) else { return [] }
        let names = out.option.command == "convert" ? [".X.npy", ".y.npy", ".y.json"].map { out.path + $0 } : [out.path]
        return names.map { name in
            name == madePath(out) && out.kind == .symbolicLink ? "target/linked"
                : name == madePath(out) && out.kind == .danglingLink ? "nowhere.out" : name
        }
    }

    /// Makes the scratch directory of a case: data, fixtures, and the objects its output paths name.
    static func prepare(_ drawn: Case, in directory: URL, fixtures: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        func at(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try Data(data(drawn.shape)).write(to: URL(fileURLWithPath: at(drawn.shape.fileName)))
        for name in ["model.st", "metrics.jsonl", "results.jsonl"] {
            try manager.copyItem(atPath: fixtures.appendingPathComponent(name).path, toPath: at(name))
        }
        for (name, bytes) in drawn.sweep?.files ?? [:] { try Data(bytes).write(to: URL(fileURLWithPath: at(name))) }
        for out in drawn.outputs {
            let made = madePath(out)
            // Two outputs may draw one path (`--save o --metrics o`, refused as one file): it is made once.
            var existing = stat()
            if drawn.outputs.first(where: { madePath($0) == made })?.option != out.option || lstat(at(made), &existing) == 0 { continue }
            func file(_ name: String, mode: Int) throws {
                try Data("old\n".utf8).write(to: URL(fileURLWithPath: at(name)))
                chmod(at(name), mode_t(mode))
            }
            switch out.kind {
            case .existingFile0600: try file(made, mode: 0o600)
            case .symbolicLink:
                try manager.createDirectory(atPath: at("target"), withIntermediateDirectories: true)
                try file("target/linked", mode: 0o644)
                try manager.createSymbolicLink(atPath: at(made), withDestinationPath: "target/linked")
            case .danglingLink: try manager.createSymbolicLink(atPath: at(made), withDestinationPath: "nowhere.out")
            case .fifo: guard mkfifo(at(made), 0o644) == 0 else { throw ScratchError("mkfifo \(made): errno \(errno)") }
            case .directory, .trailingSlash: try manager.createDirectory(atPath: at(made.hasSuffix("/") ? String(made.dropLast()) : made),
                                                                        withIntermediateDirectories: true)
            case .notADirectory: try file("plain", mode: 0o644)
            case .readOnlyDirectory:
                try manager.createDirectory(atPath: at("ro"), withIntermediateDirectories: true)
                chmod(at("ro"), 0o555)
            case .socket: try makeSocket(at(made))
            case .linkLoop:
                try manager.createSymbolicLink(atPath: at(made), withDestinationPath: "loop2")
                try manager.createSymbolicLink(atPath: at("loop2"), withDestinationPath: made)
            default: break
            }
        }
    }

    /// Removes a scratch directory, read-only directories in it included.
    static func remove(_ directory: URL) {
        chmod(directory.appendingPathComponent("ro").path, 0o755)
        try? FileManager.default.removeItem(at: directory)
    }

    /// A listening Unix socket at `path` (bound, then closed: the socket file stays).
    static func makeSocket(_ path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw ScratchError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in for (index, byte) in bytes.enumerated() { buffer[index] = byte } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw ScratchError("bind \(path): errno \(errno)") }
    }

    /// The bytes of a data shape: a 2-feature classification CSV and its edges.
    static func data(_ shape: DataShape) -> [UInt8] {
        let rows = (0 ..< 8).map { "\(Double($0 % 3) + 0.5),\(Double($0) / 10),\($0 % 2)" }
        let header = "a,b,label\n"
        let text: String
        switch shape {
        case .small, .gzip: text = header + rows.joined(separator: "\n") + "\n"
        case .oneRow: text = header + rows[0] + "\n"
        case .oneColumn: text = "label\n0\n1\n0\n1\n"
        case .extremeWeights: text = header + "1e38,-1e38,0\n-1e38,1e38,1\n1e38,1e38,0\n0,0,1\n"
        case .huge: text = header + "1e308,1,0\n-1e308,2,1\n1,1e308,0\n0,0,1\n"
        case .subnormal: text = header + "1e-40,5e-324,0\n-1e-40,1e-45,1\n1e-40,0,0\n0,1e-40,1\n"
        case .stringLabels: text = header + rows.enumerated().map { "\($0.element.dropLast(2)),\($0.offset % 2 == 0 ? "cat" : "dog")" }
            .joined(separator: "\n") + "\n"
        case .categoriesAndGaps:
            // Gaps spelled as the declaration's default missing values, in a numeric and in the categorical column.
            let gaps = TableOptions.defaultMissingValues
            text = "a,b,c,label\n" + (0 ..< 8).map { i in
                let a = i % 3 == 1 ? gaps[i % gaps.count] : "\(Double(i) / 4)"
                let c = i % 4 == 2 ? gaps[(i + 1) % gaps.count] : ["red", "blue", "\"x,y\"", "é✓"][i % 4]
                return "\(a),\(Double(i % 3)),\(c),\(i % 2)"
            }.joined(separator: "\n") + "\n"
        case .empty: text = ""
        case .headerOnly: text = header
        }
        return shape == .gzip ? gzip(Array(text.utf8)) : Array(text.utf8)
    }

    /// Trains the model and metrics every case copies (`predict`, `export`, `plot`, `info` read them), and runs the
    /// two-trial sweep whose results `plot --sweep` reads.
    static func makeFixtures(in directory: URL, mlp: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(data(.small)).write(to: directory.appendingPathComponent("data.csv"))
        let output = try Runner.run(["train", "--train", "data.csv", "--hidden", "4", "--epochs", "2", "--batch-size", "4",
                                     "--save", "model.st", "--metrics", "metrics.jsonl"], ranks: 1, mlp: mlp, in: directory)
        guard output.status == 0, !output.signalled else { throw ScratchError("training the fixtures failed: \(output.stderr)") }
        let sweep = try Runner.run(["sweep", "--train", "data.csv", "--hidden", "4", "--epochs", "2", "--batch-size", "4",
                                    "--validation-split", "0.3", "--param", "learning-rate=0.1,0.05", "--results", "results.jsonl"],
                                   ranks: 1, mlp: mlp, in: directory)
        guard sweep.status == 0, !sweep.signalled else { throw ScratchError("the fixtures' sweep failed: \(sweep.stderr)") }
    }
}

struct ScratchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What a directory tree held: each entry's kind, mode and content (a link's target), by relative path.
struct Snapshot {
    struct Entry: Equatable, CustomStringConvertible {
        let kind: String
        let mode: UInt32
        let content: UInt64   // FNV-1a of a file's bytes or a link's target
        let size: Int
        var description: String { "\(kind) mode \(String(mode, radix: 8)) \(size) bytes" }
    }
    var entries: [String: Entry] = [:]

    init(_ root: URL) { walk(root.path, "") }

    private mutating func walk(_ root: String, _ relative: String) {
        let full = relative.isEmpty ? root : root + "/" + relative
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: full) else { return }
        for name in names {
            let path = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + path, &info) == 0 else { continue }
            let mode = UInt32(info.st_mode) & 0o7777
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                entries[path] = Entry(kind: "directory", mode: mode, content: 0, size: 0)
                walk(root, path)
            case S_IFREG:
                let bytes = FileManager.default.contents(atPath: root + "/" + path) ?? Data()
                entries[path] = Entry(kind: "file", mode: mode, content: Self.hash(bytes), size: bytes.count)
            case S_IFLNK:
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + path)) ?? ""
                entries[path] = Entry(kind: "link", mode: mode, content: Self.hash(Data(target.utf8)), size: target.utf8.count)
            case S_IFIFO: entries[path] = Entry(kind: "fifo", mode: mode, content: 0, size: 0)
            case S_IFSOCK: entries[path] = Entry(kind: "socket", mode: mode, content: 0, size: 0)
            default: entries[path] = Entry(kind: "other", mode: mode, content: 0, size: 0)
            }
        }
    }

    static func hash(_ data: Data) -> UInt64 { data.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 } }

    /// The paths whose entry differs, appeared or vanished.
    func changes(to after: Snapshot) -> [String] {
        Set(entries.keys).union(after.entries.keys).filter { entries[$0] != after.entries[$0] }.sorted()
    }
}
