"""Alternates mlp and pandas + scikit-learn on the table: see run."""
import json, os, statistics, subprocess, sys, tempfile, time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

mlp, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
categorical = [f"c{j}" for j in range(5)]
numeric = [f"x{j}" for j in range(15)]
model = os.path.join(tempfile.mkdtemp(prefix="tables-"), "m.safetensors")


def run_mlp():
    start = time.perf_counter()
    out = subprocess.run([mlp, "train", "--train", path, "--target", "label", "--max-steps", "1", "--standardize", "--save", model],
                         check=True, capture_output=True, text=True, env=dict(os.environ, MLP_PROGRESS="0"))
    seconds = time.perf_counter() - start
    return seconds, out.stdout.splitlines()[0]


def run_pandas():
    start = time.perf_counter()
    table = pd.read_csv(path)
    transformer = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())]), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])
    features = transformer.fit_transform(table.drop(columns=["label"]))
    seconds = time.perf_counter() - start
    return seconds, features.shape


mlp_times, pandas_times = [], []
for round in range(rounds):
    seconds, line = run_mlp()
    mlp_times.append(seconds)
    print(f"round {round + 1}: mlp train --max-steps 1   {seconds:6.2f} s   ({line})", flush=True)
    seconds, shape = run_pandas()
    pandas_times.append(seconds)
    print(f"round {round + 1}: pandas + scikit-learn    {seconds:6.2f} s   (read_csv + fit_transform → {shape[0]} × {shape[1]})", flush=True)
ratio = statistics.median(mlp_times) / statistics.median(pandas_times)
print(f"median: mlp {statistics.median(mlp_times):.2f} s, pandas + scikit-learn {statistics.median(pandas_times):.2f} s; "
      f"mlp ÷ pandas = {ratio:.2f} (pandas {pd.__version__}, scikit-learn {__import__('sklearn').__version__})")
