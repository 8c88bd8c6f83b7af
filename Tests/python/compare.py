"""Largest relative difference between the tensors of mlp model files, read with safetensors.numpy.

    python3 Tests/python/compare.py REFERENCE.safetensors OTHER.safetensors [MORE…]

Prints, per other file, max over all parameters of |a − b| / max(|a|, |b|, 1e-6).
"""
import sys
import numpy as np
from safetensors.numpy import load_file

reference = load_file(sys.argv[1])
for path in sys.argv[2:]:
    other = load_file(path)
    assert other.keys() == reference.keys(), f"{path}: different tensors"
    worst = max(float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-6)))
                for a, b in ((reference[k].astype(np.float64), other[k].astype(np.float64)) for k in reference))
    print(f"{path}: max relative difference {worst:.3e} against {sys.argv[1]}")
