import Foundation

/// Writes a `.npy` file whose length is known only at the end: a placeholder header, the data
/// through a 1 MiB buffer, then the real header in place; written to a temporary file that
/// `finish` fills in and fsyncs and `commit` renames over `path`. `discard` removes the
/// temporary file of a conversion that failed (at any point before `commit`).
///
/// A write that fails (a full disk) throws a `WriteError` naming `path` and the system's reason.
struct NPYStreamWriter {
    let path: String
    let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    /// Written, synced and closed by `finish`, waiting for `commit`.
    private var staged: StagedFile?
    static let headerLength = 128

    init(path: String) throws {
        let (staged, descriptor) = try StagedFile.create(for: path)
        self.path = staged.path
        temporaryPath = staged.temporaryPath
        self.descriptor = descriptor
        // The header's place, filled by `finish`.
        buffer = [UInt8](repeating: UInt8(ascii: " "), count: Self.headerLength)
        buffer.reserveCapacity(1 << 20)
    }

    mutating func append(_ value: Double, as type: NPYHeader.ElementType) throws {
        if type == .float32 {
            withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
        }
        if buffer.count >= 1 << 20 { try flush() }
    }

    mutating func append(_ value: Int64) throws {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
        if buffer.count >= 1 << 20 { try flush() }
    }

    private mutating func flush() throws {
        let descriptor = descriptor, path = path
        try buffer.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Rewrites every int64 written so far through `transform` (class numbers → class indices),
    /// one 1 MiB block at a time.
    mutating func remap(_ transform: (Int64) -> Int32) throws {
        try flush()
        let descriptor = descriptor, path = path
        let end = lseek(descriptor, 0, SEEK_END)
        var block = [Int64](repeating: 0, count: 1 << 17)
        var offset = Self.headerLength
        while offset < end {
            let count = min(block.count, (Int(end) - offset) / 8)
            let read = block.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, count * 8, off_t(offset)) }
            guard read == count * 8 else { throw WriteError(path: path, reason: "\(errnoDescription()) (reading back \(temporaryPath))") }
            for i in 0 ..< count { block[i] = Int64(transform(block[i])) }
            try block.withUnsafeBytes {
                try writeAll(descriptor, UnsafeRawBufferPointer(rebasing: $0.prefix(count * 8)), path: path, at: offset)
            }
            offset += count * 8
        }
    }

    /// Writes the buffer and the real header, fsyncs and closes the temporary file.
    mutating func finish(header: NPYHeader) throws {
        try flush()
        let encoded = header.encoded(paddedLength: Self.headerLength)
        precondition(encoded.count == Self.headerLength)
        let descriptor = descriptor, path = path
        try encoded.withUnsafeBytes { try writeAll(descriptor, $0, path: path, at: 0) }
        guard fsync(descriptor) == 0 else { throw WriteError(path: path, reason: "\(errnoDescription()) (fsync)") }
        self.descriptor = -1
        let closed = close(descriptor) == 0, code = errno
        staged = StagedFile(path: path, temporaryPath: temporaryPath)   // `discard` removes it from here on
        guard closed else { throw WriteError(path: path, reason: "\(errnoDescription(code)) (close)") }
    }

    /// Renames the finished file over `path`.
    mutating func commit() throws {
        guard let staged else { preconditionFailure("commit before finish") }
        self.staged = nil
        try staged.commit()
    }

    /// Removes the temporary file unless it was committed.
    mutating func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
            unlink(temporaryPath)
        } else if let staged {
            staged.discard()
            self.staged = nil
        }
    }
}
