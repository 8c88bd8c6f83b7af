/* core-distance: the cache-line round trip between CPU 0 and CPU 1 in nanoseconds (the median of
 * 9 bursts of 2,000 ping-pongs), printed as one number. On a VM it moves: about 100 ns when the
 * host places the two vCPUs on one L3, about 450 ns when apart; a step that passes the gradient
 * between the cores is slower in the second mode (Benchmarks/compare-builds, MODES=1).
 *   cc -O2 -pthread -o core-distance core-distance.c && ./core-distance */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Alignas(64) atomic_long ping;
static _Alignas(64) atomic_long pong;
static _Alignas(64) atomic_int quit;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); pthread_setaffinity_np(pthread_self(), sizeof s, &s); }
static int compare(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

static void *peer(void *arg) {
    (void)arg;
    pin(1);
    long seen = 0;
    while (!atomic_load_explicit(&quit, memory_order_relaxed)) {
        long v = atomic_load_explicit(&ping, memory_order_acquire);
        if (v != seen) { seen = v; atomic_store_explicit(&pong, v, memory_order_release); }
    }
    return NULL;
}

int main(void) {
    pin(0);
    pthread_t thread;
    pthread_create(&thread, NULL, peer, NULL);
    enum { bursts = 9, trips = 2000 };
    double ns[bursts];
    long v = 0;
    for (int b = 0; b < bursts; b++) {
        double start = now();
        for (int i = 0; i < trips; i++) {
            atomic_store_explicit(&ping, ++v, memory_order_release);
            while (atomic_load_explicit(&pong, memory_order_acquire) != v) {}
        }
        ns[b] = (now() - start) / trips * 1e9;
    }
    atomic_store(&quit, 1);
    pthread_join(thread, NULL);
    qsort(ns, bursts, sizeof ns[0], compare);
    printf("%.0f\n", ns[bursts / 2]);
    return 0;
}
