#!/usr/bin/env bash
# What lookups cost a served model: the house project's three sources (listings, tax records, neighbourhoods) and a
# gbdt (500 trees, 31 leaves). The same model is trained twice on the same rows: from the three sources (it looks the
# tax record and the neighbourhood up itself) and from their merged table written by `mlcycle prepare` (no lookups).
# The first is asked with what an agent sends (a listing's 11 fields), the second with the fully merged rows — the
# ones the first server completed and logged for the same listings; the first is asked with those merged rows too.
# wrk with the same 1000 listings: single rows at 4 and 64 connections, 1000-row batches at 4. No Python packages.
# Usage: bash Benchmarks/serve/lookups.sh [--duration 20s]     Writes Benchmarks/serve/lookups.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=20s
if [ "${1:-}" = "--duration" ]; then duration=$2; fi
out=Benchmarks/data/serve-lookups
rm -rf "$out" && mkdir -p "$out/project" "$out/merged" "$out/wrk"
command -v wrk > /dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cp -r examples/house-prices/sources "$out/project/sources"

# The example's sources and preparation; one gbdt, as in run.sh; promoted whatever its gates.
python3 - examples/house-prices/mlcycle.yaml "$out" <<'PY'
import csv, json, sys
spec, out = sys.argv[1:]
text = open(spec).read()
sources = text[text.index("sources:"):text.index("validation:")]
preparation = text[text.index("preparation:"):text.index("split:")]
rest = """split: {{method: random, test: 0.2, seed: 42}}
candidates:
  - {{name: gbdt, learner: gbdt, params: {{n_estimators: 500, learning_rate: 0.05, num_leaves: 31}}}}
evaluation: {{metric: mape}}
release: {{auto_promote: true}}
""".format()
with open(f"{out}/project/mlcycle.yaml", "w") as f:
    f.write(f"# Written by Benchmarks/serve/lookups.sh.\nproblem: {{name: houses, task: regression, target: sale_price}}\n"
            f"{sources}\n{preparation}\n{rest}")
with open(f"{out}/project/sources.yaml", "w") as f:
    f.write(f"# The sources alone: `mlcycle prepare` writes their merged table.\n{sources}")
with open(f"{out}/merged/mlcycle.yaml", "w") as f:
    f.write(f"# Written by Benchmarks/serve/lookups.sh.\nproblem: {{name: houses, task: regression, target: sale_price}}\n"
            f"sources:\n  - {{name: merged, path: merged.csv}}\n{preparation}\n{rest}")
fields = ["address", "sale_date", "living_area_sqft", "bedrooms", "full_baths", "half_baths", "garage_cars",
          "fireplaces", "neighborhood", "sale_type", "sale_condition"]
rows = list(csv.DictReader(open(f"{out}/project/sources/sales.csv")))[:1000]
def value(v):
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v
listings = [{k: value(r[k]) for k in fields} for r in rows]
for n, name in [(1, "single"), (1000, "batch")]:
    json.dump({"records": listings[:n]}, open(f"{out}/listing-{name}.json", "w"))
PY

swift build -c release --product mlcycle
bin=.build/release/mlcycle
"$bin" run "$out/project" > "$out/run.log"
"$bin" prepare --pipeline "$out/project/sources.yaml" --out "$out/merged/merged.csv"
"$bin" run "$out/merged" > "$out/run-merged.log"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2> /dev/null || true; }
trap cleanup EXIT
serve() { # project folder
    "$bin" serve --store "$1/.mlcycle" --port 18095 > "$out/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18095/ready > /dev/null && break; sleep 0.5; done
    curl -sf http://127.0.0.1:18095/ready > /dev/null || { echo "the server did not start" >&2; exit 1; }
}
stop() {
    kill -TERM "$server"
    wait "$server" 2> /dev/null || true
    server=""
}

