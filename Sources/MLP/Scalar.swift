import CBLAS
import CKernels
import Foundation
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// The floating-point precision a network trains in (`--precision`).
public enum Precision: String, CaseIterable, Sendable {
    case float32, float64
}

/// A floating-point type the trainer runs in: `Float` or `Double`.
///
/// One generic code path serves both precisions; what differs (BLAS routine, elementary
/// functions, the MPI datatype) is dispatched here, once per call, never per element.
/// Codable because `Lanes: SIMD` needs its scalar to be.
public protocol Scalar: BinaryFloatingPoint, SIMDScalar, Codable, Sendable where Self.RawSignificand: FixedWidthInteger {
    /// One SSE register of lanes (4 floats, 2 doubles): the width Adam's update runs at where
    /// the CPU has no AVX (`adamWithAVX`).
    associatedtype Lanes: SIMD where Lanes.Scalar == Self
    /// √x in every lane, correctly rounded (so equal to the scalar square root): Swift's own
    /// `squareRoot()` goes through libm's `sqrtf` one lane at a time (for errno), which keeps
    /// a loop that needs it, Adam's update, from vectorizing.
    static func squareRoot(_ x: Lanes) -> Lanes
    static var precision: Precision { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    /// C ← α·op(A)·op(B) + β·C, row-major. The corresponding BLAS function is `cblas_?gemm`.
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// y ← Aᵀx for a row-major m × n matrix A: the column sums when x is all ones.
    /// The corresponding BLAS function is `cblas_?gemv`.
    static func gemvTransposed(m: Int, n: Int, a: UnsafePointer<Self>, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    /// Whether every x[i]·s is finite; `inPlace`: x[i] ← x[i]·s as well. One pass with SIMD by
    /// hand (concrete per type: generic SIMD code crawls in debug builds).
    static func scaledValuesAreFinite(_ x: UnsafeMutablePointer<Self>, count: Int, by s: Self, inPlace: Bool) -> Bool
    /// target[i] ← a[i] + b[i], times s when `scaling`, and whether every (a[i] + b[i])·s is
    /// finite: two ranks' sums added and `scaledValuesAreFinite` in one pass, the same bits.
    /// `target` may be `a` or `b` (each index is read before it is written).
    static func sumsScaledAreFinite(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, into target: UnsafeMutablePointer<Self>,
                                    count: Int, by s: Self, scaling: Bool) -> Bool
    /// dQ[i] ← 0 where Q[i] ≤ 0: ReLU's backward, with SIMD by hand because the compiler cannot
    /// prove the two buffers apart and would leave the loop scalar.
    static func zeroWhereNotPositive(_ dQ: UnsafeMutablePointer<Self>, _ Q: UnsafePointer<Self>, count: Int)
    /// z ← max(z, 0) over one row: ReLU's forward, SIMD by hand for the same reason.
    static func rectify(_ z: UnsafeMutablePointer<Self>, count: Int)
    /// y ← y + αx. The corresponding BLAS function is `cblas_?axpy`.
    static func axpy(count: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    /// Adam's update of `count` values with AVX (`CKernels`): only where `CPUFeatures.hasAVX`.
    static func adamWithAVX(_ theta: UnsafePointer<Self>, into out: UnsafeMutablePointer<Self>, _ g: UnsafePointer<Self>,
                            _ m: UnsafeMutablePointer<Self>, _ v: UnsafeMutablePointer<Self>, count: Int,
                            _ constants: UnsafePointer<CKernelsAdam>)
}

/// What the CPU can run beyond baseline x86-64 (`CKernels`' question), asked once.
enum CPUFeatures {
    static let hasAVX = ckernels_has_avx()
}

@inline(__always)
private func cblasTranspose(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

/// β for `cblas_?gemm` after clearing C when β = 0. OpenBLAS clears C for β = 0 in a pass of its
/// own that runs at about half memset's speed, then its kernels add α·op(A)·op(B) to C either
/// way: clearing C here and asking for β = 1 gives the same bits in less time (a step's dW, 1.6 MB:
/// 0.09 ms less). On AVX-512, OpenBLAS's small-product kernels have a β = 0 variant of their own,
/// which this bypasses too (docs/performance.md).
@inline(__always)
private func betaAfterClearing<T: BinaryFloatingPoint>(_ c: UnsafeMutablePointer<T>, beta: T, m: Int, n: Int, ldc: Int) -> T {
    guard beta == 0 else { return beta }
    if ldc == n {
        memset(c, 0, m * n * MemoryLayout<T>.stride)
    } else {
        for row in 0 ..< m { memset(c + row * ldc, 0, n * MemoryLayout<T>.stride) }
    }
    return 1
}

extension Float: Scalar {
    public typealias Lanes = SIMD4<Float>
    @inline(__always)
    public static func adamWithAVX(_ theta: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                                   _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, count: Int,
                                   _ constants: UnsafePointer<CKernelsAdam>) {
        ckernels_adam_f32(theta, out, g, m, v, count, constants)
    }
    @inline(__always) public static func squareRoot(_ x: SIMD4<Float>) -> SIMD4<Float> {
        #if arch(x86_64)
        _mm_sqrt_ps(x)
        #else
        SIMD4(x[0].squareRoot(), x[1].squareRoot(), x[2].squareRoot(), x[3].squareRoot())
        #endif
    }
    public static var precision: Precision { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inline(__always)
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let beta = betaAfterClearing(c, beta: beta, m: m, n: n, ldc: ldc)
        cblas_sgemm(CblasRowMajor, cblasTranspose(transposeA), cblasTranspose(transposeB),
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }
}

extension Double: Scalar {
    public typealias Lanes = SIMD2<Double>
    @inline(__always)
    public static func adamWithAVX(_ theta: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, _ g: UnsafePointer<Double>,
                                   _ m: UnsafeMutablePointer<Double>, _ v: UnsafeMutablePointer<Double>, count: Int,
                                   _ constants: UnsafePointer<CKernelsAdam>) {
        ckernels_adam_f64(theta, out, g, m, v, count, constants)
    }
    @inline(__always) public static func squareRoot(_ x: SIMD2<Double>) -> SIMD2<Double> {
        #if arch(x86_64)
        _mm_sqrt_pd(x)
        #else
        SIMD2(x[0].squareRoot(), x[1].squareRoot())
        #endif
    }
    public static var precision: Precision { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always)
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        let beta = betaAfterClearing(c, beta: beta, m: m, n: n, ldc: ldc)
        cblas_dgemm(CblasRowMajor, cblasTranspose(transposeA), cblasTranspose(transposeB),
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }
}

/// What OpenBLAS runs on: the kernel family it chose for this CPU and its thread count.
public enum BLASInfo {
    public static var coreName: String { String(cString: openblas_get_corename()) }
    /// The threads every BLAS call may use from here on.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }
    /// How OpenBLAS was built: "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }
}
