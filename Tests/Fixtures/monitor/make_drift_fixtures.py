"""Writes drift.json: sample pairs and what SciPy says of them, for Tests/MLCycleMonitorTests.

Run from the repository root with a Python that has numpy and scipy:
    python Tests/Fixtures/monitor/make_drift_fixtures.py
ks = scipy.stats.ks_2samp(reference, current) with its defaults; chi2 = scipy.stats.chi2_contingency on the 2 x k
table of counts; wasserstein = scipy.stats.wasserstein_distance; jensen_shannon = scipy.spatial.distance.jensenshannon
on the bin counts; psi on the same bins (reference deciles, numpy's linear quantiles, a value on an edge in the lower
bin; an empty bin counts as 0.0001 of its side).
"""
import json

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

rng = np.random.default_rng(2026)


def bins(ref, cur, n=10):
    edges = []
    for k in range(1, n):
        e = float(np.quantile(ref, k / n))
        if not edges or edges[-1] != e:
            edges.append(e)
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1).astype(float)
    cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1).astype(float)
    return rc, cc


def psi(rc, cc):
    r = np.where(rc > 0, rc / rc.sum(), 0.0001)
    c = np.where(cc > 0, cc / cc.sum(), 0.0001)
    return float(np.sum((c - r) * np.log(c / r)))


numeric = []
for name, ref, cur in [
    ("unequal-exact", rng.normal(0, 1, 200).round(6), rng.normal(0.3, 1.2, 300).round(6)),
    ("equal-exact", rng.normal(10, 2, 500).round(6), rng.normal(10, 2, 500).round(6)),
    ("ties", rng.integers(0, 40, 800).astype(float), rng.integers(3, 45, 650).astype(float)),
    ("shifted-small", rng.lognormal(12, 0.4, 150).round(2), rng.lognormal(12.2, 0.4, 90).round(2)),
    ("asymptotic-drift", rng.normal(0, 1, 11000).round(4), rng.normal(0.05, 1, 12000).round(4)),
    ("asymptotic-same", rng.normal(0, 1, 10500).round(4), rng.normal(0, 1, 13000).round(4)),
]:
    ks = stats.ks_2samp(ref, cur)
    rc, cc = bins(ref, cur)
    numeric.append({
        "name": name, "reference": ref.tolist(), "current": cur.tolist(),
        "ks": {"statistic": float(ks.statistic), "p_value": float(ks.pvalue)},
        "wasserstein": float(stats.wasserstein_distance(ref, cur)),
        "reference_std": float(np.std(ref)),
        "bins": {"reference": rc.tolist(), "current": cc.tolist()},
        "jensen_shannon": float(distance.jensenshannon(rc, cc)),
        "psi": psi(rc, cc),
    })

categorical = []
for name, ref, cur in [
    ("two", rng.choice(["yes", "no"], 400, p=[0.3, 0.7]), rng.choice(["yes", "no"], 300, p=[0.4, 0.6])),
    ("five", rng.choice(list("abcde"), 1000, p=[0.4, 0.3, 0.15, 0.1, 0.05]), rng.choice(list("abcde"), 700, p=[0.35, 0.3, 0.2, 0.1, 0.05])),
    ("unseen", rng.choice(list("abc"), 500), rng.choice(list("abcd"), 500)),
]:
    cats = list(dict.fromkeys(list(ref) + list(cur)))
    rc = np.array([np.sum(ref == c) for c in cats], dtype=float)
    cc = np.array([np.sum(cur == c) for c in cats], dtype=float)
    chi2 = stats.chi2_contingency(np.array([rc, cc]))
    entry = {
        "name": name, "reference": ref.tolist(), "current": cur.tolist(), "categories": cats,
        "chi2": {"statistic": float(chi2.statistic), "p_value": float(chi2.pvalue), "dof": int(chi2.dof)},
        "jensen_shannon": float(distance.jensenshannon(rc, cc)),
        "psi": psi(rc, cc),
    }
    if len(cats) == 2:
        p1, p2 = rc[0] / rc.sum(), cc[0] / cc.sum()
        pooled = (rc[0] + cc[0]) / (rc.sum() + cc.sum())
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / rc.sum() + 1 / cc.sum()))
        entry["z"] = {"statistic": float(z), "p_value": float(2 * stats.norm.sf(abs(z)))}
    categorical.append(entry)

# The one-sample two-sided tail SciPy's asymptotic route uses, at sizes and gaps on each side of its switch-overs.
kstwo = [{"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))}
         for n, x in [(5000, 0.02), (5000, 0.03), (20000, 0.012), (150000, 0.004), (150000, 0.002), (600, 0.6), (300, 0.05)]]

with open("Tests/Fixtures/monitor/drift.json", "w") as f:
    json.dump({"scipy": scipy.__version__, "numeric": numeric, "categorical": categorical, "kstwo": kstwo}, f)
print("wrote Tests/Fixtures/monitor/drift.json")
