import Foundation

/// A file mapped read-only into this process's memory (`mmap`), for data larger than memory.
///
/// Reading a byte faults in its page from the page cache (or disk); pages never read are never
/// resident. Pages that were read stay in this process's resident set until released:
/// `noteTouched(bytes:)` counts what the caller reads and, past `residentBudget`, drops the
/// process's mappings with `madvise(MADV_DONTNEED)` (the pages stay in the kernel's page cache,
/// shared and reclaimable, so reading them again is a minor fault, not disk I/O). The resident
/// set a mapped file adds is thus at most about `residentBudget`, whatever the file's size.
public final class MappedFile {
    public let path: String
    /// The whole file.
    public let bytes: UnsafeRawBufferPointer
    /// Bytes counted by `noteTouched` since the last release.
    private var touchedSinceRelease = 0
    public let residentBudget: Int
    /// This mapping's slot in `MappingFaults`: a read past a shrunken file's end is reported.
    private var faultSlot: Int?

    /// The resident set a mapped file may grow to before it is released: 128 MiB, or
    /// `MLP_MAPPED_RESIDENT_MIB` mebibytes.
    public static var defaultResidentBudget: Int {
        let mebibytes = ProcessInfo.processInfo.environment["MLP_MAPPED_RESIDENT_MIB"].flatMap { Int($0) } ?? 128
        return max(mebibytes, 1) << 20
    }

    /// - Parameter sequential: the file will be read front to back (read-ahead helps); else rows
    ///   are read in shuffled order (read-ahead would fetch pages no one asked for).
    public init(path: String, residentBudget: Int = MappedFile.defaultResidentBudget, sequential: Bool = false) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw InputError("\(path): cannot open: \(errnoDescription())") }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw InputError("\(path): cannot read: \(errnoDescription())") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw InputError("\(path): cannot map: not a regular file") }
        guard info.st_size > 0 else { throw InputError("\(path): file is empty") }
        let size = Int(info.st_size)
        guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), address != MAP_FAILED else {
            throw InputError("\(path): cannot map \(size) bytes: \(errnoDescription())")
        }
        _ = madvise(address, size, sequential ? MADV_SEQUENTIAL : MADV_RANDOM)
        self.path = path
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        self.residentBudget = residentBudget
        faultSlot = MappingFaults.register(bytes, path: path)
    }

    deinit {
        if let faultSlot { MappingFaults.unregister(faultSlot) }
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count)
    }

    /// What one read may map: a fault maps the whole page-cache folio it lands in (recent
    /// kernels, file systems with large folios such as ext4 and XFS), and folios reach 2 MiB
    /// (a PMD on x86-64 and arm64 with 4 KiB pages); older kernels map 64 KiB around it.
    /// Measured here (Linux 6.18, ext4): 1.85 MiB of resident set per row read at random.
    static let bytesMappedPerRead = 2 << 20

    /// Counts a read of `bytes` bytes; releases the resident pages past the budget.
    @inline(__always)
    func noteTouched(_ bytes: Int) {
        touchedSinceRelease += max(bytes, Self.bytesMappedPerRead)
        if touchedSinceRelease > residentBudget { releaseResidentPages() }
    }

    /// Drops this process's mappings of the file's pages (`MADV_DONTNEED`): the resident set
    /// falls; the page cache keeps the pages.
    public func releaseResidentPages() {
        _ = madvise(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count, MADV_DONTNEED)
        touchedSinceRelease = 0
    }
}
