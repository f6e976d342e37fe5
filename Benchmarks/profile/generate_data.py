#!/usr/bin/env python3
"""Deterministic benchmark table: generate_data.py ROWS OUT.csv [--seed 42] [--columns N].

12 columns: an id; five numeric columns (floats with negatives, integers; ~3 % missing in two of them);
three text columns (10 levels, 500 city-like names, 20 levels whose values contain a comma and are quoted);
a true/false column; an ISO date column with ~2 % missing. Written with pandas' to_csv.
With --columns N the table is wide instead: a numeric target `y` and N columns, four in five numeric (one in ten
of them related to y), one in five text with 8 levels, ~2 % missing throughout.
"""
import argparse

import numpy as np
import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("rows", type=int)
parser.add_argument("out")
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--columns", type=int)
args = parser.parse_args()

n = args.rows
rng = np.random.default_rng(args.seed)
if args.columns:
    y = rng.normal(0, 1, n)
    columns = {"y": np.round(y, 4)}
    for c in range(args.columns):
        if c % 5 == 4:
            values = np.array(list("abcdefgh"), dtype=object)[rng.integers(0, 8, n)]
        else:
            values = np.round(rng.normal(0, 1, n) + (y if c % 10 == 0 else 0), 4).astype(object)
        values[rng.random(n) < 0.02] = None
        columns[f"c{c}"] = values
    pd.DataFrame(columns).to_csv(args.out, index=False)
    raise SystemExit
cities = np.array([f"city_{i:03d}" for i in range(500)])
kinds = np.array([f"kind {i}, grade {i % 4}" for i in range(20)])
df = pd.DataFrame({
    "id": np.arange(1, n + 1),
    "price": np.round(rng.lognormal(12, 0.5, n), 2),
    "area": rng.integers(300, 5000, n).astype(float),
    "rate": np.round(rng.normal(0, 1, n), 4),
    "rooms": rng.integers(1, 10, n),
    "score": np.round(rng.random(n) * 100, 3),
    "zone": np.array(list("ABCDEFGHIJ"))[rng.integers(0, 10, n)],
    "city": cities[rng.zipf(1.3, n) % 500],
    "kind": kinds[rng.integers(0, 20, n)],
    "flag": np.where(rng.random(n) < 0.3, "true", "false"),
    "day": (np.datetime64("2006-01-01") + rng.integers(0, 1800, n).astype("timedelta64[D]")).astype(str),
    "latitude": np.round(rng.uniform(41.9, 42.1, n), 6),
})
df.loc[rng.random(n) < 0.03, "price"] = np.nan
df.loc[rng.random(n) < 0.03, "area"] = np.nan
df.loc[rng.random(n) < 0.02, "day"] = ""
df.to_csv(args.out, index=False)
