/// The distinct texts of one categorical column, numbered 0, 1, … in order of first appearance.
///
/// Looked up by their bytes, not as `String`s: `String`'s == compares canonical equivalence, so
/// "é" (U+00E9) and "e" + U+0301 would be one category; a category is its exact bytes. The
/// table is open addressing over an arena of the texts' bytes: a lookup hashes the field's
/// bytes in place and allocates nothing (it runs for every field of a categorical column).
struct CategoryDictionary: Equatable {
    /// The texts, by number.
    private(set) var texts: [String] = []
    private var arena: [UInt8] = []
    /// Where text k's bytes start in `arena` (and end: `offsets[k + 1]`).
    private var offsets: [Int] = [0]
    /// A text's number + 1, or 0 for an empty slot; the count is a power of two.
    private var slots = [Int32](repeating: 0, count: 16)

    static func == (left: CategoryDictionary, right: CategoryDictionary) -> Bool { left.arena == right.arena && left.offsets == right.offsets }

    var count: Int { texts.count }

    /// The bytes of text `number`.
    func bytes(of number: Int) -> ArraySlice<UInt8> { arena[offsets[number] ..< offsets[number + 1]] }

    /// The number of the text with these bytes, added if new; `text` makes the String of new
    /// bytes (and checks them: a category must be valid UTF-8).
    @inline(__always)
    mutating func number(of bytes: UnsafeBufferPointer<UInt8>, text: () throws -> String) rethrows -> Int32 {
        let hash = fingerprint(UnsafeRawBufferPointer(bytes))
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { break }
            let number = Int(entry) - 1
            if equals(number, bytes) { return Int32(number) }
            slot = (slot + 1) & mask
        }
        let number = texts.count
        texts.append(try text())
        arena.append(contentsOf: bytes)
        offsets.append(arena.count)
        slots[slot] = Int32(number + 1)
        if texts.count * 2 > slots.count { grow() }
        return Int32(number)
    }

    /// The number of `text`, or nil if it is not here.
    func number(of text: String) -> Int? {
        var text = text
        return text.withUTF8 { bytes in
            let mask = slots.count - 1
            var slot = Int(truncatingIfNeeded: fingerprint(UnsafeRawBufferPointer(bytes))) & mask
            while slots[slot] != 0 {
                let number = Int(slots[slot]) - 1
                if equals(number, bytes) { return number }
                slot = (slot + 1) & mask
            }
            return nil
        }
    }

    @inline(__always)
    private func equals(_ number: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = offsets[number], count = offsets[number + 1] - start
        guard count == bytes.count else { return false }
        return arena.withUnsafeBufferPointer { arena in
            for index in 0 ..< count where arena[start + index] != bytes[index] { return false }
            return true
        }
    }

    private mutating func grow() {
        var larger = [Int32](repeating: 0, count: slots.count * 2)
        let mask = larger.count - 1
        for number in texts.indices {
            let hash = arena.withUnsafeBufferPointer {
                fingerprint(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[offsets[number] ..< offsets[number + 1]]))
            }
            var slot = Int(truncatingIfNeeded: hash) & mask
            while larger[slot] != 0 { slot = (slot + 1) & mask }
            larger[slot] = Int32(number + 1)
        }
        slots = larger
    }
}

extension Array where Element == String {
    /// Sorted by their UTF-8 bytes: by code point, as Python sorts strings (and so scikit-learn's
    /// categories), and never merging two spellings `String`'s comparison holds equivalent.
    func sortedByBytes() -> [String] { sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
}
