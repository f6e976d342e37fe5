#!/usr/bin/env python3
"""Train/test files for the learner benchmark: prepare.py SHARED_DATA_DIR OUT_DIR [--synthetic-rows 1000000].

ames (Sale_Price, every other column but rownames), churn (churn yes/no) and a deterministic synthetic regression
(20 features: 16 numeric with interactions and noise, 4 categorical with 10-50 levels, ~2 % missing in 3 columns).
Each is split 80/20 with a fixed seed; the same files go to every library.
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

NA = ["", "NA", "NaN", "null", "N/A"]
parser = argparse.ArgumentParser()
parser.add_argument("shared")
parser.add_argument("out")
parser.add_argument("--synthetic-rows", type=int, default=1_000_000)
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)


def split(df, name, seed):
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(len(df) * 0.8)
    df.iloc[np.sort(order[:cut])].to_csv(out / f"{name}_train.csv", index=False)
    df.iloc[np.sort(order[cut:])].to_csv(out / f"{name}_test.csv", index=False)


shared = Path(args.shared)
if (shared / "ames.csv").exists():
    split(pd.read_csv(shared / "ames.csv", keep_default_na=False, na_values=NA).drop(columns=["rownames"]), "ames", 1)
if (shared / "churn.csv").exists():
    split(pd.read_csv(shared / "churn.csv", keep_default_na=False, na_values=NA), "churn", 2)

n = args.synthetic_rows
rng = np.random.default_rng(3)
x = rng.normal(size=(n, 16))
cats = [rng.integers(0, k, n) for k in (10, 20, 30, 50)]
effects = [rng.normal(size=k) for k in (10, 20, 30, 50)]
y = (3 * x[:, 0] + 2 * x[:, 1] * x[:, 2] + np.sin(3 * x[:, 3]) + np.abs(x[:, 4]) - x[:, 5] ** 2 + 0.5 * x[:, 6:16].sum(axis=1)
     + sum(e[c] for e, c in zip(effects, cats)) + rng.normal(scale=0.5, size=n))
df = pd.DataFrame(np.round(x, 5), columns=[f"x{i}" for i in range(16)])
for i, c in enumerate(cats):
    df[f"c{i}"] = np.char.add(f"c{i}_", c.astype(str))
for col in ["x7", "x8", "c1"]:
    df.loc[rng.random(n) < 0.02, col] = np.nan
df["y"] = np.round(y, 5)
split(df, "synthetic", 4)
