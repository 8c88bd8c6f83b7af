"""Regenerates plateau.json: PyTorch's ReduceLROnPlateau (mode min, threshold_mode rel,
cooldown 0) on scripted loss sequences, the learning rate after each epoch's step.

    python3 Tests/Fixtures/plateau.py > Tests/Fixtures/plateau.json
"""
import json, math, random

import torch

random.seed(3)
noisy = [1.0 * 0.97 ** i + random.uniform(-0.02, 0.02) for i in range(60)]
stairs = [2.0] * 5 + [1.9999] * 5 + [1.5] * 8 + [1.49995] * 12 + [1.2] + [1.3] * 9
bounce = [0.5, 0.4, 0.41, 0.39, 0.3901, 0.38, 0.38, 0.38, 0.2, 0.25, 0.25, 0.25, 0.25, 0.19, 0.19, 0.19, 0.19, 0.19]
cases = [
    {"lr": 0.1, "patience": 2, "factor": 0.5, "threshold": 1e-4, "min_lr": 0.001, "losses": stairs},
    {"lr": 1.0, "patience": 10, "factor": 0.1, "threshold": 1e-4, "min_lr": 0.0, "losses": noisy},
    {"lr": 0.5, "patience": 0, "factor": 0.3, "threshold": 0.01, "min_lr": 0.02, "losses": bounce},
    {"lr": 0.05, "patience": 1, "factor": 0.7, "threshold": 0.0, "min_lr": 0.0, "losses": noisy[:30] + stairs},
]
for case in cases:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=case["lr"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=case["factor"], patience=case["patience"], threshold=case["threshold"],
        threshold_mode="rel", cooldown=0, min_lr=case["min_lr"])
    rates = []
    for loss in case["losses"]:
        scheduler.step(loss)
        rates.append(optimizer.param_groups[0]["lr"])
    case["rates"] = rates
print(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1))
