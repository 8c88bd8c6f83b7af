import CZlib

/// gzip decompression through zlib (MNIST ships as `.gz`).
public enum Gzip {
    /// The decompressed contents of the gzip file `data` (several concatenated members are
    /// read as one stream, as `gunzip` does).
    ///
    /// - Parameters:
    ///   - path: Names the file in errors: "<path>: corrupted gzip stream (…)".
    ///   - limit: The most bytes the output may take: a small file can inflate to a thousand
    ///     times its size, so it is refused at this bound rather than when memory runs out.
    // One function over ~60 lines: the member loop keeps zlib's stream state and its checks together.
    public static func decompress(_ data: [UInt8], path: String, limit: Int = defaultLimit) throws -> [UInt8] {
        func corrupted(_ reason: String) -> InputError {
            InputError("\(path): corrupted gzip stream (\(reason))")
        }
        guard !data.isEmpty else { throw corrupted("file is empty") }
        var output = [UInt8](repeating: 0, count: min(initialOutputSize(data), limit))
        var produced = 0
        var stream = z_stream()
        // windowBits 15 + 32: the largest window, and zlib detects the gzip header itself.
        // `inflateInit2` is a C macro; this is the function it expands to.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw corrupted("zlib failed to initialise")
        }
        defer { inflateEnd(&stream) }
        try data.withUnsafeBufferPointer { input in
            var consumed = 0
            while true {
                if stream.avail_in == 0 && consumed < input.count {
                    // avail_in is 32 bits: feed inputs over 4 GiB in pieces.
                    let piece = min(input.count - consumed, Int(UInt32.max))
                    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + consumed)
                    stream.avail_in = UInt32(piece)
                    consumed += piece
                }
                if produced == output.count {
                    guard output.count < limit else {
                        throw InputError("\(path): decompresses to more than \(describeSize(limit)), more than mlp reads from one gzip file")
                    }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, limit - output.count)))
                }
                // The output array may have moved when it grew: point zlib at it afresh each call.
                // (inflate keeps its own copy of the window, so this is safe.)
                let status = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    let room = min(buffer.count - produced, Int(UInt32.max))
                    stream.next_out = buffer.baseAddress! + produced
                    stream.avail_out = UInt32(room)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return status
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    let unread = input.count - consumed + Int(stream.avail_in)
                    if unread == 0 { return }
                    let next = input.count - unread
                    if unread >= 2 && input[next] == 0x1f && input[next + 1] == 0x8b {
                        inflateReset(&stream)
                        continue
                    }
                    throw corrupted("\(unread) bytes of trailing data after the end of the stream")
                case Z_BUF_ERROR where stream.avail_in == 0 && consumed == input.count:
                    throw corrupted("unexpected end of file: the file is truncated")
                case Z_BUF_ERROR:
                    continue  // no room for output: the next round grows the buffer
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw corrupted(reason)
                }
            }
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
}
