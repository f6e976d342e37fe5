#!/usr/bin/env bash
# The monitoring pass on a large prediction log: `mlcycle monitor` over 30 days of a busy model's answers, on the
# embedded SQLite store and on PostgreSQL, for each log size given (default: 1 M and 10 M rows). Reports the pass's
# wall time and peak memory (RSS) from one run each. Windows are summed up by the database; the pass reads the rows
# of its last window only (for drift).
# Usage: bash Benchmarks/monitor/run.sh [ROWS ...]      Writes Benchmarks/monitor/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
out=Benchmarks/data/monitor
mkdir -p "$out/project"
command -v psql > /dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client; }

# The model: a linear baseline on eight of the Ames columns (the log's inputs are those columns).
python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
keep = ["Gr_Liv_Area", "Year_Built", "Lot_Area", "Overall_Cond", "Neighborhood", "Garage_Cars", "Full_Bath",
        "Total_Bsmt_SF", "Sale_Price"]
with open("examples/house-prices/ames.csv") as f, open(f"{out}/ames_small.csv", "w", newline="") as g:
    w = csv.writer(g)
    w.writerow(keep)
    for row in csv.DictReader(f):
        w.writerow([row[k] for k in keep])
with open(f"{out}/project/mlcycle.yaml", "w") as f:
    f.write("""# Written by Benchmarks/monitor/run.sh.
problem: {name: ames, task: regression, target: Sale_Price}
sources:
  - {name: ames, path: ../ames_small.csv}
split: {method: random, test: 0.2, seed: 42}
candidates:
  - {name: baseline, learner: linear}
evaluation: {metric: mape}
release: {auto_promote: true}
monitoring:
  window: 1d
  alerts:
    - {name: drift, when: "drift_share > 0.3"}
    - {name: accuracy, when: "mape > 0.2 over 30d"}
    - {name: slow, when: "latency_p99 > 0.05"}
    - {name: quiet, when: "volume < 50% of previous 7d"}
""")
PY

swift build -c release --product mlcycle
bin=.build/release/mlcycle
pg_env=$(bash Tests/postgres.sh start)
eval "$pg_env"
trap 'bash Tests/postgres.sh stop "${MLCYCLE_TEST_POSTGRES_DIR:-}"' EXIT
base=${MLCYCLE_TEST_POSTGRES_URL%/*}

rows_md=""
measure() { # label rows store-args...
    local label=$1 n=$2
    shift 2
    /usr/bin/time -f "%e %M" -o "$out/time.txt" "$bin" monitor ames --project "$out/project" "$@" \
        --json "$out/pass-$label-$n.json" > /dev/null
    read -r seconds kilobytes < "$out/time.txt"
    local counted
    counted=$(python3 -c "
import json, sys
p = json.load(open(sys.argv[1]))
print(sum(w['volume'] + sum(w['errors'].values()) for w in p['windows']), len(p['windows']))" "$out/pass-$label-$n.json")
    echo "$label $n: ${seconds}s, $((kilobytes / 1024)) MB (rows counted, windows: $counted)" >&2
    rows_md+="| $label | $n | ${counted% *} | ${seconds} s | $((kilobytes / 1024)) MB |"$'\n'
}

for n in "${sizes[@]}"; do
    # SQLite: a fresh project store, trained, then the log written straight into it.
    rm -rf "$out/project/.mlcycle"
    "$bin" run "$out/project" > "$out/run-sqlite.log"
    python3 Benchmarks/monitor/generate.py sqlite "$out/project/.mlcycle/store.sqlite" "$n" "$out/ames_small.csv"
    measure sqlite "$n"
    rm -rf "$out/project/.mlcycle"

    # PostgreSQL: a fresh database on the throwaway server (fsync off, as the test server runs).
    db="mlcycle_bench_$n"
    psql -q "$MLCYCLE_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    "$bin" run "$out/project" --store "$base/$db" > "$out/run-postgres.log"
    python3 Benchmarks/monitor/generate.py copy "$n" "$out/ames_small.csv" | psql -q "$base/$db" > /dev/null
    measure postgresql "$n" --store "$base/$db"
    psql -q "$MLCYCLE_TEST_POSTGRES_URL" -c "DROP DATABASE $db"
    rm -rf "$out/project/.mlcycle"
done

cat > Benchmarks/monitor/results.md <<MD
# Monitoring pass on a large prediction log

\`bash Benchmarks/monitor/run.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d). One \`mlcycle monitor\` pass (release build)
over 30 days of one version's answers (1-day windows, four alert rules: drift, MAPE over 30 days, p99 latency, volume
against the previous 7 days), one in ten answers with its actual. The 30 windows and the rules' spans are summed up by
the database; the pass reads the rows of the last day only, for drift. Peak memory is the process's maximum RSS
(\`/usr/bin/time\`). PostgreSQL runs on the same machine with fsync off (the test server).

| store | logged rows | rows counted in windows | pass time | peak memory |
|---|---|---|---|---|
$rows_md
MD
cat Benchmarks/monitor/results.md
