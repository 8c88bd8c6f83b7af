#!/usr/bin/env python3
"""The scaling model of Benchmarks/SCALING.md, fitted to the timings Benchmarks/scaling writes.

  scaling_model.py DIR        prints the tables (Markdown) of SCALING.md from DIR's timings

A step on P ranks costs  T(P) = t_compute(rows per rank) + t_allreduce(bytes of θ, P), where
t_compute is measured (bench-step: the trainer's own step without communication) and the
allreduce follows the ring model  t = 2(P−1)·α + 2(P−1)/P · n/β  (α latency per message, β link
bandwidth), fitted to bench-allreduce per transport. Projections to P = 1…1024 use a stated
network instead of the fit, and also Rabenseifner's algorithm (reduce-scatter and allgather by
recursive halving/doubling: 2·log2(P)·α + 2(P−1)/P · n/β), which MPI libraries use for large
P instead of the ring's 2(P−1) latency steps. Standard library only.
"""
import glob, math, os, re, sys

WORKLOADS = {   # name: (layer sizes, global batch of the strong-scaling runs)
    "mnist": ([784, 512, 512, 10], 64),
    "large": ([1024, 4096, 4096, 4096, 1000], 1024),
}
EXTRAS = 4      # loss sum, samples, correct, interrupted: allreduced with θ


def parameters(sizes):
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def theta_bytes(sizes):
    return 4 * (parameters(sizes) + EXTRAS)      # float32


def read_steps(path):
    """(rows, seconds) per row count: the fastest of the runs in the file (the least disturbed
    by other work on a shared machine)."""
    best = {}
    for line in open(path):
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit():
            rows, seconds = int(fields[0]), float(fields[1])
            best[rows] = min(seconds, best.get(rows, seconds))
    return sorted(best.items())


def read_allreduce(path):
    ranks, points = None, []
    for line in open(path):
        fields = line.split()
        if fields[:1] == ["ranks"]:
            ranks = int(fields[1])
        elif len(fields) == 4 and fields[0].isdigit():
            points.append((int(fields[0]), float(fields[1])))
    return ranks, points


def read_mnist(path):
    """Seconds per step of each run: n_b / the epoch line's samples per second."""
    times = []
    for line in open(path):
        match = re.search(r"(\d+) samples/s", line)
        if match:
            times.append(64 / float(match.group(1)))
    return times


def interpolate(points, x):
    """Piecewise linear in x through (x, y) points, extended linearly past the ends."""
    if len(points) == 1:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1 or (x1, y1) == points[-1]:
            if x < points[0][0]:
                (x0, y0), (x1, y1) = points[0], points[1]
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def fit_ring(samples):
    """Least squares, relative: t ≈ 2(P−1)·α + 2(P−1)/P·n·(1/β) over (P, n, t); returns (α, β)."""
    a11 = a12 = a22 = b1 = b2 = 0.0
    for P, n, t in samples:
        u, v = 2 * (P - 1) / t, 2 * (P - 1) / P * n / t   # each row divided by t
        a11 += u * u; a12 += u * v; a22 += v * v; b1 += u; b2 += v
    det = a11 * a22 - a12 * a12
    alpha = (b1 * a22 - b2 * a12) / det
    inverse_beta = (a11 * b2 - a12 * b1) / det
    return alpha, 1 / inverse_beta


def ring(n, P, alpha, beta):
    return 0.0 if P == 1 else 2 * (P - 1) * alpha + 2 * (P - 1) / P * n / beta


def rabenseifner(n, P, alpha, beta):
    return 0.0 if P == 1 else 2 * math.ceil(math.log2(P)) * alpha + 2 * (P - 1) / P * n / beta


def human(seconds):
    return "%.1f µs" % (1e6 * seconds) if seconds < 1e-4 else ms(seconds) + " ms"


def fit_affine(points):
    """Least squares, relative: t ≈ a + n/b over (n, t); returns (a, b)."""
    a11 = a12 = a22 = b1 = b2 = 0.0
    for n, t in points:
        u, v = 1 / t, n / t
        a11 += u * u; a12 += u * v; a22 += v * v; b1 += u; b2 += v
    det = a11 * a22 - a12 * a12
    return (b1 * a22 - b2 * a12) / det, det / (a11 * b2 - a12 * b1)


def ms(seconds):
    return "%.3f" % (1000 * seconds) if seconds < 0.01 else "%.2f" % (1000 * seconds)


