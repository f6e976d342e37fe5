#!/usr/bin/env bash
# Regenerates the reference files that come from the code (tests check that the committed ones agree):
#   docs/cli/*.md      from each command's own --help (mlcycle reference)
#   docs/openapi.json  the server's /openapi.json with no model registered (edit Sources/MLCycleServe/openapi.json)
# Usage: bash docs/generate.sh [path/to/mlcycle]   (default: .build/debug/mlcycle)
set -euo pipefail
cd "$(dirname "$0")/.."
mlcycle=${1:-.build/debug/mlcycle}
"$mlcycle" reference --out docs/cli
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$mlcycle" serve --store "$work/store" --port "$port" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/openapi.json" | python3 -m json.tool --indent 2 > docs/openapi.json
echo "wrote docs/openapi.json"