# The merged rows: the 1000 listings as the server completed them (its log's inputs), then the answers to both
# compared before anything is timed.
serve "$out/project"
curl -sf http://127.0.0.1:18095/v1/models/houses/predict -d @"$out/listing-batch.json" > "$out/answers-listing.json"
stop
python3 - "$out" <<'PY'
import json, sqlite3, sys
out = sys.argv[1]
db = sqlite3.connect(f"{out}/project/.mlcycle/store.sqlite")
rows = [json.loads(r[0]) for r in db.execute(
    "SELECT inputs FROM prediction WHERE status NOT LIKE 'error%' ORDER BY rowid LIMIT 1000")]
assert len(rows) == 1000, len(rows)
# The log leaves a missing value out of a row's inputs; a request names every column (null when missing).
columns = sorted({c for r in rows for c in r})
rows = [{c: r.get(c) for c in columns} for r in rows]
for n, name in [(1, "single"), (1000, "batch")]:
    json.dump({"records": rows[:n]}, open(f"{out}/merged-{name}.json", "w"))
print(f"merged rows: {len(columns)} columns; listings: 11")
PY
bench() { # label body
    for spec in single:4 single:64 batch:4; do
        size=${spec%:*} c=${spec#*:}
        BODY="$out/$2-$size.json" wrk -t1 -c"$c" -d"$duration" --latency -s Benchmarks/serve/post.lua \
            http://127.0.0.1:18095/v1/models/houses/predict > "$out/wrk/$1-$size-c$c.txt"
    done
}
serve "$out/project"
curl -sf http://127.0.0.1:18095/v1/models/houses/predict -d @"$out/merged-batch.json" > "$out/answers-merged.json"
bench listing listing
bench merged-to-lookups merged
stop
serve "$out/merged"
curl -sf http://127.0.0.1:18095/v1/models/houses/predict -d @"$out/merged-batch.json" > "$out/answers-plain.json"
bench plain merged
stop
python3 Benchmarks/serve/same_answers.py "$out" listing merged plain

table=$(python3 - "$out/wrk" <<'PY'
import sys
sys.path.insert(0, "Benchmarks/serve")
from wrk import summary
folder = sys.argv[1]
def read(name):
    r = summary(f"{folder}/{name}.txt", rows=1000 if "batch" in name else 1)
    return r["rows_per_s"], r["p50"] * 1000, r["p99"] * 1000, r["errors"]
lines = []
for size, c, label in [("single", 4, "1 row, 4 connections"), ("single", 64, "1 row, 64 connections"),
                       ("batch", 4, "1000 rows, 4 connections")]:
    l, m, p = (read(f"{k}-{size}-c{c}") for k in ["listing", "merged-to-lookups", "plain"])
    cell = lambda x: f"{x[0]:,.0f} rows/s, p99 {x[2]:.1f} ms"
    lines.append(f"| {label} | {cell(l)} | {cell(m)} | {cell(p)} | {l[0] / p[0]:.2f}× | {l[3] + m[3] + p[3]} |")
print("\n".join(lines))
PY
)
cat > Benchmarks/serve/lookups.md <<MD
# What lookups cost a served model

\`bash Benchmarks/serve/lookups.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores (the server and wrk share them), release
build, wrk -t1, $duration per cell, one run. The house project's sources and preparation, one gbdt (500 trees, 31
leaves), trained twice on the same rows: from the three sources (the model looks the tax record and the
neighbourhood up, from the records kept in its bundle) and from their merged table (no lookups). "Listing": the 11
fields an agent sends, to the first; "merged row": the same listings as the first server completed them (every
column the model reads), to the first (its lookups run and find nothing to add) and to the second. All three answer
the same 1000 listings identically. The cost of the lookups is the first column against the third.

| payload | listing, model with lookups | merged row, model with lookups | merged row, model without | listing vs merged without | failed |
|---|---|---|---|---:|---:|
${table}
MD
cat Benchmarks/serve/lookups.md
