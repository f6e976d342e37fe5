#!/usr/bin/env bash
# What an explanation costs a served answer: the house project (its three sources and preparation, one gbdt with 500
# trees and 31 leaves, as lookups.sh trains it) asked for single listings by wrk, without and with `?explain=5` (the
# same body), at 4 and 64 connections. The explained answers are checked first: their contributions come from every
# input column's exact TreeSHAP value, and the answer's estimate is the unexplained one. No Python packages.
# Usage: bash Benchmarks/serve/explain.sh [--duration 20s]     Writes Benchmarks/serve/explain.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=20s
if [ "${1:-}" = "--duration" ]; then duration=$2; fi
out=Benchmarks/data/serve-explain
rm -rf "$out" && mkdir -p "$out/project" "$out/wrk"
command -v wrk > /dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cp -r examples/house-prices/sources "$out/project/sources"

python3 - examples/house-prices/mlcycle.yaml "$out" <<'PY'
import csv, json, sys
spec, out = sys.argv[1:]
text = open(spec).read()
sources = text[text.index("sources:"):text.index("validation:")]
preparation = text[text.index("preparation:"):text.index("split:")]
with open(f"{out}/project/mlcycle.yaml", "w") as f:
    f.write("# Written by Benchmarks/serve/explain.sh.\nproblem: {name: houses, task: regression, target: sale_price}\n"
            f"{sources}\n{preparation}\n"
            "split: {method: random, test: 0.2, seed: 42}\n"
            "candidates:\n  - {name: gbdt, learner: gbdt, params: {n_estimators: 500, learning_rate: 0.05, num_leaves: 31}}\n"
            "evaluation: {metric: mape}\nrelease: {auto_promote: true}\n")
fields = ["address", "sale_date", "living_area_sqft", "bedrooms", "full_baths", "half_baths", "garage_cars",
          "fireplaces", "neighborhood", "sale_type", "sale_condition"]
row = next(csv.DictReader(open(f"{out}/project/sources/sales.csv")))
def value(v):
    if v == "":
        return None
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v
json.dump({"records": [{k: value(row[k]) for k in fields}]}, open(f"{out}/listing.json", "w"))
PY

swift build -c release --product mlcycle
bin=.build/release/mlcycle
"$bin" run "$out/project" > "$out/run.log"
"$bin" serve --store "$out/project/.mlcycle" --port 18096 > "$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2> /dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18096/ready > /dev/null && break; sleep 0.5; done
url=http://127.0.0.1:18096/v1/models/houses/predict
curl -sf "$url" -d @"$out/listing.json" > "$out/plain.json"
curl -sf "$url?explain=1000" -d @"$out/listing.json" > "$out/explained.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
plain = json.load(open(f"{out}/plain.json"))["predictions"][0]
explained = json.load(open(f"{out}/explained.json"))["predictions"][0]
e = explained["explanation"]
total = e["expected"] + sum(p["contribution"] for p in e["contributions"])
assert explained["prediction"] == plain["prediction"], (explained, plain)
assert abs(total - plain["prediction"]) <= 1e-9 * abs(plain["prediction"]), (total, plain["prediction"])
print(f"explained: {len(e['contributions'])} columns, expected {e['expected']:.1f} + contributions = "
      f"{total:.1f} = the estimate")
PY
for c in 4 64; do
    for mode in plain explained; do
        query=""
        [ "$mode" = explained ] && query="?explain=5"
        BODY="$out/listing.json" wrk -t1 -c"$c" -d"$duration" --latency -s Benchmarks/serve/post.lua "$url$query" \
            > "$out/wrk/$mode-c$c.txt"
    done
done

table=$(python3 - "$out/wrk" <<'PY'
import sys
sys.path.insert(0, "Benchmarks/serve")
from wrk import summary
folder = sys.argv[1]
for c in [4, 64]:
    p, e = (summary(f"{folder}/{m}-c{c}.txt", rows=1) for m in ["plain", "explained"])
    cell = lambda r: f"{r['rows_per_s']:,.0f} rows/s, p50 {r['p50'] * 1000:.2f} ms, p99 {r['p99'] * 1000:.1f} ms"
    print(f"| 1 row, {c} connections | {cell(p)} | {cell(e)} | {e['rows_per_s'] / p['rows_per_s']:.2f}× "
          f"| {p['errors'] + e['errors']} |")
PY
)
cat > Benchmarks/serve/explain.md <<MD
# What an explanation costs a served answer

\`bash Benchmarks/serve/explain.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores (the server and wrk share them), release
build, wrk -t1, $duration per cell, one run. The house project (three sources, its preparation, one gbdt of 500 trees
with 31 leaves) answering one listing per request, without and with \`?explain=5\` (exact TreeSHAP over the 500 trees,
credited to the input columns, the five largest returned). Target: explained throughput at least 0.5× unexplained.

| payload | without explain | with explain=5 | explained / plain | failed |
|---|---|---|---:|---:|
${table}
MD
cat Benchmarks/serve/explain.md
