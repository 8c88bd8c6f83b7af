// libFuzzer entry point for the input readers, compiled into the MLP module by Fuzz/run.
// FUZZ_TARGET picks the reader: csv, idx, safetensors (the model-file reader), gzip or npy.
// A reader may throw InputError on any input; it must never crash, hang or allocate
// without bound (libFuzzer's -malloc_limit_mb catches that).
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
    case "npy":
        // The header, then every element it announces, as the labels reader decodes them.
        if let header = try? NPYHeader.parse(UnsafeRawBufferPointer(bytes), path: "fuzz.npy"),
           bytes.count >= header.dataOffset + header.elementCount * header.elementType.size {
            for index in 0 ..< header.elementCount {
                _ = NPYDataset.element(UnsafeRawPointer(data) + header.dataOffset, index, header.elementType)
            }
        }
    default:
        fatalError("FUZZ_TARGET must be csv, idx, safetensors, gzip or npy")
    }
    return 0
}
