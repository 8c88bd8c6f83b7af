import XCTest
@testable import MLP

/// `Scalar.gemm` clears C itself for β = 0 and asks OpenBLAS for β = 1 (faster, the same bits):
/// what C held before must not matter, and columns past n in a row of ldc must stay as they were.
final class MatrixProductTests: XCTestCase {
    func testBetaZeroIgnoresWhatCHeldAndKeepsThePadding() {
        check(Float.self)
        check(Double.self)
    }

    private func check<T: Scalar>(_: T.Type) {
        for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
            for (m, n, k, padding) in [(5, 7, 3, 0), (5, 7, 3, 4), (1, 9, 6, 1), (4, 3, 0, 2), (0, 3, 2, 0)] {
                // Small integers: every product and sum is exact, so the reference is exact too.
                let a = (0 ..< m * k).map { T(($0 * 7) % 11) - 5 }, b = (0 ..< k * n).map { T(($0 * 5) % 9) - 4 }
                let lda = transposeA ? m : k, ldb = transposeB ? k : n, ldc = n + padding
                func aAt(_ i: Int, _ p: Int) -> T { transposeA ? a[p * lda + i] : a[i * lda + p] }
                func bAt(_ p: Int, _ j: Int) -> T { transposeB ? b[j * ldb + p] : b[p * ldb + j] }
                let sentinel = T(1234)
                for beta in [T(0), T(1)] {
                    var c = [T](repeating: .nan, count: max(m * ldc, 1))
                    for i in 0 ..< m { for j in 0 ..< ldc { c[i * ldc + j] = j < n ? (beta == 0 ? .nan : T(i - j)) : sentinel } }
                    a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
                        T.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                               a: a.baseAddress ?? UnsafePointer(bitPattern: 8)!, lda: max(lda, 1),
                               b: b.baseAddress ?? UnsafePointer(bitPattern: 8)!, ldb: max(ldb, 1),
                               beta: beta, c: c.baseAddress!, ldc: max(ldc, 1))
                    } } }
                    for i in 0 ..< m {
                        for j in 0 ..< ldc {
                            let got = c[i * ldc + j]
                            let want = j < n ? (0 ..< k).reduce(beta == 0 ? 0 : T(i - j)) { $0 + aAt(i, $1) * bAt($1, j) } : sentinel
                            XCTAssertEqual(got, want, "\(T.self) op(A)\(transposeA ? "ᵀ" : "") op(B)\(transposeB ? "ᵀ" : "") m \(m) n \(n) k \(k) ldc \(ldc) β \(beta): C[\(i)][\(j)]")
                        }
                    }
                }
            }
        }
    }
}
