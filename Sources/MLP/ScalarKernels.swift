import CBLAS
import Foundation

// The element-wise kernels of `Scalar` (ReLU, the finiteness checks, the add of two ranks'
// sums) and the level-1 and -2 BLAS calls, per type: `Scalar.swift` holds the protocol, the
// level-3 call and what else differs between the precisions.
extension Float {
    public static func gemvTransposed(m: Int, n: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, CblasTrans, blasint(m), blasint(n), 1, a, blasint(n), x, 1, 0, y, 1)
    }

    // The ReLU kernels are written per type with concrete SIMD16/SIMD8: one generic version over
    // `Lanes` gave the same results but ran W1 25% slower (generic SIMD masks compile poorly).
    public static func rectify(_ z: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let value = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(z + i).storeBytes(of: value.replacing(with: 0, where: value .< 0), as: SIMD16<Float>.self)
            i += 16
        }
        while i < count { z[i] = Swift.max(z[i], 0); i += 1 }
    }

    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(count), alpha, x, 1, y, 1)
    }

    public static func zeroWhereNotPositive(_ dQ: UnsafeMutablePointer<Float>, _ Q: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let q = UnsafeRawPointer(Q + i).loadUnaligned(as: SIMD16<Float>.self)
            var d = UnsafeRawPointer(dQ + i).loadUnaligned(as: SIMD16<Float>.self)
            d.replace(with: 0, where: q .<= 0)
            UnsafeMutableRawPointer(dQ + i).storeBytes(of: d, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count { if Q[i] <= 0 { dQ[i] = 0 }; i += 1 }
    }

    public static func sumsScaledAreFinite(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>,
                                           count: Int, by s: Float, scaling: Bool) -> Bool {
        var zeros = SIMD16<Float>(), i = 0
        if scaling {
            while i + 16 <= count {
                let value = (UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
                    + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)) * s
                UnsafeMutableRawPointer(target + i).storeBytes(of: value, as: SIMD16<Float>.self)
                zeros += value * 0
                i += 16
            }
        } else {
            while i + 16 <= count {
                let sum = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self) + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(target + i).storeBytes(of: sum, as: SIMD16<Float>.self)
                zeros += sum * s * 0
                i += 16
            }
        }
        var rest: Float = 0
        while i < count {
            let sum = a[i] + b[i], value = sum * s
            target[i] = scaling ? value : sum
            rest += value * 0
            i += 1
        }
        return zeros.sum() + rest == 0
    }

    public static func scaledValuesAreFinite(_ x: UnsafeMutablePointer<Float>, count: Int, by s: Float, inPlace: Bool) -> Bool {
        // (x·s)·0 is ±0 for a finite product and NaN otherwise: their sum is 0 only if all are.
        var zeros = SIMD16<Float>(), i = 0
        // The branch hoisted out of the loops.
        if inPlace {
            while i + 16 <= count {
                let value = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) * s
                UnsafeMutableRawPointer(x + i).storeBytes(of: value, as: SIMD16<Float>.self)
                zeros += value * 0
                i += 16
            }
        } else {
            while i + 16 <= count {
                zeros += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) * s * 0
                i += 16
            }
        }
        var rest: Float = 0
        while i < count {
            let value = x[i] * s
            if inPlace { x[i] = value }
            rest += value * 0
            i += 1
        }
        return zeros.sum() + rest == 0
    }
}

// The Float extension above again, line for line, with Double's SIMD width and BLAS names: the
// price of concrete SIMD types (see the ReLU kernels' comment); kept on purpose.
extension Double {
    public static func gemvTransposed(m: Int, n: Int, a: UnsafePointer<Double>, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        cblas_dgemv(CblasRowMajor, CblasTrans, blasint(m), blasint(n), 1, a, blasint(n), x, 1, 0, y, 1)
    }

    public static func rectify(_ z: UnsafeMutablePointer<Double>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let value = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD8<Double>.self)
            UnsafeMutableRawPointer(z + i).storeBytes(of: value.replacing(with: 0, where: value .< 0), as: SIMD8<Double>.self)
            i += 8
        }
        while i < count { z[i] = Swift.max(z[i], 0); i += 1 }
    }

    public static func axpy(count: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        cblas_daxpy(blasint(count), alpha, x, 1, y, 1)
    }

    public static func zeroWhereNotPositive(_ dQ: UnsafeMutablePointer<Double>, _ Q: UnsafePointer<Double>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let q = UnsafeRawPointer(Q + i).loadUnaligned(as: SIMD8<Double>.self)
            var d = UnsafeRawPointer(dQ + i).loadUnaligned(as: SIMD8<Double>.self)
            d.replace(with: 0, where: q .<= 0)
            UnsafeMutableRawPointer(dQ + i).storeBytes(of: d, as: SIMD8<Double>.self)
            i += 8
        }
        while i < count { if Q[i] <= 0 { dQ[i] = 0 }; i += 1 }
    }

    public static func sumsScaledAreFinite(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, into target: UnsafeMutablePointer<Double>,
                                           count: Int, by s: Double, scaling: Bool) -> Bool {
        var zeros = SIMD8<Double>(), i = 0
        if scaling {
            while i + 8 <= count {
                let value = (UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Double>.self)
                    + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Double>.self)) * s
                UnsafeMutableRawPointer(target + i).storeBytes(of: value, as: SIMD8<Double>.self)
                zeros += value * 0
                i += 8
            }
        } else {
            while i + 8 <= count {
                let sum = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Double>.self) + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Double>.self)
                UnsafeMutableRawPointer(target + i).storeBytes(of: sum, as: SIMD8<Double>.self)
                zeros += sum * s * 0
                i += 8
            }
        }
        var rest: Double = 0
        while i < count {
            let sum = a[i] + b[i], value = sum * s
            target[i] = scaling ? value : sum
            rest += value * 0
            i += 1
        }
        return zeros.sum() + rest == 0
    }

    public static func scaledValuesAreFinite(_ x: UnsafeMutablePointer<Double>, count: Int, by s: Double, inPlace: Bool) -> Bool {
        // (x·s)·0 is ±0 for a finite product and NaN otherwise: their sum is 0 only if all are.
        var zeros = SIMD8<Double>(), i = 0
        // The branch hoisted out of the loops.
        if inPlace {
            while i + 8 <= count {
                let value = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Double>.self) * s
                UnsafeMutableRawPointer(x + i).storeBytes(of: value, as: SIMD8<Double>.self)
                zeros += value * 0
                i += 8
            }
        } else {
            while i + 8 <= count {
                zeros += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Double>.self) * s * 0
                i += 8
            }
        }
        var rest: Double = 0
        while i < count {
            let value = x[i] * s
            if inPlace { x[i] = value }
            rest += value * 0
            i += 1
        }
        return zeros.sum() + rest == 0
    }
}
