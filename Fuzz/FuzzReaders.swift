// libFuzzer entry point for the input readers, compiled into the MLP module by Fuzz/run.
// FUZZ_TARGET picks the reader: csv, idx, safetensors (the model-file reader), gzip, npy,
// csv-stream (the CSV reader through a stream's window, which must give what the whole-file
// reader gives) or csv-gzip (a gzipped CSV read as a stream, which must give what inflating it
// whole and reading that gives). A reader may throw InputError on any input; it must never
// crash, hang or allocate without bound (libFuzzer's -malloc_limit_mb catches that).
import Foundation

private let target = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? "csv"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    switch target {
    case "csv":
        for kind in [TargetKind.classes(classNames: nil), .values, .classes(classNames: ["0", "1"]), .none] {
            var reader = CSVTableReader(bytes: bytes, path: "fuzz.csv", singlePrecision: kind == .values)
            _ = try? reader.read(targetColumns: nil, kind: kind)
        }
    case "idx":
        _ = try? IDX.parse(Array(bytes), path: "fuzz-idx", magic: 2051, kind: "images")
        _ = try? IDX.parse(Array(bytes), path: "fuzz-idx", magic: 2049, kind: "labels")
    case "safetensors":
        _ = try? ModelFile.decode(Array(bytes), path: "fuzz.safetensors")
    case "gzip":
        _ = try? Gzip.decompress(Array(bytes), path: "fuzz.gz")
    case "csv-stream":
        // The first two bytes pick the window: its first read and the least each refill reads,
        // so that its edges fall anywhere in the input's records. A first read under 4 KiB
        // sees less than the whole-file reader's encoding check: only for text that passes it.
        let input = Array(bytes)
        let chunkSize = 1 + Int(input.first ?? 0) % 16
        let firstReadSize = input.withUnsafeBufferPointer(csvEncodingProblem) == nil ? 1 + Int(input.dropFirst().first ?? 0) % 64 : 4096
        for kind in [TargetKind.classes(classNames: nil), .values, .none] {
            let whole = csvTable(input, kind: kind, chunkSize: nil)
            let streamed = csvTable(input, kind: kind, chunkSize: chunkSize, firstReadSize: firstReadSize)
            if whole != streamed { fatalError("the streamed CSV reader gives \(streamed), the whole-file reader \(whole)") }
        }
    case "csv-gzip":
        let inflated = try? Gzip.decompress(Array(bytes), path: "fuzz.csv.gz")
        for kind in [TargetKind.classes(classNames: nil), .values, .none] {
            let streamed = Result { () throws -> CSVTable in
                let reader = try GzipReader(path: "fuzz.csv.gz", readCompressed: bytesSource(Array(bytes)))
                var tableReader = try CSVTableReader(window: CSVStreamWindow { try reader.read(into: $0) }, path: "fuzz.csv.gz", singlePrecision: false)
                return try tableReader.read(targetColumns: nil, kind: kind)
            }.mapError { $0 as? InputError ?? InputError("\($0)") }
            if let inflated, streamed != csvTable(inflated, kind: kind, chunkSize: nil, path: "fuzz.csv.gz") {
                fatalError("the gzipped CSV read as a stream gives \(streamed), inflated whole another result")
            }
        }
    case "npy":
        // The header, then every element it announces, as the labels reader decodes them.
        if let header = try? NPYHeader.parse(UnsafeRawBufferPointer(bytes), path: "fuzz.npy"),
           bytes.count >= header.dataOffset + header.elementCount * header.elementType.size {
            for index in 0 ..< header.elementCount {
                _ = NPYDataset.element(UnsafeRawPointer(data) + header.dataOffset, index, header.elementType)
            }
        }
    default:
        fatalError("FUZZ_TARGET must be csv, idx, safetensors, gzip, npy, csv-stream or csv-gzip")
    }
    return 0
}
