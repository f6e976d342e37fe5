"""Writes the drift benchmark's tables: reference.csv and current.csv with ROWS rows each, 6 numeric and 3 categorical
columns; the current table is shifted on four of them. Usage: generate.py OUT_DIR ROWS"""
import sys

import numpy as np
import pandas as pd

out, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)


def table(shift):
    return pd.DataFrame({
        "living_area": rng.lognormal(7.3 + 0.05 * shift, 0.35, rows).round(1),
        "lot_area": rng.lognormal(9.1, 0.5, rows).round(0),
        "year_built": rng.integers(1880 + 10 * shift, 2011, rows),
        "rooms": rng.poisson(6 + shift, rows),
        "price_index": rng.normal(100 + 3 * shift, 15, rows).round(3),
        "score": rng.uniform(0, 1, rows).round(5),
        "neighborhood": rng.choice([f"n{i:02d}" for i in range(28)], rows),
        "building_type": rng.choice(["OneFam", "TwnhsE", "Twnhs", "Duplex", "TwoFmCon"], rows,
                                    p=[0.8 - 0.1 * shift, 0.08 + 0.1 * shift, 0.04, 0.04, 0.04]),
        "central_air": rng.choice(["Y", "N"], rows, p=[0.93, 0.07]),
    })


table(0).to_csv(f"{out}/reference.csv", index=False)
table(1).to_csv(f"{out}/current.csv", index=False)
