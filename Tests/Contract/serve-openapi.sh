#!/usr/bin/env bash
# Contract tests of the model server: schemathesis (from PyPI) against its own OpenAPI document, then the clients
# users already have (Tests/Contract/clients.py: MLflow payloads with requests, tritonclient for the v2 protocol).
# Schemathesis:
# every generated request that the document allows must be answered as documented (and every one it forbids refused).
# Usage: bash Tests/Contract/serve-openapi.sh [path/to/mlcycle]   (default: .build/debug/mlcycle, built by `swift test`)
set -euo pipefail
cd "$(dirname "$0")/../.."
mlcycle=${1:-.build/debug/mlcycle}
venv=.venv-contract
if ! [ -x "$venv/bin/schemathesis" ]; then python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; fi
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
"$mlcycle" init "$work/prices" > /dev/null
"$mlcycle" run "$work/prices" --quiet
port=$((20000 + RANDOM % 20000))
"$mlcycle" serve --store "$work/prices/.mlcycle" --port "$port" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/ready" > /dev/null && break; sleep 0.2; done
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --checks all --max-examples 50 --seed 1
# The clients users already have: MLflow's documented payloads with requests, and tritonclient for the v2 protocol.
if ! "$venv/bin/python" -c "import tritonclient.http, requests" 2> /dev/null; then "$venv/bin/pip" install -q "tritonclient[http]" requests; fi
"$venv/bin/python" Tests/Contract/clients.py "http://127.0.0.1:$port"
