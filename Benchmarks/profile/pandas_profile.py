#!/usr/bin/env python3
"""The pandas side of the profile benchmark: read the CSV, describe every column, correlate the numeric ones."""
import sys

import pandas as pd

df = pd.read_csv(sys.argv[1])
description = df.describe(include="all")
correlations = df.corr(numeric_only=True)
print(description.shape, correlations.shape, float(correlations.abs().sum().sum()), file=sys.stderr)
