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
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw InputError("\(path): cannot open: \(errnoDescription())") }
    defer { close(descriptor) }
    if fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
        throw InputError("\(path): cannot read: is a directory")
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { throw InputError("\(path): cannot read: \(errnoDescription())") }
        if count == 0 { return bytes }
        let start = bytes.count
        chunk.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0 ..< count])) }
        try bytes.withUnsafeBufferPointer { try checkStream($0, start) }
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
