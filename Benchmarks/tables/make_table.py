"""Writes the benchmark's table: 1,000,000 rows, 15 numeric and 5 categorical feature columns
(10, 50, 100, 500, 1,000 levels), 5% of each feature missing (empty), a 3-class label. Seed 0."""
import sys
import numpy as np
import pandas as pd

rows, rng = 1_000_000, np.random.default_rng(0)
columns = {}
for j in range(15):
    scale = 10.0 ** (j % 5 - 2)
    values = np.round(rng.normal(j, 1 + j % 3, rows) * scale, 4)
    columns[f"x{j}"] = values
for j, levels in enumerate([10, 50, 100, 500, 1000]):
    codes = rng.zipf(1.3, rows) % levels
    columns[f"c{j}"] = np.array([f"level-{k}" for k in range(levels)], dtype=object)[codes]
table = pd.DataFrame(columns)
for name in table.columns:
    table.loc[rng.random(rows) < 0.05, name] = np.nan
score = table["x0"].fillna(0) + (table["c0"] == "level-1") - 0.5 * table["x5"].fillna(0) / 10
table["label"] = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(str)
table.to_csv(sys.argv[1], index=False)
print(f"wrote {sys.argv[1]}: {rows} rows × {table.shape[1]} columns")
