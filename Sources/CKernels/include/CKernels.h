// Adam's update (`Optimizer.updateAdam`) over 8 floats or 4 doubles at a time, with AVX where
// the CPU has it: the rule's two divisions and square root per value bound it, and Swift's
// code for the baseline x86-64 reaches only SSE's 4 floats. Each lane does the IEEE operations
// of the Swift loop in its order (no fused multiply-adds), so the bits are the same.
#pragma once
#include <stdbool.h>
#include <stddef.h>

/// The constants of one Adam step (`Optimizer.updateAdam`'s names).
typedef struct {
    double decay, scale, clip, coupled, lerpWeight, lerpComplement, beta2, oneMinusBeta2, stepSize, biasCorrection2Root, epsilon;
    /// 1 − β₁ < 0.5: m + w(g − m); else g − (g − m)(1 − w) (torch.lerp).
    bool lerpFromFirst;
} CKernelsAdam;

/// Whether the CPU (and the OS) can run the AVX kernels.
bool ckernels_has_avx(void);

/// For i < count: out[i] ← θ's new value from theta[i], g[i], m[i], v[i]; m[i], v[i] updated in
/// place (`out` may be `theta`). The constants are converted to the precision first, as the
/// Swift loop's are. Only where `ckernels_has_avx()`.
void ckernels_adam_f32(const float *theta, float *out, const float *g, float *m, float *v, size_t count, const CKernelsAdam *constants);
void ckernels_adam_f64(const double *theta, double *out, const double *g, double *m, double *v, size_t count, const CKernelsAdam *constants);
