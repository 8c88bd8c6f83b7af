import Foundation

/// The IDX file format of MNIST: a big-endian header (two zero bytes, a type code, the number
/// of dimensions, then each dimension as a UInt32), followed by the array, row-major.
public enum IDX {
    /// The IDX type code for unsigned bytes, the only element type MNIST uses.
    static let unsignedByteType: UInt8 = 0x08

    /// An IDX array of unsigned bytes: its dimensions and where its data starts in `bytes`.
    ///
    /// The data is left in the file's buffer (`bytes[dataStart...]`) rather than copied.
    public struct UnsignedByteArray {
        public var dimensions: [Int]
        public var bytes: [UInt8]
        public var dataStart: Int
    }

    /// The IDX array in the file at `path`, gunzipped first if the name ends in `.gz`.
    ///
    /// - Parameter magic: The expected magic number, e.g. 2051 (0x00000803: unsigned bytes,
    ///   3 dimensions) for images, 2049 for labels.
    public static func read(path: String, magic: UInt32, kind: String) throws -> UnsignedByteArray {
        let gzipped = path.hasSuffix(".gz")
        // A stream is refused at its first bytes unless they are gzip's or this IDX magic.
        var bytes = try readInputBytes(path, checkStream: checkingFirstBytes(4, path: path) { first in
            if gzipped { return first[0] == 0x1f && first[1] == 0x8b ? nil : "corrupted gzip stream (no gzip header)" }
            let found = UInt32(first[0]) << 24 | UInt32(first[1]) << 16 | UInt32(first[2]) << 8 | UInt32(first[3])
            return found == magic ? nil : "not an \(kind): magic number \(found), expected \(magic)"
        })
        if gzipped { bytes = try Gzip.decompress(bytes, path: path) }
        return try parse(bytes, path: path, magic: magic, kind: kind)
    }

