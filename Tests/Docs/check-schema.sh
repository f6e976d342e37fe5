#!/usr/bin/env bash
# Checks docs/mlcycle.schema.json: a valid JSON Schema (draft 2020-12) that every examples/*/mlcycle.yaml and every
# `mlcycle init` template conforms to, and that rejects documents the parser rejects (Tests/Docs/check_schema.py).
# Usage: bash Tests/Docs/check-schema.sh   (makes .venv-docs with jsonschema and pyyaml on first use; compiles nothing)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-docs
if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import jsonschema, yaml" 2> /dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q jsonschema pyyaml
fi
"$venv/bin/python" Tests/Docs/check_schema.py "$@"
