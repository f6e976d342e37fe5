#!/usr/bin/env bash
# LightGBM compatibility: mlcycle's gradient-boosted models, exported with `mlcycle export --format lightgbm`, load
# in LightGBM from PyPI and predict what `mlcycle predict` predicts (1e-9), and shap from PyPI explains them with
# values that add up to LightGBM's raw scores. The fixture script does it in its --check mode, on three models
# (regression, binary, multiclass; categorical splits and missing values). Usage: bash Tests/Interop/lightgbm.sh [path/to/mlcycle]
set -euo pipefail
cd "$(dirname "$0")/../.."
mlcycle=${1:-.build/debug/mlcycle}
venv=.venv-interop
if ! [ -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q --disable-pip-version-check numpy pandas lightgbm shap
"$venv/bin/python" Tests/Fixtures/explain/make_shap_fixtures.py "$mlcycle" --check
