"""PyTorch on the workloads of `mlp bench`, for a side-by-side comparison.

Same model (Linear + ReLU, softmax cross-entropy), same data shape (60,000 × 784 float32, random,
pre-loaded as tensors), plain SGD, a fresh permutation per epoch, only full batches; the median
and min–max of `--repeats` timed runs of `--steps` steps after `--warmup` steps.

    pip install torch numpy          # the CPU wheel from PyPI is enough
    python3 Benchmarks/pytorch_mlp.py --threads 2                 # 1 process × 2 threads
    python3 Benchmarks/pytorch_mlp.py --ddp 2 --threads 1         # DistributedDataParallel (gloo), 2 × 1

Prints one JSON object per workload.
"""
import argparse, json, os, statistics, sys, time

WORKLOADS = {"W1": ([784, 512, 512, 10], 256), "W2": ([784, 512, 512, 10], 1024),
             "W3": ([784, 128, 10], 64), "W4": ([784, 2048, 2048, 10], 512)}


def model(torch, sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def run(rank, world, args, results):
    import torch
    torch.set_num_threads(args.threads)
    if world > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    out = []
    for name in args.workloads.split(","):
        sizes, batch = WORKLOADS[name]
        torch.manual_seed(0)
        generator = torch.Generator().manual_seed(1)
        x = torch.rand(60000, sizes[0], generator=generator)
        y = torch.randint(0, sizes[-1], (60000,), generator=generator)
        net = model(torch, sizes)
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(net)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
        loss_fn = torch.nn.CrossEntropyLoss()
        shard = batch // world                  # DDP: each process takes its part of the global batch
        state = {"batch": 0, "perm": torch.randperm(60000, generator=generator)}
        batches = 60000 // batch

        def steps(count):
            for _ in range(count):
                if state["batch"] == batches:
                    state["batch"], state["perm"] = 0, torch.randperm(60000, generator=generator)
                rows = state["perm"][state["batch"] * batch:(state["batch"] + 1) * batch][rank * shard:(rank + 1) * shard]
                optimizer.zero_grad(set_to_none=True)
                loss_fn(net(x[rows]), y[rows]).backward()
                optimizer.step()
                state["batch"] += 1

        steps(args.warmup)
        rates = []
        for _ in range(args.repeats):
            if world > 1:
                torch.distributed.barrier()
            start = time.perf_counter()
            steps(args.steps)
            if world > 1:
                torch.distributed.barrier()
            rates.append(args.steps * batch / (time.perf_counter() - start))
        out.append({"workload": name, "framework": f"pytorch {torch.__version__}",
                    "layout": f"{world}x{args.threads}" + (" ddp" if world > 1 else ""),
                    "median_samples_per_second": statistics.median(rates), "samples_per_second": rates})
    if rank == 0:
        results.extend(out)
    if world > 1:
        torch.distributed.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ddp", type=int, default=1, help="processes (DistributedDataParallel, gloo)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("pytorch_mlp: torch is not installed (pip install torch): skipping", file=sys.stderr)
        sys.exit(0)
    if args.ddp == 1:
        results = []
        run(0, 1, args, results)
    else:
        import torch.multiprocessing as mp
        manager = mp.Manager()
        results = manager.list()
        mp.spawn(run, args=(args.ddp, args, results), nprocs=args.ddp, join=True)
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
