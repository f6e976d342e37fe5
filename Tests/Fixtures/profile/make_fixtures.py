#!/usr/bin/env python3
"""Reference values for mlcycle's profiling tests, computed by pandas, numpy and scipy.

Usage (from the repository root):
    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install pandas numpy scipy
    /tmp/ref/bin/python Tests/Fixtures/profile/make_fixtures.py [../shared/data/ames.csv] [Tests/Fixtures/profile]

Writes two CSV fixtures and, for each, <name>.reference.json:
  ames_sample.csv  300 rows of ames.csv (every 9th row, 15 columns), ~5 % of the cells of three columns blanked
                   deterministically, and 3 earlier rows appended again (duplicates).
  edge_cases.csv   a small hand-made table: negatives, zeros and ties, the missing-value tokens, a constant
                   column, quoted fields with commas and doubled quotes, an ISO date column with gaps.

Definitions (all on the CSV as read by
    pd.read_csv(path, keep_default_na=False, na_values=["", "NA", "NaN", "null", "N/A"])):
  count, missing, distinct     Series.count(), isna().sum(), nunique()
  mean, std, min, q05 … max    Series.mean(), std() (ddof 1), min(), quantile(q) (linear), max()
  zeros, negatives             (s == 0).sum(), (s < 0).sum()
  iqr_outliers                 values < q25 - 1.5·IQR or > q75 + 1.5·IQR
  histogram                    numpy.histogram(values without missing, bins=20)
  value_counts                 Series.value_counts() for text columns
  date columns                 min / max / median of pd.to_datetime, as yyyy-MM-dd
  duplicate_rows               DataFrame.duplicated().sum()
  pearson, spearman            DataFrame[numeric].corr(method) — pairwise-complete rows
  cramers_v                    per pair, rows where both are present: pd.crosstab, then
                               scipy.stats.contingency.association(table, method="cramer", correction=False)
  target.eta                   correlation ratio sqrt(SS_between / SS_total) over rows where both are present
"""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy.stats.contingency import association

NA = ["", "NA", "NaN", "null", "N/A"]


def clean(v):
    """JSON-safe float: NaN and infinities become null."""
    if v is None:
        return None
    v = float(v)
    return None if not np.isfinite(v) else v


