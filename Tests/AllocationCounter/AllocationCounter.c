#define _GNU_SOURCE
#include "AllocationCounter.h"
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

// Counts the allocations of the thread that started counting (the one running the training
// steps); allocations by other threads of the process (a runtime's or a library's own
// threads) are counted apart, so that one of them cannot be blamed on a training step.
static atomic_int counting;
static pthread_t owner;
static atomic_uint_fast64_t ownAllocations, otherAllocations;

// Where the first few allocations came from, to name the culprit when the test fails.
enum { recorded = 8, depth = 8 };
static void *origins[2][recorded][depth];
static int origin_depths[2][recorded];
static __thread int recording;   // backtrace() may allocate: do not count or record inside it

static inline void count(void) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed) || recording) return;
    int other = !pthread_equal(pthread_self(), owner);
    uint64_t index = atomic_fetch_add(other ? &otherAllocations : &ownAllocations, 1);
    if (index < recorded) {
        recording = 1;
        origin_depths[other][index] = backtrace(origins[other][index], depth);
        recording = 0;
    }
}

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t count_, size_t size) { count(); return __libc_calloc(count_, size); }
void *realloc(void *pointer, size_t size) { count(); return __libc_realloc(pointer, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count();
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return 12; /* ENOMEM */
    *out = pointer;
    return 0;
}

void allocation_counter_start(void) {
    void *warm[2];
    backtrace(warm, 2);   // its first call loads libgcc_s (which allocates): do it before counting
    owner = pthread_self();
    atomic_store(&ownAllocations, 0);
    atomic_store(&otherAllocations, 0);
    atomic_store(&counting, 1);
}

uint64_t allocation_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&ownAllocations);
}

uint64_t allocation_counter_other_threads(void) { return atomic_load(&otherAllocations); }

void allocation_counter_print_origins(void) {
    for (int other = 0; other < 2; other++) {
        uint64_t total = atomic_load(other ? &otherAllocations : &ownAllocations);
        for (uint64_t index = 0; index < total && index < recorded; index++) {
            fprintf(stderr, "allocation %llu on %s thread:\n", (unsigned long long)index, other ? "another" : "the counting");
            for (int frame = 0; frame < origin_depths[other][index]; frame++) {
                Dl_info info;
                void *address = origins[other][index][frame];
                if (dladdr(address, &info) && info.dli_sname)
                    fprintf(stderr, "    %s (%s)\n", info.dli_sname, info.dli_fname);
                else
                    fprintf(stderr, "    %p\n", address);
            }
        }
    }
}
