#!/usr/bin/env python3
"""Largest relative difference between the tensors of two safetensors model files, standard
library only: |a − b| / max(|a|, |b|, 1e-6) over every parameter (as the Swift tests compute it).

  compare_models.py A.safetensors B.safetensors [TOLERANCE]    exit 1 if above TOLERANCE
"""
import json, struct, sys

FORMATS = {"F64": "d", "F32": "f"}


def tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        code = FORMATS[info["dtype"]]
        count = (end - begin) // struct.calcsize(code)
        out[name] = struct.unpack("<%d%s" % (count, code), body[begin:end])
    return out


def main():
    a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
    if sorted(a) != sorted(b):
        sys.exit("compare_models: different tensors: %s vs %s" % (sorted(a), sorted(b)))
    worst = 0.0
    for name in a:
        if len(a[name]) != len(b[name]):
            sys.exit("compare_models: %s has different sizes" % name)
        for x, y in zip(a[name], b[name]):
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-6))
    print("max relative difference %.3e" % worst)
    if len(sys.argv) > 3 and worst > float(sys.argv[3]):
        sys.exit(1)


if __name__ == "__main__":
    main()
