#!/usr/bin/env bash
# Serving benchmark: `mlcycle serve` against `mlflow models serve --env-manager local` (lightgbm flavour), the same
# gbdt (500 trees, 31 leaves) on the same ames columns, driven by wrk with the same rows.
# Usage: bash Benchmarks/serve/run.sh [--duration 20s]     Writes Benchmarks/serve/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=20s
if [ "${1:-}" = "--duration" ]; then duration=$2; fi
out=Benchmarks/data/serve
command -v wrk > /dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if ! [ -x Benchmarks/.venv/bin/python ]; then python3 -m venv Benchmarks/.venv; fi
Benchmarks/.venv/bin/pip install -q pandas numpy lightgbm mlflow
versions=$(Benchmarks/.venv/bin/python -c "import mlflow, lightgbm; print(f'mlflow {mlflow.__version__}, lightgbm {lightgbm.__version__}')")
swift build -c release --product mlcycle
Benchmarks/.venv/bin/python Benchmarks/serve/prepare.py examples/house-prices/ames.csv "$out"
rm -rf "$out/project/.mlcycle"
.build/release/mlcycle run "$out/project" > "$out/run.log"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; }
trap cleanup EXIT
.build/release/mlcycle serve --store "$out/project/.mlcycle" --port 18080 > "$out/mlcycle-serve.log" 2>&1 & pids+=($!)
# MLflow's own default server (one worker), as `mlflow models serve` starts it.
PATH="$PWD/Benchmarks/.venv/bin:$PATH" mlflow models serve -m "$out/mlflow_model" --env-manager local \
    -h 127.0.0.1 -p 18081 > "$out/mlflow-serve.log" 2>&1 & pids+=($!)
for url in http://127.0.0.1:18080/ready http://127.0.0.1:18081/ping; do
    for _ in $(seq 1 120); do curl -sf "$url" > /dev/null && break; sleep 1; done
    curl -sf "$url" > /dev/null || { echo "server at $url did not start; see $out/*-serve.log" >&2; exit 1; }
done
# Both must answer the same rows with (nearly) the same numbers before they are timed.
Benchmarks/.venv/bin/python - "$out" <<'PY'
import json, sys, requests
out = sys.argv[1]
a = requests.post("http://127.0.0.1:18080/v1/models/ames/predict", data=open(f"{out}/batch_native.json", "rb"),
                  headers={"Content-Type": "application/json"}).json()["predictions"]
b = requests.post("http://127.0.0.1:18081/invocations", data=open(f"{out}/batch_mlflow.json", "rb"),
                  headers={"Content-Type": "application/json"}).json()["predictions"]
assert len(a) == len(b) == 1000, (len(a), len(b))
gap = sum(abs(x["prediction"] - y) / y for x, y in zip(a, b)) / len(a)
print(f"same 1000 rows: mean relative gap between the two models' predictions {gap:.4f}")
assert gap < 0.05, gap
PY

results="$out/wrk"
mkdir -p "$results"
bench() { # label url body connections
    BODY="$3" wrk -t1 -c"$4" -d"$duration" --latency -s Benchmarks/serve/post.lua "$2" > "$results/$1.txt"
    echo "$1 done" >&2
}
native=http://127.0.0.1:18080/v1/models/ames/predict
for c in 4 64; do
    bench "mlflow-single-c$c" http://127.0.0.1:18081/invocations "$out/single_mlflow.json" "$c"
    bench "mlcycle-single-c$c" "$native" "$out/single_native.json" "$c"
    bench "mlcycle-invocations-single-c$c" http://127.0.0.1:18080/invocations "$out/single_mlflow.json" "$c"
done
bench mlflow-batch-c4 http://127.0.0.1:18081/invocations "$out/batch_mlflow.json" 4
bench mlcycle-batch-c4 "$native" "$out/batch_native.json" 4
bench mlcycle-invocations-batch-c4 http://127.0.0.1:18080/invocations "$out/batch_mlflow.json" 4
# The HTTP floor: mlcycle's GET /health (no model, no body) at 64 connections, same machine, same wrk.
wrk -t1 -c64 -d"$duration" --latency http://127.0.0.1:18080/health > "$results/mlcycle-health-c64.txt"
log_writes=$(curl -s http://127.0.0.1:18080/metrics | awk '/^mlcycle_prediction_log_/ {sub("mlcycle_prediction_log_", "", $1); printf "%s %s; ", $1, $2}')
# Stop mlcycle cleanly (SIGTERM: the log writes and drains everything), then count what the store holds against
# what wrk was answered (requests × rows, 2xx only).
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2> /dev/null || true
log_check=$(Benchmarks/.venv/bin/python - "$results" "$out/project/.mlcycle" <<'PY'
import glob, re, sqlite3, sys
results, store = sys.argv[1:]
answered = 0
for path in glob.glob(f"{results}/mlcycle-*.txt"):
    if "health" in path:
        continue
    text = open(path).read()
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    answered += (requests - (int(bad.group(1)) if bad else 0)) * (1000 if "batch" in path else 1)
stored = sqlite3.connect(f"{store}/store.sqlite").execute("SELECT count(*) FROM prediction WHERE status NOT LIKE 'error%'").fetchone()[0]
print(f"after SIGTERM: {answered} rows answered (wrk, 2xx), {stored} in the store")
PY
)

header="Serving benchmark, $(date -u +%Y-%m-%d), $(nproc) cores (servers and wrk share them), $versions; wrk -t1, $duration per line. Prediction log at the end of the load: $log_writes $log_check"
Benchmarks/.venv/bin/python Benchmarks/serve/table.py "$results" "$header" | tee Benchmarks/serve/results.md
