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
