import Foundation

/// The number written in the ASCII bytes `text`, or nil if the whole of `text` is not one.
///
/// Accepts what C's `strtod` accepts (decimal and exponent forms, "inf", "nan", hex floats),
/// correctly rounded. Plain decimals of up to 15 significant digits and a power of ten within
/// ±22 take a fast path that is exact: both the digits and 10^k are exact doubles, so one
/// multiplication or division rounds once (Clinger's fast path). Everything else goes to
/// `strtod` on a null-terminated copy.
func parseDouble(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
    guard !text.isEmpty else { return nil }
    if let value = parsePlainDecimal(text) { return value }
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: text.count + 1) { copy -> Double? in
        for index in 0 ..< text.count { copy[index] = CChar(bitPattern: text[index]) }
        copy[text.count] = 0
        // strtod skips leading white space; a field that starts with it is not a number.
        if isspace(Int32(copy[0])) != 0 { return nil }
        var end: UnsafeMutablePointer<CChar>? = nil
        let value = strtod(copy.baseAddress!, &end)
        return end == copy.baseAddress! + text.count ? value : nil
    }
}

/// 10^exponent for 0 ≤ exponent ≤ 22, the powers of ten that are exact doubles.
/// (A switch of literals rather than a global table: no lazy-initialisation check per call.)
@inline(__always)
private func exactPowerOfTen(_ exponent: Int) -> Double {
    switch exponent {
    case 0: return 1e0
    case 1: return 1e1
    case 2: return 1e2
    case 3: return 1e3
    case 4: return 1e4
    case 5: return 1e5
    case 6: return 1e6
    case 7: return 1e7
    case 8: return 1e8
    case 9: return 1e9
    case 10: return 1e10
    case 11: return 1e11
    case 12: return 1e12
    case 13: return 1e13
    case 14: return 1e14
    case 15: return 1e15
    case 16: return 1e16
    case 17: return 1e17
    case 18: return 1e18
    case 19: return 1e19
    case 20: return 1e20
    case 21: return 1e21
    default: return 1e22
    }
}

/// `[+-]digits[.digits][(e|E)[+-]digits]` when the fast path is exact, else nil.
private func parsePlainDecimal(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
    let zero = UInt8(ascii: "0")
    var index = 0
    var isNegative = false
    if text[0] == UInt8(ascii: "-") || text[0] == UInt8(ascii: "+") {
        isNegative = text[0] == UInt8(ascii: "-")
        index = 1
    }
    var digits: UInt64 = 0
    var significantDigitCount = 0
    var digitCount = 0
    var exponent = 0
    var afterPoint = false
    while index < text.count {
        let byte = text[index]
        if byte == UInt8(ascii: ".") && !afterPoint {
            afterPoint = true
        } else if byte &- zero < 10 {
            let digit = UInt64(byte &- zero)
            if digits != 0 || digit != 0 { significantDigitCount += 1 }
            if significantDigitCount > 15 { return nil }
            digits = digits * 10 + digit
            digitCount += 1
            if afterPoint { exponent -= 1 }
        } else {
            break
        }
        index += 1
    }
    guard digitCount > 0 else { return nil }
    if index < text.count && (text[index] | 0x20) == UInt8(ascii: "e") {
        index += 1
        var exponentIsNegative = false
        if index < text.count && (text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+")) {
            exponentIsNegative = text[index] == UInt8(ascii: "-")
            index += 1
        }
        var written = 0
        var exponentDigitCount = 0
        while index < text.count && text[index] &- zero < 10 && written < 10_000 {
            written = written * 10 + Int(text[index] &- zero)
            exponentDigitCount += 1
            index += 1
        }
        guard exponentDigitCount > 0 else { return nil }
        exponent += exponentIsNegative ? -written : written
    }
    guard index == text.count else { return nil }
    if digits == 0 { return isNegative ? -0.0 : 0.0 }
    guard exponent >= -22 && exponent <= 22 else { return nil }
    let magnitude = exponent < 0 ? Double(digits) / exactPowerOfTen(-exponent)
                                 : Double(digits) * exactPowerOfTen(exponent)
    return isNegative ? -magnitude : magnitude
}
