#!/usr/bin/env bash
# The web UI's page times on a store with 10,000 runs and a model with 1,000 versions, against the MLflow tracking
# server's answers for the same views on the same history (SQLite on both sides). Writes Benchmarks/ui/results.md.
# Usage: bash Benchmarks/ui/run.sh [RUNS] [VERSIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10000}
versions=${2:-1000}
# The container image's build (the one .ci/run makes), so a CI checkout has it already.
swift build -c release --static-swift-stdlib --product mlcycle > "${TMPDIR:-/tmp}/ui-bench-build.log" 2>&1 \
    || { tail -20 "${TMPDIR:-/tmp}/ui-bench-build.log"; exit 1; }
mlcycle=$PWD/.build/release/mlcycle
venv=Benchmarks/.venv
if ! [ -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q --disable-pip-version-check mlflow

data=Benchmarks/data/ui
# The two stores take minutes to fill (MLflow's most of them); REUSE=1 measures again on the last ones.
if [ "${REUSE:-0}" != 1 ] || ! [ -f "$data/mlflow.db" ]; then
    rm -rf "$data"
    mkdir -p "$data"
    "$mlcycle" init "$data/prices" > /dev/null
    "$mlcycle" run "$data/prices" --store "$data/store" --quiet
    "$venv/bin/python" Benchmarks/ui/generate.py "$data/store" "$PWD/$data/mlflow.db" "$runs" "$versions"
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ours=$(free_port)
theirs=$(free_port)
"$mlcycle" ui --store "$data/store" --port "$ours" > "$data/ui.log" 2>&1 &
ui=$!
"$venv/bin/mlflow" server --backend-store-uri "sqlite:///$PWD/$data/mlflow.db" --port "$theirs" --workers 1 \
    > "$data/mlflow.log" 2>&1 &
mlflow=$!
trap 'kill $ui $mlflow 2> /dev/null || true; pkill -P $mlflow 2> /dev/null || true' EXIT
for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$ours/health" > /dev/null && curl -sf "http://127.0.0.1:$theirs/health" > /dev/null; then
        break
    fi
    sleep 0.2
done
table=$("$venv/bin/python" Benchmarks/ui/measure.py "$ours" "$theirs")
mlflow_version=$("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')
{
    echo "# The web UI's page times"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, release build; $runs runs and $versions versions of one model on SQLite on both"
    echo "sides; MLflow $mlflow_version (\`mlflow server\`, one worker). Median and 95th percentile of 30 requests one at a time,"
    echo "each on a new loopback connection, after 3 to warm up. mlcycle's time is the whole HTML page; MLflow's is the JSON"
    echo "its UI fetches for the view, before the browser renders it (a lower bound of its page's time). Ratio < 1:"
    echo "mlcycle is faster."
    echo
    echo "$table"
} > Benchmarks/ui/results.md
cat Benchmarks/ui/results.md
