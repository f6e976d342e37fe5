#!/usr/bin/env bash
# Learner benchmark: mlcycle against LightGBM, XGBoost and scikit-learn on the same train/test files.
# Usage: bash Benchmarks/learn/run.sh [--synthetic-rows N]   (default 1,000,000)
# Any other row count is a separate run on the synthetic table only, against LightGBM only, written to
# results-N.md (the 10M-row figures: bash Benchmarks/learn/run.sh --synthetic-rows 10000000). REPEATS=N sets how
# many LightGBM / mlcycle pairs of boosting runs give the medians (3 by default, 1 for other row counts).
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=1000000
if [ "${1:-}" = "--synthetic-rows" ]; then rows=$2; fi
data=Benchmarks/data/learn
results=Benchmarks/learn/results.md
repeats=${REPEATS:-3}
specs=("ames Sale_Price regression rmse" "churn churn binary logloss" "synthetic y regression rmse")
if [ "$rows" != 1000000 ]; then
    data=Benchmarks/data/learn-$rows
    results=Benchmarks/learn/results-$rows.md
    specs=("synthetic y regression rmse")
    repeats=${REPEATS:-1}
fi
mkdir -p "$data"
if ! [ -x Benchmarks/.venv/bin/python ]; then python3 -m venv Benchmarks/.venv; fi
Benchmarks/.venv/bin/pip install -q pandas numpy lightgbm xgboost scikit-learn
versions=$(Benchmarks/.venv/bin/python -c "import lightgbm, xgboost, sklearn; print(f'lightgbm {lightgbm.__version__}, xgboost {xgboost.__version__}, scikit-learn {sklearn.__version__}')")
swift build -c release --product mlcycle
if ! [ -f "$data/synthetic_train.csv" ] || [ "$(( $(wc -l < "$data/synthetic_train.csv") ))" -ne $(( rows * 8 / 10 + 1 )) ]; then
    Benchmarks/.venv/bin/python Benchmarks/learn/prepare.py ../shared/data "$data" --synthetic-rows "$rows"
fi

# train DATA-NAME TARGET TASK LEARNER JSON [PARAMETERS...]: mlcycle on the benchmark's train/test files.
train() {
    local name=$1 target=$2 task=$3 learner=$4 json=$5
    shift 5
    .build/release/mlcycle train --data "$data/${name}_train.csv" --test "$data/${name}_test.csv" --target "$target" \
        --task "$task" --learner "$learner" "$@" --json "$json" > /dev/null
}
gbdt=(--param n_estimators=500 --param learning_rate=0.05 --param num_leaves=31 --param max_bin=255 --param min_data_in_leaf=20)
table="| data | learner | fit s | predict s | metric | value | vs | fit ratio | predict ratio | metric ratio |
|---|---|---:|---:|---|---:|---|---:|---:|---:|"
# The whole `mlcycle train` process (reading the CSV files, binning, fitting, measuring the test part, writing the
# model) against LightGBM's fit call alone.
whole="| data | mlcycle train, whole process s | lightgbm fit s | ratio |
|---|---:|---:|---:|"
for spec in "${specs[@]}"; do
    read -r name target task metric <<< "$spec"
    [ -f "$data/${name}_train.csv" ] || { echo "skipping $name (no data)"; continue; }
    echo "== $name" >&2
    baseline=linear; [ "$task" = binary ] && baseline=logistic
    others=(forest "$baseline")
    # Forests on the million-row synthetic are skipped on both sides (scikit-learn's takes too long for a routine run).
    [ "$name" = synthetic ] && others=("$baseline")
    [ "$rows" != 1000000 ] && others=()
    # Boosting against LightGBM: $repeats interleaved pairs of runs (a LightGBM fit, then an mlcycle train), each side's
    # median reported, so a slow minute on this shared machine falls on both sides.
    for rep in $(seq "$repeats"); do
        INCUMBENTS=lightgbm Benchmarks/.venv/bin/python Benchmarks/learn/incumbents.py "$data" "$name" "$target" "$task" \
            > "$data/${name}_lightgbm_$rep.json"
        started=$(date +%s.%N)
        train "$name" "$target" "$task" gbdt "$data/${name}_gbdt_$rep.json" "${gbdt[@]}"
        python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$started" "$(date +%s.%N)" > "$data/${name}_gbdt_whole_$rep.txt"
    done
    # The other incumbents once.
    if [ "${#others[@]}" -gt 0 ]; then
        incumbents=xgboost,sklearn_forest,sklearn_$baseline
        [ "$name" = synthetic ] && incumbents=xgboost,sklearn_$baseline
        INCUMBENTS=$incumbents Benchmarks/.venv/bin/python Benchmarks/learn/incumbents.py "$data" "$name" "$target" "$task" \
            > "$data/${name}_others.json"
    else
        echo '{}' > "$data/${name}_others.json"
    fi
    for learner in "${others[@]}"; do
        train "$name" "$target" "$task" "$learner" "$data/${name}_${learner}.json"
    done
    # The medians, in the files the table reads.
    python3 - "$data" "$name" "$repeats" <<'PY'
