"""The incumbents of the drift benchmark, each as a whole process on the same two CSV files.
Usage: incumbents.py evidently|scipy REFERENCE CURRENT"""
import sys

import numpy as np
import pandas as pd

which, reference, current = sys.argv[1:]
ref = pd.read_csv(reference)
cur = pd.read_csv(current)
categorical = [c for c in ref.columns if not pd.api.types.is_numeric_dtype(ref[c])]
numeric = [c for c in ref.columns if c not in categorical]

if which == "evidently":
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report([DataDriftPreset()])
    result = report.run(Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition))
    result.dict()
else:
    # The plain loop an engineer writes: KS and Wasserstein per numeric column, chi-square and Jensen-Shannon per
    # categorical one, PSI on reference deciles for both.
    from scipy import stats
    from scipy.spatial import distance
    out = {}
    for c in numeric:
        r, k = ref[c].dropna().to_numpy(), cur[c].dropna().to_numpy()
        edges = np.unique(np.quantile(r, np.arange(1, 10) / 10))
        rc = np.bincount(np.searchsorted(edges, r), minlength=len(edges) + 1) / len(r)
        cc = np.bincount(np.searchsorted(edges, k), minlength=len(edges) + 1) / len(k)
        rc, cc = np.where(rc > 0, rc, 1e-4), np.where(cc > 0, cc, 1e-4)
        out[c] = (stats.ks_2samp(r, k).pvalue, stats.wasserstein_distance(r, k), float(np.sum((cc - rc) * np.log(cc / rc))),
                  distance.jensenshannon(rc, cc))
    for c in categorical:
        counts = pd.concat([ref[c].value_counts().rename("r"), cur[c].value_counts().rename("c")], axis=1).fillna(0)
        out[c] = (stats.chi2_contingency(counts.T.to_numpy()).pvalue, distance.jensenshannon(counts["r"], counts["c"]))
print(which, "done")
