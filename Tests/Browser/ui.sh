#!/usr/bin/env bash
# The web UI in a real browser: Debian's chromium and chromium-driver, driven by Selenium from PyPI, on a store made
# by running the bundled examples (house prices and churn). The script opens, filters and compares runs, opens a
# model, is refused a promotion without the admin token, logs in, promotes a version with a reason (the alias moves
# and the audit trail shows it) and opens monitoring, failing on any browser console error; it writes the README's
# screenshots into docs/images/. Usage: bash Tests/Browser/ui.sh [path/to/mlcycle]
set -euo pipefail
cd "$(dirname "$0")/../.."
mlcycle=$(cd "$(dirname "${1:-.build/debug/mlcycle}")" && pwd)/$(basename "${1:-.build/debug/mlcycle}")

if ! command -v chromium > /dev/null || ! command -v chromedriver > /dev/null; then
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver > /dev/null
fi
venv=.venv-browser
if ! [ -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q --disable-pip-version-check selenium

work=$(mktemp -d /tmp/mlcycle-browser.XXXXXX)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2> /dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The examples on one store: each run registers a version (house prices' gates fail on purpose: exit 3).
store="$work/store"
for example in house-prices churn; do
    cp -r "examples/$example" "$work/$example"
    rm -rf "$work/$example/.mlcycle"
    status=0
    (cd "$work/$example" && "$mlcycle" run . --store "$store" --quiet) || status=$?
    if [ "$status" != 0 ] && [ "$status" != 3 ]; then
        echo "ui.sh: mlcycle run $example failed ($status)" >&2
        exit 1
    fi
done

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export MLCYCLE_ADMIN_TOKEN="browser-test-token-$RANDOM$RANDOM"
"$mlcycle" ui --store "$store" --project "$work/house-prices" --port "$port" > "$work/ui.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    if grep -q "is on http" "$work/ui.log" 2> /dev/null && curl -sf "http://127.0.0.1:$port/health" > /dev/null; then
        break
    fi
    sleep 0.1
done
"$venv/bin/python" Tests/Browser/ui.py "http://127.0.0.1:$port" "$MLCYCLE_ADMIN_TOKEN" docs/images