def main():
    directory = sys.argv[1]
    steps = {name: read_steps(os.path.join(directory, "step-%s.txt" % name)) for name in WORKLOADS}
    transports = {}
    for path in sorted(glob.glob(os.path.join(directory, "allreduce-*-P*.txt"))):
        name = re.match(r"allreduce-(.+)-P\d+\.txt", os.path.basename(path)).group(1)
        ranks, points = read_allreduce(path)
        transports.setdefault(name, []).extend((ranks, n, t) for n, t in points)
    labels = {"shm": "shared memory (vader)", "veth": "TCP over veth (netns)", "slow": "TCP, 1 ms + 1 Gbit/s link"}

    print("### Measured: one step without communication (bench-step, float32, 1 rank = 1 core)\n")
    for name, (sizes, _) in WORKLOADS.items():
        print("%s %s, θ = %s parameters (%.1f MB allreduced per step):\n" % (
            name, "-".join(map(str, sizes)), format(parameters(sizes), ","), theta_bytes(sizes) / 1e6))
        print("| rows per rank | " + " | ".join(str(r) for r, _ in steps[name]) + " |")
        print("|---|" + "---|" * len(steps[name]))
        print("| ms | " + " | ".join(ms(t) for _, t in steps[name]) + " |\n")

    print("### Measured: MPI_Allreduce (bench-allreduce, float32 SUM in place, slowest rank, best of 3 blocks)\n")
    columns = [(name, P) for name in ["shm", "veth", "slow"] if name in transports
               for P in sorted({p for p, _, _ in transports[name]})]
    sizes = sorted({n for samples in transports.values() for _, n, _ in samples})
    print("| bytes | " + " | ".join("%s P=%d" % (labels[name], P) for name, P in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for n in sizes:
        cells = []
        for name, P in columns:
            found = [t for p, size, t in transports[name] if p == P and size == n]
            cells.append(human(found[0]) if found else "")
        print("| %d | %s |" % (n, " | ".join(cells)))
    print()
    print("Ring model fitted per transport to P = 2 and 3, messages up to 8 MiB (relative least squares):\n")
    print("| transport | α (latency per step) | β (bandwidth) | worst error of the fit | error at 2.7 MB, P = 2 / 3 |")
    print("|---|---|---|---|---|")
    fits = {}
    mnist_bytes = theta_bytes(WORKLOADS["mnist"][0])
    for name, samples in transports.items():
        used = [(P, n, t) for P, n, t in samples if n <= 8 << 20]
        alpha, beta = fit_ring(used)
        fits[name] = (alpha, beta)
        worst = max(abs(ring(n, P, alpha, beta) - t) / t for P, n, t in used)
        near = []
        for P in (2, 3):
            points = sorted((abs(n - mnist_bytes), n, t) for p, n, t in used if p == P)
            if points:
                _, n, t = points[0]
                near.append("%+.0f%%" % (100 * (ring(n, P, alpha, beta) - t) / t))
        print("| %s | %.1f µs | %.2f GB/s (%.1f Gbit/s) | %.0f%% | %s |" % (
            labels.get(name, name), 1e6 * alpha, beta / 1e9, 8 * beta / 1e9, 100 * worst, " / ".join(near)))
    print()
    print("A better fit of what is measured: one line per rank count, t = a + n/b (the cores are shared at P = 3):\n")
    print("| transport | P | a | b | worst error | error at 2.7 MB |")
    print("|---|---|---|---|---|---|")
    affine = {}
    for name, samples in transports.items():
        for P in sorted({p for p, _, _ in samples}):
            points = [(n, t) for p, n, t in samples if p == P and n <= 8 << 20]
            a, b = fit_affine(points)
            affine[(name, P)] = (a, b)
            worst = max(abs(a + n / b - t) / t for n, t in points)
            _, n, t = min((abs(n - mnist_bytes), n, t) for n, t in points)
            print("| %s | %d | %s | %.2f GB/s | %.0f%% | %+.0f%% |" % (
                labels.get(name, name), P, human(a), b / 1e9, 100 * worst, 100 * (a + n / b - t) / t))
    print()

    print("### Validation: MNIST (784-512-512-10, n_b 64, float32) step time, predicted vs measured, 2 cores\n")
    print("Predicted = t_compute(⌈64/P⌉ rows) × max(1, P/2) (P ranks share 2 cores) + the allreduce of θ (2.68 MB):")
    print("by the ring model with the transport's α and β, and by the per-P line.")
    print("Measured = 64 / samples per second of `mlp train --max-steps 400` (MNIST), the fastest run (range; runs).\n")
    print("| transport | P | rows per rank | compute | allreduce: ring / per-P line | predicted: ring / per-P line | measured | error: ring / per-P line |")
    print("|---|---|---|---|---|---|---|---|")
    sizes, batch = WORKLOADS["mnist"]
    for name in ["shm", "veth", "slow"]:
        for P in (1, 2, 3):
            path = os.path.join(directory, "mnist-%s-P%d.txt" % (name, P))
            if not os.path.exists(path) or (name not in fits and P > 1):
                continue
            measured = read_mnist(path)
            if not measured:
                continue
            rows = math.ceil(batch / P)
            compute = interpolate(steps["mnist"], rows) * max(1.0, P / 2)
            n = theta_bytes(sizes)
            by_ring = ring(n, P, *fits[name]) if P > 1 else 0.0
            a, b = affine.get((name, P), (0.0, float("inf")))
            by_line = a + n / b if P > 1 else 0.0
            best = min(measured)
            print("| %s | %d | %d | %s ms | %s / %s ms | %s / %s ms | %s ms (%s–%s; %d) | %+.0f%% / %+.0f%% |" % (
                labels.get(name, name), P, rows, ms(compute), ms(by_ring), ms(by_line), ms(compute + by_ring),
                ms(compute + by_line), ms(best), ms(min(measured)), ms(max(measured)), len(measured),
                100 * (compute + by_ring - best) / best, 100 * (compute + by_line - best) / best))
    print()

    alpha, beta = 5e-6, 25e9 / 8
    print("### Projection: P = 1…1024, one rank per node with this machine's per-core compute, network α = 5 µs, β = 25 Gbit/s\n")
    for name, (sizes, batch) in WORKLOADS.items():
        n = theta_bytes(sizes)
        for mode in ("strong", "weak"):
            rows_per_rank = (lambda P: math.ceil(batch / P)) if mode == "strong" else (lambda P: 64)
            title = ("strong scaling, n_b = %d fixed" % batch) if mode == "strong" else "weak scaling, 64 rows per rank (n_b = 64·P)"
            print("%s (%s), %s:\n" % (name, "-".join(map(str, sizes)), title))
            print("| P | rows/rank | compute | ring allreduce | step (ring) | efficiency (ring) | Rabenseifner allreduce | efficiency (Rabenseifner) | efficiency, perfect overlap |")
            print("|---|---|---|---|---|---|---|---|---|")
            base = interpolate(steps[name], rows_per_rank(1))
            for P in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]:
                rows = rows_per_rank(P)
                compute = interpolate(steps[name], rows)
                t_ring, t_rab = ring(n, P, alpha, beta), rabenseifner(n, P, alpha, beta)
                # strong: T(1)/(P·T(P)); weak: compute/T(P) (throughput per rank against one rank alone)
                scale = base / P if mode == "strong" else compute
                eff = lambda t: scale / t
                print("| %d | %d | %s ms | %s ms | %s ms | %.0f%% | %s ms | %.0f%% | %.0f%% |" % (
                    P, rows, ms(compute), ms(t_ring), ms(compute + t_ring), 100 * eff(compute + t_ring),
                    ms(t_rab), 100 * eff(compute + t_rab), 100 * eff(max(compute, t_rab))))
            print()

    print("### Weak-scaling efficiency (64 rows per rank) if each rank computed faster than one core here\n")
    print("α = 5 µs, β = 25 Gbit/s; each cell ring / Rabenseifner:\n")
    print("| workload | compute speed | compute per step | P = 8 | P = 128 | P = 1024 |")
    print("|---|---|---|---|---|---|")
    for name, (sizes, _) in WORKLOADS.items():
        n, compute = theta_bytes(sizes), interpolate(steps[name], 64)
        for speedup, label in ((1, "×1 (one core here)"), (10, "×10 (a many-core node)"), (100, "×100 (a GPU)")):
            t = compute / speedup
            cells = ["%.0f%% / %.0f%%" % (100 * t / (t + ring(n, P, alpha, beta)), 100 * t / (t + rabenseifner(n, P, alpha, beta)))
                     for P in (8, 128, 1024)]
            print("| %s | %s | %s | %s |" % (name, label, human(t), " | ".join(cells)))

if __name__ == "__main__":
    main()
