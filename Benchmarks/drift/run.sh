#!/usr/bin/env bash
# Drift benchmark: `mlcycle drift` against Evidently's data-drift report and a plain SciPy loop on the same two CSV
# tables (300k and 3M rows; 6 numeric and 3 categorical columns), each as a whole process: time and peak memory.
# Usage: bash Benchmarks/drift/run.sh [ROWS ...]      (default 300000 3000000). Writes Benchmarks/drift/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@"); [ ${#sizes[@]} -eq 0 ] && sizes=(300000 3000000)
command -v /usr/bin/time > /dev/null || { apt-get update -qq && apt-get install -y -qq time; }
if ! [ -x Benchmarks/.venv/bin/python ]; then python3 -m venv Benchmarks/.venv; fi
Benchmarks/.venv/bin/pip install -q pandas numpy scipy
# Evidently 0.7 does not run on pandas 3: it gets a venv of its own with the pandas it supports.
if ! [ -x Benchmarks/.venv-evidently/bin/python ]; then python3 -m venv Benchmarks/.venv-evidently; fi
Benchmarks/.venv-evidently/bin/pip install -q "pandas<3" numpy scipy evidently
versions=$(Benchmarks/.venv/bin/python -c "import scipy, pandas; print(f'scipy {scipy.__version__}, pandas {pandas.__version__}')")
versions+=", $(Benchmarks/.venv-evidently/bin/python -c "import evidently, pandas; print(f'evidently {evidently.__version__} (pandas {pandas.__version__})')")"
swift build -c release --product mlcycle
measure() { # label command...: prints "seconds peak_mb"
    /usr/bin/time -f "%e %M" -o /tmp/drift-time.txt "$@" > /dev/null 2>&1 || [ $? -eq 1 ] # exit 1 = drift found
    tail -1 /tmp/drift-time.txt | awk '{printf "%s %.0f", $1, $2 / 1024}'
}
table="| rows per table | tool | seconds | peak MB | time vs mlcycle | memory vs mlcycle |
|---:|---|---:|---:|---:|---:|"
for rows in "${sizes[@]}"; do
    dir=Benchmarks/data/drift/$rows
    mkdir -p "$dir"
    [ -f "$dir/current.csv" ] || Benchmarks/.venv/bin/python Benchmarks/drift/generate.py "$dir" "$rows"
    read -r ms mm <<< "$(measure .build/release/mlcycle drift --reference "$dir/reference.csv" --current "$dir/current.csv" --json "$dir/mlcycle.json")"
    read -r ss sm <<< "$(measure Benchmarks/.venv/bin/python Benchmarks/drift/incumbents.py scipy "$dir/reference.csv" "$dir/current.csv")"
    read -r es em <<< "$(measure Benchmarks/.venv-evidently/bin/python Benchmarks/drift/incumbents.py evidently "$dir/reference.csv" "$dir/current.csv")"
    table+=$'\n'"| $rows | mlcycle drift | $ms | $mm | 1.0× | 1.0× |"
    table+=$'\n'"| $rows | scipy loop (pandas read + ks, wasserstein, chi2, JS, PSI) | $ss | $sm | $(awk "BEGIN{printf \"%.1f\", $ss/$ms}")× | $(awk "BEGIN{printf \"%.1f\", $sm/$mm}")× |"
    table+=$'\n'"| $rows | Evidently DataDriftPreset | $es | $em | $(awk "BEGIN{printf \"%.1f\", $es/$ms}")× | $(awk "BEGIN{printf \"%.1f\", $em/$mm}")× |"
    echo "== $rows rows done" >&2
done
header="Drift benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $versions. Whole processes (reading both CSV files included); ratios are incumbent / mlcycle (> 1: mlcycle faster or smaller)."
printf '%s\n\n%s\n' "$header" "$table" | tee Benchmarks/drift/results.md