import json, statistics, sys
data, name, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
lightgbm = [json.load(open(f"{data}/{name}_lightgbm_{k}.json"))["lightgbm"] for k in range(1, repeats + 1)]
ours = [json.load(open(f"{data}/{name}_gbdt_{k}.json")) for k in range(1, repeats + 1)]
whole = [float(open(f"{data}/{name}_gbdt_whole_{k}.txt").read()) for k in range(1, repeats + 1)]
inc = json.load(open(f"{data}/{name}_others.json"))
inc["lightgbm"] = {**lightgbm[0], "fit_seconds": statistics.median(x["fit_seconds"] for x in lightgbm),
                   "predict_seconds": statistics.median(x["predict_seconds"] for x in lightgbm)}
json.dump(inc, open(f"{data}/{name}_incumbents.json", "w"))
gbdt = {**ours[0], "fit_seconds": statistics.median(x["fit_seconds"] for x in ours),
        "predict_seconds": statistics.median(x["predict_seconds"] for x in ours)}
json.dump(gbdt, open(f"{data}/{name}_gbdt.json", "w"))
l = inc["lightgbm"]["fit_seconds"]
w = statistics.median(whole)
print(f"| {name} | {w:.3f} | {l:.3f} | {w / l:.2f}× |", file=open(f"{data}/{name}_whole.md", "w"))
PY
    whole+=$'\n'$(cat "$data/${name}_whole.md")
    table+=$'\n'$(python3 - "$data" "$name" "$metric" "$baseline" <<'PY'
import json, sys
data, name, metric, baseline = sys.argv[1:]
inc = json.load(open(f"{data}/{name}_incumbents.json"))
rows = []
for learner, against in [("gbdt", "lightgbm"), ("gbdt", "xgboost"), ("forest", "sklearn_forest"), (baseline, f"sklearn_{baseline}")]:
    if against not in inc:
        continue
    ours = json.load(open(f"{data}/{name}_{learner}.json"))
    ref = inc[against]
    m = ours["metrics"][metric]
    rows.append(f"| {name} | {learner} | {ours['fit_seconds']:.3f} | {ours['predict_seconds']:.3f} | {metric} | {m:.6g} | {against} {ref['fit_seconds']:.3f} s / {ref['predict_seconds']:.3f} s / {ref[metric]:.6g} | "
                f"{ours['fit_seconds'] / ref['fit_seconds']:.2f}× | {ours['predict_seconds'] / max(ref['predict_seconds'], 1e-9):.2f}× | {m / ref[metric]:.3f} |")
print("\n".join(rows))
PY
)
done
timing="Boosting times are medians of $repeats interleaved runs per side, the others one run."
[ "$repeats" = 1 ] && timing="One run per side."
header="Learner benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $versions; synthetic: $rows rows. $timing Ratios are mlcycle / incumbent (< 1: faster, lower error)."
printf '%s\n\n%s\n\n%s\n' "$header" "$table" "$whole" | tee "$results"
