#!/usr/bin/env bash
# What reading a lookup live from PostgreSQL costs a served model: the house project (listings, tax records,
# neighbourhoods; one gbdt of 500 trees) trained three times on the same rows, the tax records kept in the bundle
# (snapshot) or read live from a throwaway PostgreSQL (Tests/postgres.sh) with the default cache (10,000 keys, 60 s)
# or with none (ttl 0: every request reads the database). Each is asked with what an agent sends (a listing's 11
# fields) by wrk: one listing at 4 and 64 connections (with the cache, every read after the first is a hit) and
# 1000 listings a request at 4. The answers to the same 1000 listings are compared before anything is timed.
# Usage: bash Benchmarks/serve/live-lookups.sh [--duration 20s]     Writes Benchmarks/serve/live-lookups.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=20s
if [ "${1:-}" = "--duration" ]; then duration=$2; fi
out=Benchmarks/data/serve-live-lookups
rm -rf "$out" && mkdir -p "$out/wrk"
command -v wrk > /dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v psql > /dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client; }

pg_env=$(bash Tests/postgres.sh start)
eval "$pg_env"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2> /dev/null || true
    bash Tests/postgres.sh stop "${MLCYCLE_TEST_POSTGRES_DIR:-}"
}
trap cleanup EXIT

# The tax records in PostgreSQL (columns typed as their values read), and the three projects.
python3 - examples/house-prices "$out" "$MLCYCLE_TEST_POSTGRES_URL" <<'PY'
import csv, json, sys
example, out, url = sys.argv[1:]
rows = list(csv.reader(open(f"{example}/sources/tax_records.csv")))
header, body = rows[0], rows[1:]
def kind(values):
    values = [v for v in values if v != ""]
    for t, parse in [("bigint", int), ("double precision", float)]:
        try:
            [parse(v) for v in values]
            return t
        except ValueError:
            pass
    return "text"
types = [kind([r[i] for r in body]) for i in range(len(header))]
with open(f"{out}/tax.sql", "w") as f:
    f.write("CREATE TABLE tax (" + ", ".join(f'"{c}" {t}' for c, t in zip(header, types)) + ");\n")
text = open(f"{example}/mlcycle.yaml").read()
sources = text[text.index("sources:"):text.index("validation:")]
preparation = text[text.index("preparation:"):text.index("split:")]
start = sources.index("  - name: tax\n")
end = sources.index("  - name: neighborhoods")
select = ", ".join(["lower(trim(address)) AS address"] + [f'"{c}"' for c in header[1:]])
def live(ttl):
    return (f"  - name: tax\n    url: \"{url}\"\n    query: 'SELECT {select} FROM tax'\n"
            f"    join: {{on: [address], kind: left}}\n    serving: live\n    cache: {{records: 10000, ttl: {ttl}}}\n")
rest = """split: {method: random, test: 0.2, seed: 42}
candidates:
  - {name: gbdt, learner: gbdt, params: {n_estimators: 500, learning_rate: 0.05, num_leaves: 31}}
evaluation: {metric: mape}
release: {auto_promote: true}
"""
import os, shutil
for name, tax in [("snapshot", sources[start:end]), ("live", live("60s")), ("uncached", live("0"))]:
    os.makedirs(f"{out}/{name}", exist_ok=True)
    shutil.copytree(f"{example}/sources", f"{out}/{name}/sources")
    with open(f"{out}/{name}/mlcycle.yaml", "w") as f:
        f.write("# Written by Benchmarks/serve/live-lookups.sh.\n"
                "problem: {name: houses, task: regression, target: sale_price}\n"
                f"{sources[:start]}{tax}{sources[end:]}\n{preparation}\n{rest}")
fields = ["address", "sale_date", "living_area_sqft", "bedrooms", "full_baths", "half_baths", "garage_cars",
          "fireplaces", "neighborhood", "sale_type", "sale_condition"]
def value(v):
    if v == "":
        return None
    for parse in (int, float):
        try:
            return parse(v)
        except ValueError:
            pass
    return v
