import Foundation

/// A CSV file opened to be read, told apart by its first two bytes: gzip-compressed (gzip's
/// magic bytes 1f 8b, whatever the file's name: `x.csv.gz`, or a `.csv` that is in fact gzip,
/// or a pipe) or text.
enum CSVInput {
    /// Text in a regular file: the caller reads or maps the path whole.
    case textFile
    /// Text from a pipe, `<(…)` or a device: the file, its first bytes looked at but not lost.
    case textStream(InputFile)
    /// gzip: inflated as it is read (`CSVStreamWindow(gzip:)`), never whole.
    case gzip(InputFile)

    init(path: String) throws {
        let file = try InputFile(path: path)
        if try file.startsWithGzipMagic() {
            self = .gzip(file)
        } else {
            self = file.isRegularFile ? .textFile : .textStream(file)
        }
    }
}

/// A window onto a stream of bytes for `CSVScanner`: a buffer holding the bytes read and not
/// yet dropped, refilled from `source` as the scanner moves on. It holds about a chunk (1 MiB)
/// beyond the current record, so memory stays a few MiB for a stream of any length, and at
/// most about one record's bound (64 MiB) for a hostile one.
final class CSVStreamWindow {
    let chunkSize: Int
    private let source: (UnsafeMutableRawBufferPointer) throws -> Int
    private var buffer: UnsafeMutableRawBufferPointer
    private var count = 0
    /// `source` has returned 0: `bytes` ends where the stream does.
    private(set) var atEnd = false
    /// Bytes read from the stream so far, the dropped ones too.
    private(set) var bytesRead = 0

    /// What the scanner reads first: enough for `csvEncodingProblem` to judge the text.
    let firstReadSize: Int

    /// - Parameters:
    ///   - chunkSize: The least that one refill reads.
    ///   - firstReadSize: The least that the first read takes. Tests make both a few bytes, to
    ///     put the window's edges everywhere in a short text.
    ///   - source: Reads the next bytes into its buffer and returns how many; 0 only at the end.
    init(chunkSize: Int = 1 << 20, firstReadSize: Int = 4096, source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        precondition(chunkSize > 0 && firstReadSize > 0)
        self.chunkSize = chunkSize
        self.firstReadSize = firstReadSize
        self.source = source
        buffer = .allocate(byteCount: max(chunkSize, 4096), alignment: 16)
    }

    /// The gzip stream in `file`, inflated as the window moves.
    convenience init(gzip file: InputFile) throws {
        let reader = try GzipReader(file: file)
        self.init { try reader.read(into: $0) }
    }

    /// The stream `file` as it is (text from a pipe or a file).
    convenience init(file: InputFile) {
        self.init { try file.read(into: $0) }
    }

    deinit { buffer.deallocate() }

    /// The bytes the buffer can hold.
    var capacity: Int { buffer.count }

    /// The bytes read and not dropped; valid until the next `advance`.
    var bytes: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)
    }

    /// Drops the bytes before `start` (the rest moves to the front), then reads until `minimum`
    /// more bytes are held or the stream ends.
    func advance(droppingBefore start: Int, readingAtLeast minimum: Int) throws {
        precondition(start >= 0 && start <= count && minimum > 0)
        if start > 0 {
            memmove(buffer.baseAddress!, buffer.baseAddress! + start, count - start)
            count -= start
        }
        let wanted = count + minimum
        if wanted > buffer.count {
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: wanted, alignment: 16)
            larger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: count)
            buffer.deallocate()
            buffer = larger
        }
        while count < wanted && !atEnd {
            let read = try source(UnsafeMutableRawBufferPointer(rebasing: buffer[count ..< wanted]))
            if read == 0 { atEnd = true }
            count += read
            bytesRead += read
        }
    }
}
