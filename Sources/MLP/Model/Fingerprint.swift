/// A 64-bit fingerprint of raw bytes, eight at a time: equal inputs give equal values, and a
/// changed bit changes it with overwhelming probability. Used to check that ranks hold
/// bit-identical θ and that a resumed run reads the same training data. Not cryptographic.
public func fingerprint(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
    var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ seed
    let words = bytes.count / 8
    for i in 0 ..< words {
        let word = bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
        hash = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 32
    }
    for i in words * 8 ..< bytes.count {
        hash = (hash ^ UInt64(bytes[i])) &* 0xC4CE_B9FE_1A85_EC53
    }
    hash ^= UInt64(bytes.count)
    hash = (hash ^ (hash >> 33)) &* 0xFF51_AFD7_ED55_8CCD
    return hash ^ (hash >> 33)
}

extension Dataset {
    /// Fingerprint of the features and targets: a resumed run must train on the same data.
    public var fingerprint: UInt64 {
        var hash = mappedFeatures?.fingerprint ?? features.withUnsafeBytes { MLP.fingerprint($0) }
        if let oneHot { hash = oneHot.indices.withUnsafeBytes { MLP.fingerprint($0, seed: hash) } }
        hash = labels.withUnsafeBytes { MLP.fingerprint($0, seed: hash) }
        hash = targetValues.withUnsafeBytes { MLP.fingerprint($0, seed: hash) }
        return weights?.withUnsafeBytes { MLP.fingerprint($0, seed: hash) } ?? hash
    }
}