    /// Checks the header of IDX `bytes` against `magic` and against the bytes actually present.
    ///
    /// - Parameter kind: What the file should hold, for errors ("MNIST image file").
    public static func parse(_ bytes: [UInt8], path: String, magic: UInt32, kind: String) throws -> UnsignedByteArray {
        func bigEndianUInt32(at offset: Int) -> UInt32 {
            UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
                | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
        }
        guard bytes.count >= 4 else {
            throw InputError("\(path): not an \(kind): \(bytes.count) bytes, too short for an IDX header")
        }
        let found = bigEndianUInt32(at: 0)
        guard found == magic else {
            throw InputError("\(path): not an \(kind): magic number \(found) (0x\(hex(found))), expected \(magic) (0x\(hex(magic)))")
        }
        let dimensionCount = Int(bytes[3])
        let dataStart = 4 + 4 * dimensionCount
        guard bytes.count >= dataStart else {
            throw InputError("\(path): truncated \(kind): \(bytes.count) bytes, the header alone needs \(dataStart)")
        }
        let dimensions = (0 ..< dimensionCount).map { Int(bigEndianUInt32(at: 4 + 4 * $0)) }
        // Compare the claimed size with the bytes present before anyone allocates for it;
        // each dimension is < 2³², so a product that overflows Int is simply "too large".
        var claimedSize = 1
        var overflows = false
        for dimension in dimensions {
            let (product, overflow) = claimedSize.multipliedReportingOverflow(by: dimension)
            overflows = overflows || overflow
            claimedSize = overflows ? Int.max : product
        }
        let present = bytes.count - dataStart
        let shape = dimensions.map(String.init).joined(separator: "×")
        if claimedSize > present {
            let claimed = overflows ? "more than \(Int.max)" : "\(claimedSize)"
            throw InputError("\(path): truncated \(kind): the header says \(shape) = \(claimed) bytes of data, the file has \(present)")
        }
        if claimedSize < present {
            throw InputError("\(path): malformed \(kind): the header says \(shape) = \(claimedSize) bytes of data, the file has \(present)")
        }
        return UnsignedByteArray(dimensions: dimensions, bytes: bytes, dataStart: dataStart)
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// The MNIST handwritten digits (LeCun et al.), read from the four IDX files in a directory.
public enum MNIST {
    /// The 60 000 training or the 10 000 test images.
    public enum Split: Sendable {
        case train, test

        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// The images as features (pixel/255, in [0, 1]) and the digits as classes "0"…"9".
    ///
    /// Reads `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` (prefix "train" or
    /// "t10k"), each raw or gzipped with a `.gz` suffix; the raw file is preferred when both exist.
    public static func load<T: Scalar>(directory: String, split: Split) throws -> Dataset<T> {
        let imagesPath = try existingFile(directory: directory, name: "\(split.filePrefix)-images-idx3-ubyte")
        let labelsPath = try existingFile(directory: directory, name: "\(split.filePrefix)-labels-idx1-ubyte")
        let images = try IDX.read(path: imagesPath, magic: 2051, kind: "MNIST image file")
        let labels = try IDX.read(path: labelsPath, magic: 2049, kind: "MNIST label file")
        let imageCount = images.dimensions[0], rows = images.dimensions[1], columns = images.dimensions[2]
        guard rows > 0 && columns > 0 else {
            throw InputError("\(imagesPath): malformed MNIST image file: images of \(rows)×\(columns) pixels")
        }
        guard labels.dimensions[0] == imageCount else {
            throw InputError("\(labelsPath): \(labels.dimensions[0]) labels, but \(imagesPath) has \(imageCount) images")
        }
        var classIndices = [Int32](repeating: 0, count: imageCount)
        for index in 0 ..< imageCount {
            let digit = labels.bytes[labels.dataStart + index]
            guard digit <= 9 else {
                throw InputError("\(labelsPath): label \(digit) of image \(index) is not a digit 0–9")
            }
            classIndices[index] = Int32(digit)
        }
        let pixelCount = rows * columns
        let pixels: [T] = images.bytes.withUnsafeBufferPointer {
            scaledPixels(UnsafeBufferPointer(rebasing: $0[images.dataStart...]))
        }
        return Dataset(rowCount: imageCount, featureCount: pixelCount, features: pixels,
                       featureNames: (0 ..< pixelCount).map { "pixel\($0)" },
                       labels: classIndices, classNames: (0 ... 9).map(String.init),
                       targetNames: ["label"])
    }

    /// `directory/name` if it exists, else `directory/name.gz`, else an error naming both.
    private static func existingFile(directory: String, name: String) throws -> String {
        let raw = (directory as NSString).appendingPathComponent(name)
        let gzipped = raw + ".gz"
        if access(raw, F_OK) == 0 { return raw }
        if access(gzipped, F_OK) == 0 { return gzipped }
        throw InputError("\(directory): MNIST file not found: neither \(raw) nor \(gzipped) exists")
    }
}

/// Bytes 0…255 as `T` values 0…1 (each byte / 255, correctly rounded).
///
/// Dispatches once to a concrete, non-generic loop: generic code called from another module
/// runs unspecialised, which costs seconds over MNIST's 47 million pixels.
func scaledPixels<T: Scalar>(_ bytes: UnsafeBufferPointer<UInt8>) -> [T] {
    if T.self == Float.self { return unsafeBitCast(scaledPixelsFloat(bytes), to: [T].self) }
    if T.self == Double.self { return unsafeBitCast(scaledPixelsDouble(bytes), to: [T].self) }
    return bytes.map { T($0) / 255 }
}

private func scaledPixelsFloat(_ bytes: UnsafeBufferPointer<UInt8>) -> [Float] {
    [Float](unsafeUninitializedCapacity: bytes.count) { output, initializedCount in
        for index in 0 ..< bytes.count { output[index] = Float(bytes[index]) / 255 }
        initializedCount = bytes.count
    }
}

private func scaledPixelsDouble(_ bytes: UnsafeBufferPointer<UInt8>) -> [Double] {
    [Double](unsafeUninitializedCapacity: bytes.count) { output, initializedCount in
        for index in 0 ..< bytes.count { output[index] = Double(bytes[index]) / 255 }
        initializedCount = bytes.count
    }
}