def reference(csv_path: Path, target: str, date_columns: list[str]) -> dict:
    df = pd.read_csv(csv_path, keep_default_na=False, na_values=NA)
    out = {
        "source": csv_path.name,
        "generated_by": f"make_fixtures.py with pandas {pd.__version__}, numpy {np.__version__}, scipy {scipy.__version__}",
        "rows": int(len(df)),
        "duplicate_rows": int(df.duplicated().sum()),
        "columns": {},
    }
    numeric = [c for c in df.columns if c not in date_columns and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    categorical = [c for c in df.columns if c not in date_columns and c not in numeric]
    for c in df.columns:
        s = df[c]
        col = {"count": int(s.count()), "missing": int(s.isna().sum()), "distinct": int(s.nunique())}
        if c in date_columns:
            d = pd.to_datetime(s)
            col.update(kind="date", min=d.min().strftime("%Y-%m-%d"), max=d.max().strftime("%Y-%m-%d"))
            med = d.median()
            col["median"] = med.strftime("%Y-%m-%d")
            if med != med.normalize():
                col["median_days_since_epoch"] = (med - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        elif c in numeric:
            v = s.dropna().astype(float)
            q25, q75 = v.quantile(0.25), v.quantile(0.75)
            iqr = q75 - q25
            counts, edges = np.histogram(v.to_numpy(), bins=20)
            col.update(kind="numeric", mean=clean(v.mean()), std=clean(v.std()), min=clean(v.min()),
                       q05=clean(v.quantile(0.05)), q25=clean(q25), median=clean(v.quantile(0.5)), q75=clean(q75),
                       q95=clean(v.quantile(0.95)), max=clean(v.max()),
                       zeros=int((v == 0).sum()), negatives=int((v < 0).sum()),
                       iqr_outliers=int(((v < q25 - 1.5 * iqr) | (v > q75 + 1.5 * iqr)).sum()),
                       histogram={"edges": [float(e) for e in edges], "counts": [int(k) for k in counts]})
        else:
            col.update(kind="categorical", value_counts={str(k): int(n) for k, n in s.value_counts().items()})
        out["columns"][c] = col

    def matrix(method):
        m = df[numeric].corr(method=method)
        return {"columns": numeric, "matrix": [[clean(m.loc[a, b]) for b in numeric] for a in numeric]}

    out["pearson"] = matrix("pearson")
    out["spearman"] = matrix("spearman")

    cv = []
    for a in categorical:
        row = []
        for b in categorical:
            if a == b:
                row.append(1.0 if df[a].nunique() > 1 else None)
                continue
            both = df[[a, b]].dropna()
            table = pd.crosstab(both[a], both[b])
            if min(table.shape) < 2:
                row.append(None)
            else:
                row.append(clean(association(table.to_numpy(), method="cramer", correction=False)))
        cv.append(row)
    out["cramers_v"] = {"columns": categorical, "matrix": cv}

    t = {"name": target, "pearson": {}, "spearman": {}, "eta": {}}
    for c in numeric:
        if c != target:
            t["pearson"][c] = clean(df[[target, c]].corr("pearson").iloc[0, 1])
            t["spearman"][c] = clean(df[[target, c]].corr("spearman").iloc[0, 1])
    for c in categorical:
        both = df[[c, target]].dropna()
        y = both[target].astype(float)
        total = ((y - y.mean()) ** 2).sum()
        groups = both.groupby(c)[target]
        between = sum(len(g) * (g.mean() - y.mean()) ** 2 for _, g in groups)
        t["eta"][c] = clean(np.sqrt(between / total)) if total > 0 else None
    out["target"] = t
    return out


def make_ames_sample(ames: Path, folder: Path) -> Path:
    df = pd.read_csv(ames, keep_default_na=False, na_values=NA)
    cols = ["Sale_Price", "Gr_Liv_Area", "Lot_Area", "Lot_Frontage", "Year_Built", "Year_Remod_Add", "Mas_Vnr_Area",
            "Longitude", "Latitude", "Total_Bsmt_SF", "Neighborhood", "MS_Zoning", "Bldg_Type", "Overall_Cond", "Central_Air"]
    sample = df.iloc[::9][cols].head(300).reset_index(drop=True)
    rng = np.random.default_rng(2026)
    for c in ["Gr_Liv_Area", "Mas_Vnr_Area", "Neighborhood"]:
        blank = rng.random(len(sample)) < 0.05
        sample[c] = sample[c].astype(object)
        sample.loc[blank, c] = None
    sample = pd.concat([sample, sample.iloc[[10, 50, 120]]], ignore_index=True)
    path = folder / "ames_sample.csv"
    sample.to_csv(path, index=False, na_rep="")
    return path


EDGE_CASES = '''id,count,ratio,constant,label,note,when
1,-3,1.5,7,b,plain,2008-01-15
2,0,NA,7,a,"with, comma",2008-02-29
3,0,2.25,7,b,"say ""hi""",
4,5,NaN,7,c,plain,2009-12-31
5,5,-0.5,7,a,x,2010-06-01
6,5,null,7,b,x,2010-06-01
7,-3,3.75,7,c,"a, ""b"", c",2007-03-03
8,12,N/A,7,a,y,2011-11-11
9,0,,7,b,y,2006-06-06
10,2,1e-3,7,d,z,2008-01-15
11,2,100,7,a,z,2012-02-02
12,-1,-250.125,7,c,plain,2013-03-13
13,7,0.3333333333333333,7,b,plain,2014-04-14
14,7,42,7,a,q,
15,0,0,7,b,q,2015-05-15
16,3,-1,7,d,r,2016-06-16
17,3,1,7,a,r,2017-07-17
18,9,8.5,7,b,s,2018-08-18
19,-8,8.5,7,c,s,2019-09-19
20,1,9.75,7,a,t,2020-10-20
21,1,,7,b,t,2021-11-21
22,4,2.5,7,c,u,2022-12-22
23,4,2.5,7,a,u,2023-01-23
24,6,-7,7,b,v,2024-02-24
25,6,3,7,a,v,2025-03-25
'''


def main():
    here = Path(__file__).resolve().parent
    ames = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2].parent / "shared/data/ames.csv"
    folder = Path(sys.argv[2]) if len(sys.argv) > 2 else here
    sample = make_ames_sample(ames, folder)
    edge = folder / "edge_cases.csv"
    edge.write_text(EDGE_CASES)
    for path, target, dates in [(sample, "Sale_Price", []), (edge, "ratio", ["when"])]:
        ref = reference(path, target, dates)
        out = folder / (path.stem + ".reference.json")
        out.write_text(json.dumps(ref, indent=1, allow_nan=False) + "\n")
        print(f"wrote {out}: {ref['rows']} rows, {ref['duplicate_rows']} duplicate rows")


if __name__ == "__main__":
    main()
