import Foundation

/// The whole contents of the input file at `path`, as `readFileBytes` reads it, with one
/// difference: when `path` is not a regular file (a pipe, `<(…)`, a device such as `/dev/zero`)
/// its length is unknown in advance, so `checkStream` sees the bytes after every read (all so
/// far, and where the new ones start) and can refuse the stream early, before it fills memory.
/// A regular file is read whole and left to the reader's own checks: its size bounds it.
///
/// - Parameter checkStream: throws an `InputError` to stop reading.
func readInputBytes(_ path: String,
                    checkStream: (_ bytes: UnsafeBufferPointer<UInt8>, _ newBytesStart: Int) throws -> Void) throws -> [UInt8] {
    var info = stat()
    if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { return try readFileBytes(path) }
    return try readStreamBytes(InputFile(path: path), checkStream: checkStream)
}

/// The rest of the stream `file` (from its first byte: what `peek` looked at is read again),
/// with `checkStream` as in `readInputBytes`.
func readStreamBytes(_ file: InputFile,
                     checkStream: (_ bytes: UnsafeBufferPointer<UInt8>, _ newBytesStart: Int) throws -> Void) throws -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = try chunk.withUnsafeMutableBytes { try file.read(into: $0) }
        if count == 0 { return bytes }
        let start = bytes.count
        chunk.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0 ..< count])) }
        try bytes.withUnsafeBufferPointer { try checkStream($0, start) }
    }
}

/// An input file opened to be read front to back: a regular file or a stream (a pipe, `<(…)`,
/// a device). Its first bytes can be looked at before they are read (`peek`), which tells a
/// gzip file from text by its magic bytes whatever its name, even in a pipe.
final class InputFile {
    let path: String
    let isRegularFile: Bool
    private let descriptor: Int32
    /// Bytes `peek` read that `read` has not handed out yet.
    private var peeked: [UInt8] = []

    /// Throws an `InputError` naming the path and the system's reason when it cannot be opened,
    /// and for a directory.
    init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw InputError("\(path): cannot open: \(errnoDescription())") }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let failure = errno
            close(descriptor)
            throw InputError("\(path): cannot read: \(errnoDescription(failure))")
        }
        guard (info.st_mode & S_IFMT) != S_IFDIR else {
            close(descriptor)
            throw InputError("\(path): cannot read: is a directory")
        }
        self.path = path
        self.descriptor = descriptor
        isRegularFile = (info.st_mode & S_IFMT) == S_IFREG
    }

    deinit { close(descriptor) }

    /// The first `count` bytes of the file (fewer if it is shorter), left to be read again.
    /// Only before the first `read`.
    func peek(_ count: Int) throws -> [UInt8] {
        var byte: UInt8 = 0
        while peeked.count < count {
            guard try withUnsafeMutableBytes(of: &byte, readDescriptor) == 1 else { break }
            peeked.append(byte)
        }
        return Array(peeked.prefix(count))
    }

    /// Whether the file starts with gzip's magic bytes, 1f 8b, or is 1f alone: a gzip stream cut
    /// after its first byte (no text starts with that control character).
    func startsWithGzipMagic() throws -> Bool {
        let head = try peek(2)
        return Gzip.hasMagic(head) || head == [0x1f]
    }

    /// Reads the next bytes into `buffer` (the peeked ones first) and returns how many: 0 only
    /// at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !peeked.isEmpty else { return try readDescriptor(buffer) }
        let count = min(peeked.count, buffer.count)
        peeked.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0 ..< count])) }
        peeked.removeFirst(count)
        return count
    }

    private func readDescriptor(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = Foundation.read(descriptor, base, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR { throw InputError("\(path): cannot read: \(errnoDescription())") }
        }
    }
}

/// A source of bytes for `GzipReader` or `CSVStreamWindow` that hands out `bytes` front to back.
func bytesSource(_ bytes: [UInt8]) -> (UnsafeMutableRawBufferPointer) throws -> Int {
    var consumed = 0
    return { buffer in
        let count = min(buffer.count, bytes.count - consumed)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[consumed ..< consumed + count])) }
        consumed += count
        return count
    }
}

/// A `checkStream` for a binary format: once `length` bytes have arrived, `check` looks at them
/// and returns why they cannot start such a file (nil: they can), so `/dev/zero` or a stream of
/// something else is refused after one read instead of being read to the end of memory.
func checkingFirstBytes(_ length: Int, path: String, _ check: @escaping (UnsafeBufferPointer<UInt8>) -> String?)
    -> (UnsafeBufferPointer<UInt8>, Int) throws -> Void {
    { bytes, newBytesStart in
        guard newBytesStart < length, bytes.count >= length else { return }
        if let problem = check(UnsafeBufferPointer(rebasing: bytes.prefix(length))) { throw InputError("\(path): \(problem)") }
    }
}

/// `items` for a message: the first `limit` of them, then "… and N more", so an error about a
/// file of 784 columns stays one readable line.
func listed(_ items: [String], limit: Int = 8, separator: String = ", ") -> String {
    guard items.count > limit else { return items.joined(separator: separator) }
    return items.prefix(limit).joined(separator: separator) + "\(separator)… and \(items.count - limit) more"
}
