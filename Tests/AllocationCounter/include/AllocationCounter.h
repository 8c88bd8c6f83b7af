// Test-only: counts heap allocations while counting is on, to prove a training step
// allocates nothing. Linked into the test bundle only; it wraps malloc, calloc, realloc and
// posix_memalign (glibc's internal __libc_* entry points do the work).
#pragma once
#include <stdint.h>

void allocation_counter_start(void);
/// Stops counting and returns how many allocations happened since the start.
uint64_t allocation_counter_stop(void);
