#!/usr/bin/env bash
# Exports against their runtimes from PyPI: mlcycle's gradient-boosted models, exported with `mlcycle export --format
# lightgbm`, load in LightGBM and predict what `mlcycle predict` predicts (1e-9), and shap explains them with values
# that add up to LightGBM's raw scores; exported with `--format onnx`, they pass onnx's checker and ONNX Runtime
# predicts the same (1e-6). The fixture script does it in its --check mode, on three models (regression, binary,
# multiclass; categorical splits and missing values). Usage: bash Tests/Interop/exports.sh [path/to/mlcycle]
set -euo pipefail
cd "$(dirname "$0")/../.."
mlcycle=${1:-.build/debug/mlcycle}
venv=.venv-interop
if ! [ -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q --disable-pip-version-check numpy pandas lightgbm shap onnx onnxruntime
"$venv/bin/python" Tests/Fixtures/explain/make_shap_fixtures.py "$mlcycle" --check
