"""Prints the PyTorch fixture of Tests/MLPTests/OptimizerTests.swift (run once, pasted there).

A quadratic J(θ) = Σ ½ a_i θ_i² + b_i θ_i on 17 parameters (the size of a 2-3-2 network), whose
gradient is g = a ⊙ θ + b, stepped 6 times with a different learning rate each step by
torch.optim.SGD / Adam / AdamW (float64, CPU, single-tensor path); and the learning rates that
PyTorch's schedulers give when composed as docs/optimizers.md says. Usage: python3 optimizer_fixture.py

The weight decays are chosen so that no component's gradient is exactly zero: Adam divides m by
√v, which turns rounding noise in a vanishing gradient into O(1) differences (λ = 0.05 made
g₁₆ = 0.8 · (−0.375) + 0.3 = 0 and PyTorch and the formulas then differ at 1e-4).
"""
import math
import torch

torch.set_default_dtype(torch.float64)
N = 17
theta0 = [((i * 7) % 11 - 5) / 8.0 for i in range(N)]
a = [0.25 + (i % 5) * 0.5 for i in range(N)]
b = [((i * 3) % 7 - 3) / 10.0 for i in range(N)]
SGD_RATES = [0.1, 0.05, 0.2, 0.1, 0.08, 0.15]
ADAM_RATES = [0.01, 0.02, 0.005, 0.01, 0.03, 0.01]

CONFIGS = [
    # name, constructor, rates, clip
    ("sgd", lambda p: torch.optim.SGD([p], lr=1.0, foreach=False), SGD_RATES, None),
    ("sgdMomentumWeightDecay", lambda p: torch.optim.SGD([p], lr=1.0, momentum=0.9, weight_decay=0.01, foreach=False), SGD_RATES, None),
    ("sgdNesterov", lambda p: torch.optim.SGD([p], lr=1.0, momentum=0.8, nesterov=True, foreach=False), SGD_RATES, None),
    ("sgdMomentumClipped", lambda p: torch.optim.SGD([p], lr=1.0, momentum=0.9, foreach=False), SGD_RATES, 1.0),
    ("adam", lambda p: torch.optim.Adam([p], lr=1.0, foreach=False), ADAM_RATES, None),
    ("adamWeightDecay", lambda p: torch.optim.Adam([p], lr=1.0, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.03, foreach=False), ADAM_RATES, None),
    ("adamw", lambda p: torch.optim.AdamW([p], lr=1.0, foreach=False), ADAM_RATES, None),
    ("adamwSmallBeta1", lambda p: torch.optim.AdamW([p], lr=1.0, betas=(0.3, 0.9), weight_decay=0.1, foreach=False), ADAM_RATES, None),
]

def trajectory(make, rates, clip):
    p = torch.tensor(theta0, requires_grad=True)
    opt = make(p)
    A, B = torch.tensor(a), torch.tensor(b)
    for rate in rates:
        opt.zero_grad()
        (0.5 * A * p * p + B * p).sum().backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p], clip)
        for group in opt.param_groups:
            group["lr"] = rate
        opt.step()
    return p.detach().tolist()

def schedule(kind, warmup, steps_per_epoch=4, epochs=3, base=0.1):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    total = steps_per_epoch * epochs
    per_step, per_epoch = [], []
    if warmup > 1:
        per_step.append(torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1))
    if kind == "step":
        per_epoch.append(torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5))
    if kind == "cosine":
        per_step.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=0))
    rates = []
    for s in range(total):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        for scheduler in per_step:
            scheduler.step()
        if (s + 1) % steps_per_epoch == 0:
            for scheduler in per_epoch:
                scheduler.step()
    return rates

def swift(values):
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"

print(f"// torch {torch.__version__}")
for name, make, rates, clip in CONFIGS:
    print(f'        "{name}": {swift(trajectory(make, rates, clip))},')
for kind, warmup in [("constant", 5), ("step", 3), ("cosine", 4)]:
    print(f'        "{kind}": {swift(schedule(kind, warmup))},')