listings = [{k: value(r[k]) for k in fields} for r in list(csv.DictReader(open(f"{example}/sources/sales.csv")))[:1000]]
for n, name in [(1, "single"), (1000, "batch")]:
    json.dump({"records": listings[:n]}, open(f"{out}/listing-{name}.json", "w"))
PY
psql -q "$MLCYCLE_TEST_POSTGRES_URL" -f "$out/tax.sql"
psql -q "$MLCYCLE_TEST_POSTGRES_URL" -c "CREATE INDEX ON tax (lower(trim(address)))"
psql -q "$MLCYCLE_TEST_POSTGRES_URL" -c "\\copy tax FROM 'examples/house-prices/sources/tax_records.csv' CSV HEADER"

swift build -c release --product mlcycle
bin=.build/release/mlcycle
for name in snapshot live uncached; do "$bin" run "$out/$name" > "$out/run-$name.log"; done
serve() { # project folder
    "$bin" serve --store "$1/.mlcycle" --port 18096 > "$out/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18096/ready > /dev/null && break; sleep 0.5; done
    curl -sf http://127.0.0.1:18096/ready > /dev/null || { echo "the server did not start" >&2; exit 1; }
}
stop() {
    kill -TERM "$server"
    wait "$server" 2> /dev/null || true
    server=""
}
for name in snapshot live uncached; do
    serve "$out/$name"
    curl -sf http://127.0.0.1:18096/v1/models/houses/predict -d @"$out/listing-batch.json" > "$out/answers-$name.json"
    for spec in single:4 single:64 batch:4; do
        size=${spec%:*} c=${spec#*:}
        BODY="$out/listing-$size.json" wrk -t1 -c"$c" -d"$duration" --latency -s Benchmarks/serve/post.lua \
            http://127.0.0.1:18096/v1/models/houses/predict > "$out/wrk/$name-$size-c$c.txt"
    done
    stop
done
python3 Benchmarks/serve/same_answers.py "$out" snapshot live uncached

table=$(python3 - "$out/wrk" <<'PY'
import sys
sys.path.insert(0, "Benchmarks/serve")
from wrk import summary
folder = sys.argv[1]
def read(name):
    r = summary(f"{folder}/{name}.txt", rows=1000 if "batch" in name else 1)
    return r["rows_per_s"], r["p50"] * 1000, r["p99"] * 1000, r["errors"]
lines = []
for size, c, label in [("single", 4, "1 listing, 4 connections"), ("single", 64, "1 listing, 64 connections"),
                       ("batch", 4, "1000 listings, 4 connections")]:
    s, l, u = (read(f"{k}-{size}-c{c}") for k in ["snapshot", "live", "uncached"])
    cell = lambda x: f"{x[0]:,.0f} rows/s, p50 {x[1]:.1f} ms, p99 {x[2]:.1f} ms"
    lines.append(f"| {label} | {cell(s)} | {cell(l)} | {cell(u)} | {l[0] / s[0]:.2f}× | {u[0] / s[0]:.2f}× "
                 f"| {s[3] + l[3] + u[3]} |")
print("\n".join(lines))
PY
)
cat > Benchmarks/serve/live-lookups.md <<MD
# What a lookup read live from PostgreSQL costs a served model

\`bash Benchmarks/serve/live-lookups.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores (the server, PostgreSQL and wrk share
them), release build, wrk -t1, $duration per cell, one run; PostgreSQL
$(psql -tA "$MLCYCLE_TEST_POSTGRES_URL" -c 'SHOW server_version') on loopback, started by Tests/postgres.sh with its
defaults, the tax table indexed on the query's key (\`lower(trim(address))\`). The house project (one gbdt of 500
trees) trained three times on the same rows: its tax records kept in the bundle ("snapshot"), read live with the
default cache (10,000 keys for 60 s: "live"), and read live on every request ("no cache", \`ttl: 0\`). Every request
is a listing's 11 fields; the three answer the same 1000 listings identically. The ratios are rows/s against the
snapshot's.

| payload | snapshot | live, cached | live, no cache | cached vs snapshot | no cache vs snapshot | failed |
|---|---|---|---|---:|---:|---:|
${table}
MD
cat Benchmarks/serve/live-lookups.md
