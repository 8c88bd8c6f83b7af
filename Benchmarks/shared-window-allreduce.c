/* Does a node-local reduction through shared memory beat OpenMPI's MPI_Allreduce on one machine?
 *
 *   mpicc -O3 -march=native -o /tmp/shared-window-allreduce Benchmarks/shared-window-allreduce.c
 *   mpirun -n 2 /tmp/shared-window-allreduce        # as root: --allow-run-as-root
 *
 * For W3's and W1's gradient sizes (θ plus the 4 extras) it times, per call:
 *   - MPI_Allreduce(MPI_IN_PLACE, …, MPI_SUM) over the whole buffer (what `mlp train` does);
 *   - a shared window (MPI_Win_allocate_shared), one slot per rank and per call parity (so one
 *     barrier per call suffices): copy the buffer into this rank's slot, barrier, every rank sums
 *     all slots in rank order (identical on every rank);
 *   - the same, but each rank sums its part (1/P) and publishes it, barrier, copy the other parts in.
 * Results on the 2-core VM of Benchmarks/RESULTS.md are quoted there. The sums are scaled by 1/P
 * so that repeated calls keep the values bounded. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { maxRanks = 64 };

static void sync(MPI_Win window) { MPI_Win_sync(window); MPI_Barrier(MPI_COMM_WORLD); MPI_Win_sync(window); }

/* Where rank r's part of n values starts. */
static int partStart(int r, int n, int size) { return (int)((long)r * n / size); }

/* buffer[low..<high] = (slot 0 + slot 1 + … in rank order) · scale, one pass for 2 ranks; every
 * rank adds in the same order, so every rank gets the same bits. */
static void sumSlots(float *restrict buffer, float **slot, int size, int low, int high, float scale) {
    const float *restrict first = slot[0], *restrict second = slot[size > 1 ? 1 : 0];
    if (size == 1) {
        for (int i = low; i < high; i++) buffer[i] = first[i] * scale;
        return;
    }
    if (size == 2) {
        for (int i = low; i < high; i++) buffer[i] = (first[i] + second[i]) * scale;
        return;
    }
    for (int i = low; i < high; i++) buffer[i] = first[i] + second[i];
    for (int r = 2; r < size; r++) {
        const float *restrict from = slot[r];
        for (int i = low; i < high; i++) buffer[i] += from[i];
    }
    for (int i = low; i < high; i++) buffer[i] *= scale;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > maxRanks) MPI_Abort(MPI_COMM_WORLD, 1);
    const struct { const char *name; int count, calls; } cases[] = {
        {"W3 784-128-10", 101770 + 4, 4000}, {"W1 784-512-512-10", 669706 + 4, 1000}};
    for (int c = 0; c < 2; c++) {
        const int n = cases[c].count, calls = cases[c].calls;
        const float scale = 1.0f / size;
        float *buffer = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) buffer[i] = rank + i * 1e-6f;

        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        for (int k = 0; k < calls; k++) MPI_Allreduce(MPI_IN_PLACE, buffer, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        const double allreduce = (MPI_Wtime() - start) / calls;

        MPI_Win window;
        float *mine, *slots[2][maxRanks];
        MPI_Win_allocate_shared((MPI_Aint)2 * n * sizeof(float), sizeof(float), MPI_INFO_NULL, MPI_COMM_WORLD, &mine, &window);
        for (int r = 0; r < size; r++) {
            MPI_Aint bytes; int unit; float *base;
            MPI_Win_shared_query(window, r, &bytes, &unit, &base);
            slots[0][r] = base; slots[1][r] = base + n;
        }
        MPI_Win_lock_all(MPI_MODE_NOCHECK, window);

        double shared[2];   /* [0]: every rank sums all of it; [1]: each rank sums its part */
        for (int split = 0; split < 2; split++) {
            MPI_Barrier(MPI_COMM_WORLD);
            start = MPI_Wtime();
            for (int k = 0; k < calls; k++) {
                float **slot = slots[k & 1];
                memcpy(slot[rank], buffer, (size_t)n * sizeof(float));
                sync(window);
                if (!split) {
                    sumSlots(buffer, slot, size, 0, n, scale);
                    continue;
                }
                const int low = partStart(rank, n, size), high = partStart(rank + 1, n, size);
                sumSlots(buffer, slot, size, low, high, scale);
                memcpy(slot[rank] + low, buffer + low, (size_t)(high - low) * sizeof(float));
                sync(window);
                for (int r = 0; r < size; r++) {
                    if (r == rank) continue;
                    const int from = partStart(r, n, size), to = partStart(r + 1, n, size);
                    memcpy(buffer + from, slot[r] + from, (size_t)(to - from) * sizeof(float));
                }
            }
            shared[split] = (MPI_Wtime() - start) / calls;
        }

        if (rank == 0)
            printf("%s, %d floats, %d ranks: MPI_Allreduce %.3f ms, shared window full sums %.3f ms, shared window halves %.3f ms\n",
                   cases[c].name, n, size, allreduce * 1e3, shared[0] * 1e3, shared[1] * 1e3);
        MPI_Win_unlock_all(window);
        MPI_Win_free(&window);
        free(buffer);
    }
    MPI_Finalize();
    return 0;
}
