import Foundation
import XCTest
@testable import MLP
import TestSupport

/// The `.npy` header: what it encodes, and NumPy spellings it accepts or refuses (reading and
/// training from `.npy` files, and `mlp convert`, are tested end to end in `NPYEndToEndTests`).
final class NPYTests: XCTestCase {
    func testHeaderRoundTripAndRefusals() throws {
        let header = NPYHeader(elementType: .float32, shape: [60_000, 784])
        let encoded = header.encoded()
        XCTAssertEqual(encoded.count, 128)
        let parsed = try encoded.withUnsafeBytes { try NPYHeader.parse($0, path: "x.npy") }
        XCTAssertEqual(parsed, NPYHeader(elementType: .float32, shape: [60_000, 784], dataOffset: 128))
        XCTAssertEqual(try NPYHeader(elementType: .int64, shape: [7]).encoded().withUnsafeBytes { try NPYHeader.parse($0, path: "y") }.shape, [7])

        func headerBytes(_ dict: String) -> [UInt8] {
            let body = Array(dict.utf8) + [10]
            return NPYHeader.magic + [1, 0, UInt8(body.count), 0] + body
        }
        let cases: [([UInt8], String)] = [
            (Array("not numpy at all".utf8), "no \\x93NUMPY magic"),
            (headerBytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }"), "Fortran order"),
            (headerBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }"), "big-endian"),
            (headerBytes("{'descr': '<c16', 'fortran_order': False, 'shape': (2, 3), }"), "element type '<c16'"),
            (headerBytes("{'descr': '<f8', 'fortran_order': False, }"), "no shape"),
        ]
        for (bytes, expected) in cases {
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try NPYHeader.parse($0, path: "bad.npy") }) { error in
                XCTAssertTrue("\(error)".contains("bad.npy") && "\(error)".contains(expected), "\(error)")
            }
        }
        // NumPy's own spellings: '|u1', '=f4' and a version 2.0 header.
        let body = Array("{'descr': '=f4', 'fortran_order': False, 'shape': (3,), }".utf8) + [10]
        let version2 = NPYHeader.magic + [2, 0, UInt8(body.count), 0, 0, 0] + body
        XCTAssertEqual(try version2.withUnsafeBytes { try NPYHeader.parse($0, path: "v2.npy") }.elementType, .float32)
    }
}
