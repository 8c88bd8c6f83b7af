// Non-temporal stores for the node-shared θ (docs/performance.md, "The node-shared exchange").
// A rank's update overwrites lines of θ that the other ranks' cores have just read in forward
// and backward; an ordinary store first takes each line back from them (a cache-coherence
// round trip, ~450 ns when the VM places the cores far apart), a non-temporal one does not.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/// Copies `bytes` from `source` to `target` with non-temporal stores where the CPU has them
/// (SSE2's MOVNTDQ on x86-64, 16 bytes at a time from a 16-byte aligned `target`), else memcpy.
/// The stores are weakly ordered: `cmemory_store_fence` before anything that publishes them.
static inline void cmemory_stream(void *target, const void *source, size_t bytes) {
#if defined(__x86_64__)
    if (((uintptr_t)target & 15) == 0) {
        size_t i = 0;
        for (; i + 16 <= bytes; i += 16)
            _mm_stream_si128((__m128i *)((char *)target + i), _mm_loadu_si128((const __m128i *)((const char *)source + i)));
        memcpy((char *)target + i, (const char *)source + i, bytes - i);
        return;
    }
#endif
    memcpy(target, source, bytes);
}

/// Orders the non-temporal stores before every later store (SFENCE; nothing elsewhere).
static inline void cmemory_store_fence(void) {
#if defined(__x86_64__)
    _mm_sfence();
#endif
}
