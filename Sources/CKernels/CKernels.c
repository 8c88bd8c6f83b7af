#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <math.h>

// Every multiply and add rounded on its own, as Swift's: no contraction into FMAs.
#pragma clang fp contract(off)
#pragma STDC FP_CONTRACT OFF

bool ckernels_has_avx(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx");
#else
    return false;
#endif
}

// One value, as one lane: the tail after the last whole vector.
#define ADAM_SCALAR(T, SQRT)                                                                                 \
    T parameter = theta[i] * decay;                                                                        \
    T gradient = g[i] * scale * clip + coupled * parameter;                                                \
    T first = lerpFromFirst ? m[i] + lerpWeight * (gradient - m[i]) : gradient - (gradient - m[i]) * lerpComplement; \
    T second = v[i] * beta2 + oneMinusBeta2 * gradient * gradient;                                         \
    out[i] = parameter + stepSize * (first / (SQRT(second) / biasCorrection2Root + epsilon));             \
    m[i] = first;                                                                                          \
    v[i] = second;

#define ADAM_CONSTANTS(T)                                                                                    \
    const T decay = (T)c->decay, scale = (T)c->scale, clip = (T)c->clip, coupled = (T)c->coupled;          \
    const T lerpWeight = (T)c->lerpWeight, lerpComplement = (T)c->lerpComplement;                           \
    const T beta2 = (T)c->beta2, oneMinusBeta2 = (T)c->oneMinusBeta2, stepSize = (T)c->stepSize;           \
    const T biasCorrection2Root = (T)c->biasCorrection2Root, epsilon = (T)c->epsilon;                      \
    const bool lerpFromFirst = c->lerpFromFirst;

// The vector loop for one precision: V the register type, S the intrinsics' suffix (ps, pd).
#define ADAM_AVX(NAME, T, V, S, LANES, SQRT)                                                              \
    __attribute__((target("avx")))                                                                       \
    void NAME(const T *theta, T *out, const T *g, T *m, T *v, size_t count, const CKernelsAdam *c) {       \
        ADAM_CONSTANTS(T)                                                                                \
        const V vDecay = _mm256_set1_##S(decay), vScale = _mm256_set1_##S(scale);                        \
        const V vClip = _mm256_set1_##S(clip), vCoupled = _mm256_set1_##S(coupled);                      \
        const V vWeight = _mm256_set1_##S(lerpWeight), vComplement = _mm256_set1_##S(lerpComplement);    \
        const V vBeta2 = _mm256_set1_##S(beta2), vOneMinusBeta2 = _mm256_set1_##S(oneMinusBeta2);        \
        const V vStep = _mm256_set1_##S(stepSize), vRoot = _mm256_set1_##S(biasCorrection2Root);         \
        const V vEpsilon = _mm256_set1_##S(epsilon);                                                      \
        size_t i = 0;                                                                                    \
        for (; i + LANES <= count; i += LANES) {                                                         \
            V parameter = _mm256_mul_##S(_mm256_loadu_##S(theta + i), vDecay);                           \
            V gradient = _mm256_add_##S(_mm256_mul_##S(_mm256_mul_##S(_mm256_loadu_##S(g + i), vScale), vClip), \
                                        _mm256_mul_##S(vCoupled, parameter));                            \
            V first = _mm256_loadu_##S(m + i);                                                           \
            first = lerpFromFirst                                                                        \
                ? _mm256_add_##S(first, _mm256_mul_##S(vWeight, _mm256_sub_##S(gradient, first)))        \
                : _mm256_sub_##S(gradient, _mm256_mul_##S(_mm256_sub_##S(gradient, first), vComplement)); \
            V second = _mm256_add_##S(_mm256_mul_##S(_mm256_loadu_##S(v + i), vBeta2),                    \
                                      _mm256_mul_##S(_mm256_mul_##S(vOneMinusBeta2, gradient), gradient)); \
            V denominator = _mm256_add_##S(_mm256_div_##S(_mm256_sqrt_##S(second), vRoot), vEpsilon);            \
            parameter = _mm256_add_##S(parameter, _mm256_mul_##S(vStep, _mm256_div_##S(first, denominator)));    \
            _mm256_storeu_##S(out + i, parameter);                                                       \
            _mm256_storeu_##S(m + i, first);                                                             \
            _mm256_storeu_##S(v + i, second);                                                            \
        }                                                                                                \
        for (; i < count; i++) { ADAM_SCALAR(T, SQRT) }                                                  \
    }

#if defined(__x86_64__)
ADAM_AVX(ckernels_adam_f32, float, __m256, ps, 8, sqrtf)
ADAM_AVX(ckernels_adam_f64, double, __m256d, pd, 4, sqrt)
#else
// Never called: `ckernels_has_avx()` is false here. A call would be a bug, so it stops.
void ckernels_adam_f32(const float *theta, float *out, const float *g, float *m, float *v, size_t count, const CKernelsAdam *c) {
    __builtin_trap();
}
void ckernels_adam_f64(const double *theta, double *out, const double *g, double *m, double *v, size_t count, const CKernelsAdam *c) {
    __builtin_trap();
}
#endif
