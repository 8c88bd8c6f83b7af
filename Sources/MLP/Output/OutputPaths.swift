import Foundation

/// A file a command reads or writes, as the user gave it: the option, what was typed, and the
/// file (for `mnist:DIR`, one of the directory's files).
public struct NamedFile: Sendable {
    public var option: String
    public var given: String
    public var path: String

    public init(_ option: String, _ path: String, given: String? = nil) {
        self.option = option
        self.path = path
        self.given = given ?? path
    }

    /// "--train data.csv", or "--train mnist:d (d/train-images-idx3-ubyte.gz)".
    var shown: String { given == path ? "\(option) \(path)" : "\(option) \(given) (\(path))" }
}

/// Which file a path names, whatever its spelling: `data.csv`, `./data.csv`, an absolute path,
/// a symbolic link to it or a hard link all give the same identity.
struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64
    /// nil for an existing file (device and inode are its own); for a file not there yet, its
    /// name in the directory that device and inode identify.
    var name: String?

    /// The identity of the file at `path` (following symbolic links); for a path where no file
    /// is yet, that of its directory and its name. nil if the directory does not exist either.
    init?(_ path: String) {
        // Standard output is one stream, whatever file it may be redirected to.
        if path == "-" {
            self.init(device: 0, inode: 0, name: path)
            return
        }
        var info = stat()
        if stat(path, &info) == 0 {
            self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), name: nil)
            return
        }
        let (directory, name) = splitPath(path)
        guard stat(directoryOrDot(directory), &info) == 0 else { return nil }
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), name: name)
    }

    init(device: UInt64, inode: UInt64, name: String?) {
        self.device = device
        self.inode = inode
        self.name = name
    }
}

/// Refuses, before any work, a command that would write a file it reads or write one file for
/// two outputs: each write is compared with each read and with the other writes by device and
/// inode (`stat`), not by spelling.
///
/// - Parameters:
///   - reads: the files the command reads.
///   - writes: the files it writes.
///   - allowed: (write option, read option) pairs that may name the same file: `--checkpoint`
///     continuing the `--resume` checkpoint in place.
/// - Throws: an `InputError` naming both options and paths.
public func refuseOverlappingFiles(reads: [NamedFile], writes: [NamedFile], allowed: [(write: String, read: String)] = []) throws {
    // `-` as an input is no file (it is refused when read); as an output it is standard output.
    let readIdentities = reads.map { $0.path == "-" ? nil : FileIdentity($0.path) }
    let writeIdentities = writes.map { FileIdentity($0.path) }
    for (index, write) in writes.enumerated() {
        guard let identity = writeIdentities[index] else { continue }   // no directory: OutputPath says so
        for (readIndex, read) in reads.enumerated() where readIdentities[readIndex] == identity {
            if allowed.contains(where: { $0.write == write.option && $0.read == read.option }) { continue }
            throw InputError("\(write.shown) is the same file as \(read.shown): writing it would destroy an input; write to another path")
        }
        for (otherIndex, other) in writes.enumerated() where otherIndex < index && writeIdentities[otherIndex] == identity {
            throw InputError("\(write.shown) is the same file as \(other.shown): one would overwrite the other; give them different paths")
        }
    }
}

extension DataSource {
    /// The files reading this source opens, named for `option` (`--train`, `--test`…):
    /// `.npy` features, labels and the labels' names file; a CSV; the IDX files of `mnist:DIR`
    /// for both splits, raw and gzipped (whichever exist).
    func files(option: String, labelsOption: String) -> [NamedFile] {
        switch self {
        case .csv(let path):
            return [NamedFile(option, path)]
        case .npy(let features, let labels):
            return [NamedFile(option, features), NamedFile(labelsOption, labels),
                    NamedFile(labelsOption, NPYDataset.sidecarPath(labels: labels), given: labels)]
        case .mnist(let directory):
            let names = ["train", "t10k"].flatMap { ["\($0)-images-idx3-ubyte", "\($0)-labels-idx1-ubyte"] }
            return names.flatMap { [$0, $0 + ".gz"] }
                .map { joinPath(directory, $0) }
                .filter { access($0, F_OK) == 0 }
                .map { NamedFile(option, $0, given: text) }
        case .spirals:
            return []
        }
    }
}

extension TrainingConfiguration {
    /// Refuses `--save`, `--checkpoint` or `--metrics` naming a file the run reads (`--train`,
    /// `--test`, their labels, `--init-from`, `--resume`) or one another. `--checkpoint` may be
    /// the `--resume` checkpoint: continuing it in place is the normal use.
    public func refuseOverlappingFiles() throws {
        var reads = train.files(option: "--train", labelsOption: "--train-labels")
            + (test?.files(option: "--test", labelsOption: "--test-labels") ?? [])
        if let initFrom { reads.append(NamedFile("--init-from", initFrom)) }
        if let resume { reads.append(NamedFile("--resume", resume)) }
        let writes = [("--save", save), ("--checkpoint", checkpoint), ("--metrics", metrics)]
            .compactMap { option, path in path.map { NamedFile(option, $0) } }
        try MLP.refuseOverlappingFiles(reads: reads, writes: writes, allowed: [(write: "--checkpoint", read: "--resume")])
    }
}

/// Checks `--save`, `--checkpoint` and `--metrics` (`OutputPath`), before any work: each must be a
/// kind of path its option accepts, in a directory that can be written.
public func checkTrainingOutputs(save: String?, checkpoint: String?, metrics: String?) throws {
    if let save { _ = try OutputPath(save, for: .save) }
    if let checkpoint { _ = try OutputPath(checkpoint, for: .checkpoint) }
    if let metrics { _ = try OutputPath(metrics, for: .metrics) }
}
