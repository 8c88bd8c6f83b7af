// Test-only: counts heap allocations while counting is on, to prove a training step
// allocates nothing. Linked into the test bundle only; it wraps malloc, calloc, realloc and
// posix_memalign (glibc's internal __libc_* entry points do the work).
#pragma once
#include <stdint.h>

/// Starts counting the allocations of the calling thread (and, apart, of every other thread).
void allocation_counter_start(void);
/// Stops counting and returns how many allocations the calling thread made since the start.
uint64_t allocation_counter_stop(void);
/// How many allocations other threads of the process made while counting was on.
uint64_t allocation_counter_other_threads(void);
/// Prints where the first few counted allocations came from (to stderr).
void allocation_counter_print_origins(void);
