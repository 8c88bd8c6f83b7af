"""Independent check of an mlp model file: load it with safetensors.numpy, run the forward
pass in numpy, and print test accuracy and mean cross-entropy loss.

    python3 Tests/python/forward.py MODEL.safetensors mnist:DIR
    python3 Tests/python/forward.py MODEL.safetensors data.csv     (label = last column)
"""
import csv, gzip, json, os, sys
import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open

model_path, data = sys.argv[1], sys.argv[2]
tensors = load_file(model_path)
with safe_open(model_path, "np") as f:
    meta = f.metadata() or {}
layers = len([k for k in tensors if k.endswith(".weight")])
h = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[meta.get("activation", "relu")]

if data.startswith("mnist:"):
    d = data[len("mnist:"):]
    def idx(name):
        path = os.path.join(d, name)
        raw = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
        return np.frombuffer(raw, np.uint8)
    X = idx("t10k-images-idx3-ubyte")[16:].reshape(-1, 784).astype(np.float64) / 255
    y = idx("t10k-labels-idx1-ubyte")[8:].astype(np.int64)
else:
    rows = list(csv.reader(open(data, encoding="utf-8-sig")))[1:]
    classes = json.loads(meta["class_names"])
    X = np.array([[float(v) for v in r[:-1]] for r in rows])
    y = np.array([classes.index(r[-1].strip()) for r in rows])

q = X
for i in range(layers):
    z = q @ tensors[f"layers.{i}.weight"].astype(np.float64).T + tensors[f"layers.{i}.bias"].astype(np.float64)
    q = h(z) if i < layers - 1 else z
m = q.max(axis=1, keepdims=True)
log_probs = q - m - np.log(np.exp(q - m).sum(axis=1, keepdims=True))
print(json.dumps({"rows": len(y), "test_loss": float(-log_probs[np.arange(len(y)), y].mean()),
                  "test_accuracy": float((q.argmax(axis=1) == y).mean())}))
