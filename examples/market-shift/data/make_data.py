"""Writes the market-shift example's two files from ../../house-prices/ames.csv (deterministic):

- sales-2006-2007.csv: the sales the first model learns from;
- sales-2008-2010.csv: the later sales, replayed through the server in time order.

ames.csv gives each sale's year and month only; `sale_date` spreads a month's sales over its days in the order of
the assessor's row numbers. `rownames` (an index), `Year_Sold` and `Mo_Sold` (replaced by `sale_date`) are left out.
Run: python3 make_data.py
"""
import calendar
import csv
import os

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "..", "house-prices", "ames.csv"), newline="") as f:
    rows = list(csv.DictReader(f))

by_month = {}
for r in rows:
    by_month.setdefault((int(r["Year_Sold"]), int(r["Mo_Sold"])), []).append(r)
for (year, month), sales in by_month.items():
    sales.sort(key=lambda r: int(r["rownames"]))
    days = calendar.monthrange(year, month)[1]
    for k, r in enumerate(sales):
        r["sale_date"] = f"{year:04d}-{month:02d}-{1 + k * days // len(sales):02d}"

columns = ["sale_date"] + [c for c in rows[0].keys() if c not in ("rownames", "Year_Sold", "Mo_Sold", "sale_date")]
ordered = sorted(rows, key=lambda r: (r["sale_date"], int(r["rownames"])))
for name, keep in (("sales-2006-2007.csv", lambda r: r["sale_date"] < "2008"), ("sales-2008-2010.csv", lambda r: r["sale_date"] >= "2008")):
    with open(os.path.join(here, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(r for r in ordered if keep(r))
