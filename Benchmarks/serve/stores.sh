#!/usr/bin/env bash
# Serving with the prediction log in SQLite against PostgreSQL: the same `mlcycle serve`, the same gbdt (500 trees,
# 31 leaves, the numeric Ames columns, as in run.sh), driven by wrk with the same rows — single rows at 4 and 64
# connections, 1000-row batches at 4 — once with the embedded store and once with the project's store copied into
# PostgreSQL (`mlcycle store copy`). After each, the server is stopped (SIGTERM) and the log is counted against what
# wrk was answered. No Python packages are needed.
# Usage: bash Benchmarks/serve/stores.sh [--duration 20s]     Writes Benchmarks/serve/stores.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=20s
if [ "${1:-}" = "--duration" ]; then duration=$2; fi
out=Benchmarks/data/serve-stores
rm -rf "$out" && mkdir -p "$out/project" "$out/wrk"
command -v wrk > /dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v psql > /dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client; }

python3 - examples/house-prices/ames.csv "$out" <<'PY'
import csv, json, sys
ames, out = sys.argv[1:]
rows = list(csv.DictReader(open(ames)))
def number(v):
    try:
        float(v)
        return True
    except ValueError:
        return False
columns = [c for c in rows[0] if c not in ("rownames", "Sale_Price") and all(number(r[c]) for r in rows)]
with open(f"{out}/ames_numeric.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(columns + ["Sale_Price"])
    for r in rows:
        w.writerow([r[c] for c in columns] + [r["Sale_Price"]])
with open(f"{out}/project/mlcycle.yaml", "w") as f:
    f.write("""# Written by Benchmarks/serve/stores.sh.
problem: {name: ames, task: regression, target: Sale_Price}
sources:
  - {name: ames, path: ../ames_numeric.csv}
split: {method: random, test: 0.2, seed: 42}
candidates:
  - {name: baseline, learner: linear}
  - {name: gbdt, learner: gbdt, params: {n_estimators: 500, learning_rate: 0.05, num_leaves: 31}}
evaluation:
  metric: rmse
  gates: ["rmse <= baseline"]
release: {auto_promote: true}
""")
for n, name in [(1, "single"), (1000, "batch")]:
    records = [{c: float(r[c]) for c in columns} for r in rows[:n]]
    json.dump({"records": records}, open(f"{out}/{name}.json", "w"))
print(f"{len(columns)} features")
PY

swift build -c release --product mlcycle
bin=.build/release/mlcycle
"$bin" run "$out/project" > "$out/run.log"
pg_env=$(bash Tests/postgres.sh start)
eval "$pg_env"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2> /dev/null || true
    bash Tests/postgres.sh stop "${MLCYCLE_TEST_POSTGRES_DIR:-}"
}
trap cleanup EXIT
"$bin" store copy --from "$out/project/.mlcycle" --to "$MLCYCLE_TEST_POSTGRES_URL" > "$out/copy.log"

rows_md=""
for kind in sqlite postgres; do
    if [ "$kind" = sqlite ]; then store="$out/project/.mlcycle"; else store=$MLCYCLE_TEST_POSTGRES_URL; fi
    "$bin" serve --store "$store" --project "$out/project" --port 18090 > "$out/serve-$kind.log" 2>&1 &
    server=$!
    for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18090/ready > /dev/null && break; sleep 0.5; done
    curl -sf http://127.0.0.1:18090/ready > /dev/null || { echo "the $kind server did not start" >&2; exit 1; }
    for spec in single:4 single:64 batch:4; do
        body=${spec%:*} c=${spec#*:}
        BODY="$out/$body.json" wrk -t1 -c"$c" -d"$duration" --latency -s Benchmarks/serve/post.lua \
            http://127.0.0.1:18090/v1/models/ames/predict > "$out/wrk/$kind-$body-c$c.txt"
    done
    kill -TERM "$server"
    wait "$server" 2> /dev/null || true
    server=""
    if [ "$kind" = sqlite ]; then
        stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM prediction WHERE status NOT LIKE 'error%'\").fetchone()[0])" "$store/store.sqlite")
    else
        stored=$(psql "$store" -Atc "SELECT count(*) FROM prediction WHERE status NOT LIKE 'error%'")
    fi
    # Rows the log must hold: every 2xx answer's rows, minus what earlier runs of this kind stored (none).
    rows_md+=$(python3 - "$out/wrk" "$kind" "$stored" <<'PY'
import glob, re, sys
folder, kind, stored = sys.argv[1], sys.argv[2], int(sys.argv[3])
answered = 0
cells = {}
for path in sorted(glob.glob(f"{folder}/{kind}-*.txt")):
    text = open(path).read()
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    ok = requests - (int(bad.group(1)) if bad else 0)
    rows = 1000 if "batch" in path else 1
    answered += ok * rows
    seconds = float(re.search(r"requests in ([\d.]+)(m?s)", text).group(1))
    unit = re.search(r"requests in [\d.]+(m?s)", text).group(1)
    seconds = seconds / 1000 if unit == "ms" else seconds
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    p99ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    name = path.rsplit("/", 1)[1][len(kind) + 1:-4]
    cells[name] = (ok * rows / seconds, p99ms)
line = f"| {kind} | " + " | ".join(f"{cells[k][0]:,.0f} rows/s, p99 {cells[k][1]:.1f} ms" for k in ["single-c4", "single-c64", "batch-c4"])
print(line + f" | {answered:,} answered, {stored:,} logged |")
PY
)$'\n'
done

cat > Benchmarks/serve/stores.md <<MD
# Serving with the prediction log in SQLite against PostgreSQL

\`bash Benchmarks/serve/stores.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores (the server, PostgreSQL and wrk share
them), release build, wrk -t1, $duration per cell, one run. The gbdt of run.sh (500 trees, 31 leaves, $(head -1 "$out/ames_numeric.csv" | tr ',' '\n' | wc -l) numeric
Ames columns incl. the target); PostgreSQL 15 on loopback, started by Tests/postgres.sh with its defaults. Rows/s
are answered rows (a batch request is 1000 rows); "logged" is what the store holds after a clean stop (SIGTERM).

| store | single row, 4 connections | single row, 64 connections | 1000-row batches, 4 connections | log |
|---|---|---|---|---|
${rows_md}
MD
cat Benchmarks/serve/stores.md
