import CZlib

/// gzip decompression through zlib: MNIST's `.gz` files (`decompress`, whole) and gzipped CSV
/// (`GzipReader`, as a stream).
public enum Gzip {
    /// The decompressed contents of the gzip file `data` (several concatenated members are
    /// read as one stream, as `gunzip` does).
    ///
    /// - Parameters:
    ///   - path: Names the file in errors: "<path>: corrupted gzip stream (…)".
    ///   - limit: The most bytes the output may take: a small file can inflate to a thousand
    ///     times its size, so it is refused at this bound rather than when memory runs out.
    public static func decompress(_ data: [UInt8], path: String, limit: Int = defaultLimit) throws -> [UInt8] {
        guard !data.isEmpty else { throw InputError("\(path): corrupted gzip stream (file is empty)") }
        let reader = try GzipReader(path: path, readCompressed: bytesSource(data))
        var output = [UInt8](repeating: 0, count: min(initialOutputSize(data), limit))
        var produced = 0
        while true {
            if produced == output.count {
                if output.count == limit {
                    // Full at the bound: refused unless the stream ends exactly here.
                    var byte: UInt8 = 0
                    guard try withUnsafeMutableBytes(of: &byte, { try reader.read(into: $0) }) == 0 else {
                        throw InputError("\(path): decompresses to more than \(describeSize(limit)), "
                            + "more than mlp reads from one gzip file")
                    }
                    break
                }
                output.append(contentsOf: repeatElement(0, count: min(output.count, limit - output.count)))
            }
            let count = try output.withUnsafeMutableBytes {
                try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[produced...]))
            }
            if count == 0 { break }
            produced += count
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Half of this host's physical memory.
    public static var defaultLimit: Int { max(MemoryEstimate.physicalMemory / 2, 1 << 20) }

    /// A first guess at the decompressed size: gzip's trailer holds it modulo 2³², which an
    /// untrusted file can set to anything, so it is capped by deflate's best ratio (~1032:1).
    private static func initialOutputSize(_ data: [UInt8]) -> Int {
        var trailerSize = 0
        if data.count >= 18 {
            let tail = data.count - 4
            trailerSize = Int(data[tail]) | Int(data[tail + 1]) << 8
                | Int(data[tail + 2]) << 16 | Int(data[tail + 3]) << 24
        }
        let largestPossible = data.count * 1032 + 1024
        return max(min(trailerSize, largestPossible), 1 << 16)
    }

    /// Whether `bytes` start with gzip's magic bytes, 1f 8b.
    static func hasMagic(_ bytes: some Collection<UInt8>) -> Bool { bytes.starts(with: [0x1f, 0x8b]) }
}

/// A gzip stream inflated as it is read: each `read(into:)` fills the caller's buffer with the
/// next decompressed bytes. What it holds is zlib's state (its 32 KiB window) and one buffer of
/// compressed input, whatever the stream's size.
///
/// Every member's CRC-32 and length (ISIZE) are checked by zlib at the member's end; several
/// concatenated members (`cat a.gz b.gz`) read as one stream, as `zcat` reads them. Anything
/// else is an `InputError` "<path>: corrupted gzip stream (…)": a header that is not gzip's,
/// deflate data zlib refuses, a trailer that does not match the data, a file that ends inside a
/// member (truncated), and bytes after the last member that do not start another one (trailing
/// data, which `gzip -d` warns about and ignores; here refused, as `Gzip.decompress` does).
final class GzipReader {
    let path: String
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private let readCompressed: (UnsafeMutableRawBufferPointer) throws -> Int
    /// `readCompressed` returned 0: no compressed bytes beyond those in `input`.
    private var inputEnded = false
    /// The last member ended and nothing follows it.
    private var finished = false
    /// Compressed bytes read so far, for the offset in messages.
    private var compressedBytesRead = 0

    /// - Parameters:
    ///   - path: Names the stream in errors.
    ///   - readCompressed: Reads the next compressed bytes into its buffer and returns how many;
    ///     0 only at the end.
    init(path: String, inputBufferSize: Int = 1 << 18,
         readCompressed: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        self.path = path
        self.readCompressed = readCompressed
        input = .allocate(byteCount: inputBufferSize, alignment: 16)
        // zlib keeps a pointer back to its z_stream: it must not move, so it lives on the heap.
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // windowBits 15 + 16: the largest window, gzip only (no zlib or raw deflate streams).
        // `inflateInit2` is a C macro; this is the function it expands to.
        guard inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw InputError("\(path): corrupted gzip stream (zlib failed to initialise)")
        }
    }

    /// The gzip stream in `file`, read as it is inflated.
    convenience init(file: InputFile) throws {
        try self.init(path: file.path) { try file.read(into: $0) }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    /// Fills `buffer` with the next decompressed bytes and returns how many: fewer than
    /// `buffer.count` only at the end of the stream, 0 once it has ended.
    // One function over ~40 lines: zlib's status, the member loop and the input refills share its state.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let room = min(buffer.count, Int(UInt32.max))
        stream.pointee.next_out = base.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(room)
        reading: while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 && !inputEnded { try readInput() }
            let status = inflate(stream, Z_NO_FLUSH)
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                // A member ended (its CRC-32 and length matched): another member, the end, or garbage.
                while stream.pointee.avail_in < 2 && !inputEnded { try readInput() }
                if stream.pointee.avail_in == 0 {
                    finished = true
                    break reading
                }
                let next = stream.pointee.next_in!
                guard stream.pointee.avail_in >= 2 && Gzip.hasMagic([next[0], next[1]]) else {
                    throw corrupted("trailing data after the end of the gzip stream, at byte \(compressedOffset): not another gzip member")
                }
                inflateReset(stream)
            case Z_BUF_ERROR where stream.pointee.avail_in == 0:
                // No progress without more input.
                if inputEnded { throw corrupted("unexpected end of file: the file is truncated") }
            default:
                throw corrupted(reason(status))
            }
        }
        return room - Int(stream.pointee.avail_out)
    }

    /// The offset in the file of the next compressed byte zlib will read.
    private var compressedOffset: Int { compressedBytesRead - Int(stream.pointee.avail_in) }

    /// Moves the compressed bytes zlib has not read to the front of `input` and reads more after them.
    private func readInput() throws {
        let unread = Int(stream.pointee.avail_in)
        if unread > 0, let next = stream.pointee.next_in, UnsafeMutableRawPointer(next) != input.baseAddress {
            input.baseAddress!.copyMemory(from: next, byteCount: unread)
        }
        let count = try readCompressed(UnsafeMutableRawBufferPointer(rebasing: input[unread...]))
        if count == 0 { inputEnded = true }
        compressedBytesRead += count
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_in = UInt32(unread + count)
    }

    private func corrupted(_ reason: String) -> InputError {
        InputError("\(path): corrupted gzip stream (\(reason))")
    }

    /// zlib's message for `status`, with what its two trailer checks mean.
    private func reason(_ status: Int32) -> String {
        let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
        switch message {
        case "incorrect data check": return "incorrect data check: the CRC-32 in a member's trailer does not match its data"
        case "incorrect length check": return "incorrect length check: the length in a member's trailer does not match its data"
        default: return message
        }
    }
}
