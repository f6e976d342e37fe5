#!/usr/bin/env python3
"""The pandas side of the profile benchmark: read the CSV, describe every column, correlate the numeric ones with
Pearson's and Spearman's coefficients (both, as mlcycle's profile computes them); `--pearson-only` leaves Spearman out
(the comparison of the benchmark's earlier runs)."""
import sys

import pandas as pd

df = pd.read_csv(sys.argv[1])
description = df.describe(include="all")
pearson = df.corr(numeric_only=True)
checksum = float(pearson.abs().sum().sum())
if "--pearson-only" not in sys.argv[2:]:
    spearman = df.corr(method="spearman", numeric_only=True)
    checksum += float(spearman.abs().sum().sum())
print(description.shape, pearson.shape, checksum, file=sys.stderr)
