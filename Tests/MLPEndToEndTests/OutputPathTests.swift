import XCTest
@testable import MLP
import TestSupport

/// Every path `mlp` writes goes through `OutputPath`: any name the system accepts works (one
/// byte to NAME_MAX), a path that cannot end in the file asked for is refused before any work with
/// one line whose advice fits the cause, a symbolic link is written through and a file's mode is
/// kept. Each case is a real `mlp` process; the folder is compared before and after by
/// `EntrySnapshot` (kind, mode, link target and bytes of every entry, FIFOs included).
final class OutputPathTests: ScratchFolderTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        try writeClassificationCSV(directory.appendingPathComponent("d.csv"), rows: 50, seed: 1)
    }

    let quick = ["--hidden", "2", "--batch-size", "16", "--epochs", "1"]

    /// `mlp arguments…` started in the scratch folder, so that relative names are the ones given.
    func runHere(ranks: Int = 1, _ arguments: [String], environment: [String: String] = [:]) throws -> MLPProcess.Output {
        let command = try MLPProcess.command(ranks: ranks == 1 ? nil : ranks, executable: "mlp", arguments)
        return try MLPProcess.launch("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", directory.path, command.path] + command.arguments,
                                     environment: environment)
    }

    /// A refused run: `status`, one line with each of `parts` and never "free space", nothing
    /// trained (no epoch line), every entry of the folder as it was.
    @discardableResult
    func assertRefusedBeforeWork(ranks: Int = 1, _ arguments: [String], _ parts: String..., status: Int32 = ExitStatus.badInput,
                                 file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = try EntrySnapshot(directory)
        let output = try runHere(ranks: ranks, arguments, environment: MLPProcess.refusalEnvironment)
        let message = assertRefused(output, status: status, file: file, line: line)
        for part in parts { XCTAssertTrue(message.contains(part), "'\(part)' not in: \(message)", file: file, line: line) }
        XCTAssertFalse(message.contains("free space"), message, file: file, line: line)
        XCTAssertFalse(output.stdout.contains("epoch "), "trained before refusing: \(output.stdout)", file: file, line: line)
        XCTAssertEqual(try EntrySnapshot(directory), before, file: file, line: line)
        print("[\(ranks) rank(s)] \(message.replacingOccurrences(of: directory.path, with: "DIR"))")
        return message
    }

    func assertSucceeds(ranks: Int = 1, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let output = try runHere(ranks: ranks, arguments)
        XCTAssertEqual(output.status, 0, "\(arguments): \(output.stderr)", file: file, line: line)
        XCTAssertEqual(output.reason, .exit, file: file, line: line)
    }

    // MARK: - any name the system accepts

    /// One-character names trapped in Foundation's path methods (SIGILL), for every writer and for
    /// the inputs compared with the outputs; as one process and under mpirun.
    func testOneCharacterNamesWorkForEveryOutput() throws {
        for ranks in [1, 2] {
            try assertSucceeds(ranks: ranks, ["train", "--train", "d.csv", "--save", "m", "--checkpoint", "c", "--metrics", "k"] + quick)
            XCTAssertEqual(try Checkpoint.read(path: path("c")).position.epoch, 2)
            XCTAssertEqual(try ModelFile.read(path: path("m")).layerSizes, [5, 2, 3])
        }
        try assertSucceeds(["predict", "--model", "m", "--input", "d.csv", "--output", "p"])
        try assertSucceeds(["export", "--model", "m", "--output", "x"])
        try assertSucceeds(["plot", "--metrics", "k", "--output", "q"])
        try assertSucceeds(["convert", "--input", "d.csv", "--output", "v"])
        XCTAssertTrue(try String(contentsOfFile: path("p"), encoding: .utf8).hasPrefix("label,"))
        XCTAssertTrue(try String(contentsOfFile: path("q"), encoding: .utf8).contains("<svg"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("v.X.npy")))
    }

    /// Inputs with short or odd names are refused with one line, not a trap.
    func testOneCharacterAndOddInputNamesAreOneLine() throws {
        for ranks in [1, 2] {
            try assertRefusedBeforeWork(ranks: ranks, ["train", "--train", "x", "--save", "m"] + quick, "x", "No such file")
            try assertRefusedBeforeWork(ranks: ranks, ["train", "--train", "-", "--save", "m"] + quick, "-")
            try assertRefusedBeforeWork(ranks: ranks, ["train", "--train", "a/", "--save", "m"] + quick, "a/")
        }
    }

    /// The temporary file of a 253- or 255-byte name must fit NAME_MAX too: it is shortened.
    func testNamesUpToNameMaxWork() throws {
        for length in [253, 255] {
            let name = String(repeating: "n", count: length - 3) + ".st"
            try assertSucceeds(["train", "--train", "d.csv", "--save", name, "--checkpoint", String(name.dropLast(3)) + ".ck"] + quick)
            XCTAssertEqual(try ModelFile.read(path: path(name)).layerSizes, [5, 2, 3])
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp") }, [])
        let tooLong = String(repeating: "n", count: 256)
        try assertRefusedBeforeWork(["train", "--train", "d.csv", "--save", tooLong] + quick, "256 bytes", "use a shorter name")
    }

    // MARK: - refused before any work

    func testDirectoriesAreRefusedBeforeAnyWork() throws {
        try FileManager.default.createDirectory(atPath: path("dir"), withIntermediateDirectories: true)
        for option in ["--save", "--checkpoint", "--metrics"] {
            for given in [".", "..", "dir", "dir/", "sub/", path("dir")] {
                try assertRefusedBeforeWork(["train", "--train", "d.csv", option, given] + quick, "\(option) \(given):", "give a file name")
            }
        }
        try assertRefusedBeforeWork(ranks: 2, ["train", "--train", "d.csv", "--save", "."] + quick, "--save .: is a directory")
        try assertSucceeds(["train", "--train", "d.csv", "--save", "m"] + quick)
        try assertRefusedBeforeWork(["predict", "--model", "m", "--input", "d.csv", "--output", "dir"], "--output dir: is a directory")
        try assertRefusedBeforeWork(["export", "--model", "m", "--output", "."], "--output .: is a directory")
        try assertRefusedBeforeWork(["convert", "--input", "d.csv", "--output", "dir/"], "--output dir/: ends in '/'")
    }

    func testPathsThatCannotBeWrittenAreRefusedWithFittingAdvice() throws {
        try assertRefusedBeforeWork(["train", "--train", "d.csv", "--save", "none/m"] + quick, "directory none does not exist")
        try assertRefusedBeforeWork(["train", "--train", "d.csv", "--save", "d.csv/m"] + quick, "not a directory", "fix the path")
        // A read-only file system: root may write anywhere else, so a read-only tmpfs shows it.
        let mount = ["-t", "tmpfs", "-o", "ro,size=65536", "tmpfs", try readOnlyFolder()]
        guard MLPProcess.isRoot, (try? MLPProcess.launch("mount", mount))?.status == 0 else {
            throw XCTSkip("a read-only tmpfs needs root and mount")
        }
        addTeardownBlock { [directory] in _ = try? MLPProcess.launch("umount", [directory!.appendingPathComponent("ro").path]) }
        try assertRefusedBeforeWork(["train", "--train", "d.csv", "--checkpoint", "ro/c"] + quick,
                                    "read-only file system", "write to another one")
    }

    /// A file system that turns read-only mid-run (EROFS) fails the next checkpoint with advice for
    /// that cause, not "free space".
    func testAWriteThatFailsMidRunGivesAdviceThatFitsItsCause() throws {
        guard MLPProcess.isRoot else { throw XCTSkip("remounting a tmpfs read-only needs root") }
        let disk = try readOnlyFolder()
        guard (try? MLPProcess.launch("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk]))?.status == 0 else {
            throw XCTSkip("mount -t tmpfs failed")
        }
        addTeardownBlock { _ = try? MLPProcess.launch("umount", [disk]) }
        try writeClassificationCSV(directory.appendingPathComponent("big.csv"), rows: 3000, seed: 3)
        let run = try MLPProcess.start(["train", "--train", path("big.csv"), "--hidden", "16", "--batch-size", "8", "--epochs", "500",
                                        "--checkpoint", disk + "/c"])
        try run.waitForFile(disk + "/c")
        // EBUSY while the checkpoint's temporary file is open for writing: try again.
        var remounted = false
        for _ in 0 ..< 200 where !remounted {
            remounted = (try MLPProcess.launch("mount", ["-o", "remount,ro", disk])).status == 0
            if !remounted { usleep(10_000) }
        }
        XCTAssertTrue(remounted, "mount -o remount,ro kept failing")
        let message = assertRefused(run.wait(), status: ExitStatus.writeFailed, "Read-only file system", "write to a writable file system")
        XCTAssertFalse(message.contains("free space"), message)
        print(message.replacingOccurrences(of: directory.path, with: "DIR"))
    }

    func readOnlyFolder() throws -> String {
        try FileManager.default.createDirectory(atPath: path("ro"), withIntermediateDirectories: true)
        return path("ro")
    }

    /// `--save` and `--checkpoint` must end in a regular file: a stream is refused, left as it was.
    func testStreamsAreRefusedForSaveAndCheckpoint() throws {
        XCTAssertEqual(mkfifo(path("f"), 0o644), 0)
        for option in ["--save", "--checkpoint"] {
            try assertRefusedBeforeWork(["train", "--train", "d.csv", option, "f"] + quick,
                                        "\(option) f: is a named pipe (FIFO)", "give a file path")
            try assertRefusedBeforeWork(["train", "--train", "d.csv", option, "-"] + quick, "\(option) -: standard output is a stream")
            try assertRefusedBeforeWork(["train", "--train", "d.csv", option, "/dev/null"] + quick, "is a character device")
        }
        try assertRefusedBeforeWork(ranks: 2, ["train", "--train", "d.csv", "--save", "f"] + quick, "named pipe")
    }

    // MARK: - links and modes

    /// A link is written through: the link stays, its target (in another folder) is replaced there,
    /// and no temporary file is left beside either.
    func testSymbolicLinksAreWrittenThrough() throws {
        try FileManager.default.createDirectory(atPath: path("elsewhere"), withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: path("elsewhere/target")))
        try FileManager.default.createSymbolicLink(atPath: path("link"), withDestinationPath: "elsewhere/target")
        try FileManager.default.createSymbolicLink(atPath: path("dangling"), withDestinationPath: "elsewhere/new")
        try FileManager.default.createSymbolicLink(atPath: path("p-link"), withDestinationPath: "elsewhere/p")
        try assertSucceeds(["train", "--train", "d.csv", "--save", "link", "--checkpoint", "dangling"] + quick)
        try assertSucceeds(["predict", "--model", "link", "--input", "d.csv", "--output", "p-link"])
        for (link, target) in [("link", "elsewhere/target"), ("dangling", "elsewhere/new"), ("p-link", "elsewhere/p")] {
            XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path(link)), target, "\(link) is still the link")
        }
        XCTAssertEqual(try ModelFile.read(path: path("elsewhere/target")).layerSizes, [5, 2, 3])
        XCTAssertEqual(try Checkpoint.read(path: path("elsewhere/new")).position.epoch, 2)
        XCTAssertTrue(try String(contentsOfFile: path("elsewhere/p"), encoding: .utf8).hasPrefix("label,"))
        for folder in [directory.path, path("elsewhere")] {
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp") }, [])
        }
    }

    /// Replacing a file keeps its mode (0600 stayed private; it became 0644); a new file gets
    /// 0666 less the umask.
    func testModesAreKept() throws {
        for name in ["m", "c", "k", "p"] {
            try Data("old".utf8).write(to: URL(fileURLWithPath: path(name)))
            XCTAssertEqual(chmod(path(name), 0o600), 0)
        }
        XCTAssertEqual(chmod(path("k"), 0o640), 0)
        try assertSucceeds(["train", "--train", "d.csv", "--save", "m", "--checkpoint", "c", "--metrics", "k"] + quick)
        try assertSucceeds(["predict", "--model", "m", "--input", "d.csv", "--output", "p"])
        try assertSucceeds(["predict", "--model", "m", "--input", "d.csv", "--output", "new"])
        XCTAssertEqual(try EntrySnapshot.mode(path("m")), 0o600)
        XCTAssertEqual(try EntrySnapshot.mode(path("c")), 0o600)
        XCTAssertEqual(try EntrySnapshot.mode(path("k")), 0o640)
        XCTAssertEqual(try EntrySnapshot.mode(path("p")), 0o600)
        let mask = umask(0)
        umask(mask)
        XCTAssertEqual(try EntrySnapshot.mode(path("new")), 0o666 & ~mode_t(mask))
    }

    /// SIGINT without `--checkpoint` writes `mlp-interrupted.safetensors` beside `--save`: beside
    /// a one-character name too (finding its directory trapped).
    func testInterruptionCheckpointBesideAOneCharacterSave() throws {
        try writeClassificationCSV(directory.appendingPathComponent("big.csv"), rows: 3000, seed: 3)
        let command = try MLPProcess.command(ranks: nil, executable: "mlp", ["train", "--train", "big.csv", "--hidden", "64,64",
                                                                            "--batch-size", "8", "--epochs", "50", "--save", "m"])
        let here = ["-c", "cd \"$0\" && exec \"$@\"", directory.path, command.path]
        let run = try MLPProcess.start(program: "/bin/sh", here + command.arguments, ranksRun: "mlp")
        try run.waitUntil("training began") { run.stdout.contains("learning rate") }
        run.signal(SIGINT)
        assertRefused(run.wait(), status: ExitStatus.interrupted(by: SIGINT), "checkpoint written to mlp-interrupted.safetensors")
        XCTAssertGreaterThan(try Checkpoint.read(path: path("mlp-interrupted.safetensors")).position.step, 0)
    }

    // MARK: - the declarations a generator reads

    func testEveryOutputDeclaresItsKinds() {
        for option in OutputOption.all where option != .sweepDirectory {
            XCTAssertTrue(option.accepted.isSuperset(of: OutputKind.files), "\(option.command) \(option.name) takes files")
            XCTAssertTrue(option.accepted.isSubset(of: OutputKind.files.union(OutputKind.streams)))
        }
        // The one directory output: a new or existing directory, never a file, a stream, `.` or `..`.
        XCTAssertEqual(OutputOption.sweepDirectory.accepted, [.newFile, .directory, .trailingSlash])
        XCTAssertTrue(OutputOption.save.accepted.isDisjoint(with: OutputKind.streams))
        XCTAssertTrue(OutputOption.checkpoint.accepted.isDisjoint(with: OutputKind.streams))
        XCTAssertTrue(OutputOption.metrics.accepted.isSuperset(of: OutputKind.streams))
        for code in [ENAMETOOLONG, ENOTDIR, EACCES, EROFS, EISDIR, EPERM] {
            XCTAssertFalse(WriteError(path: "f", code: code).remedy.contains("space"), "\(code)")
        }
        XCTAssertEqual(WriteError(path: "f", code: ENOSPC).remedy, "free space")
    }
}

/// Every entry under a folder as `lstat` sees it: kind and mode, a link's target, a regular
/// file's bytes (a FIFO is never opened, so taking a snapshot cannot block).
struct EntrySnapshot: Equatable {
    let entries: [String: String]

    init(_ folder: URL) throws {
        var entries: [String: String] = [:]
        for name in try FileManager.default.subpathsOfDirectory(atPath: folder.path) {
            let path = folder.appendingPathComponent(name).path
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            var entry = String(info.st_mode, radix: 8)
            if info.st_mode & S_IFMT == S_IFLNK { entry += " -> " + (try FileManager.default.destinationOfSymbolicLink(atPath: path)) }
            if info.st_mode & S_IFMT == S_IFREG {
                entry += " " + (FileManager.default.contents(atPath: path)?.base64EncodedString() ?? "?")
            }
            entries[name] = entry
        }
        self.entries = entries
    }

    static func mode(_ path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ProcessError("\(path): no such file") }
        return info.st_mode & 0o7777
    }
}
