#!/usr/bin/env bash
# Times `mlcycle profile` against pandas (read_csv + describe(include="all") + Pearson and Spearman corr(); and with
# Pearson only, the earlier comparison) on the same files,
# whole process, median of 3 runs, with peak memory. Usage: bash Benchmarks/profile/run.sh [ames] [300000] [3000000] [wide]
# `wide` is 5,000 columns × 50 rows: its correlation matrices are bounded (--correlations top:100, the default), while
# pandas' corr() covers every pair.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -eq 0 ]; then sizes=(ames 300000 3000000 wide); else sizes=("$@"); fi
runs=3

if ! [ -x /usr/bin/time ]; then apt-get update -qq && apt-get install -y -qq time; fi
if ! [ -x Benchmarks/.venv/bin/python ]; then python3 -m venv Benchmarks/.venv; fi
Benchmarks/.venv/bin/pip install -q pandas numpy
pandas_version=$(Benchmarks/.venv/bin/python -c "import pandas; print(pandas.__version__)")
if [ "${SKIP_MLCYCLE:-0}" != 1 ]; then swift build -c release --product mlcycle; fi

mkdir -p Benchmarks/data
files=()
for size in "${sizes[@]}"; do
    if [ "$size" = wide ]; then
        f=Benchmarks/data/profile_wide_5000x50.csv
        [ -f "$f" ] || Benchmarks/.venv/bin/python Benchmarks/profile/generate_data.py 50 "$f" --columns 5000
        files+=("$f")
    elif [ "$size" = ames ]; then
        if [ -f ../shared/data/ames.csv ]; then files+=(../shared/data/ames.csv); else echo "skipping ames: ../shared/data/ames.csv is absent"; fi
    else
        f="Benchmarks/data/profile_${size}.csv"
        [ -f "$f" ] || Benchmarks/.venv/bin/python Benchmarks/profile/generate_data.py "$size" "$f"
        files+=("$f")
    fi
done

stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
# median of the wall times and of the peak RSS (KiB) of $runs runs of a command
measure() {
    local times=() mems=() out
    for _ in $(seq $runs); do
        /usr/bin/time -o "$stats" -f "%e %M" "$@" >/dev/null 2>&1
        out=$(tail -1 "$stats")
        times+=("${out% *}"); mems+=("${out#* }")
    done
    local t m
    t=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
    m=$(printf '%s\n' "${mems[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
    echo "$t $m"
}

# The memory a profile takes beyond the process itself: the peak of profiling a one-row file is subtracted.
tiny=Benchmarks/data/profile_tiny.csv
printf 'a,b\n1,x\n' > "$tiny"
if [ "${SKIP_MLCYCLE:-0}" != 1 ]; then read -r _ base < <(measure .build/release/mlcycle profile "$tiny" --json /dev/null); fi

mib() { if [ "$1" = 0 ]; then echo –; else echo $(($1 / 1024)); fi; }
table="| file | rows × columns | file MiB | mlcycle s | pandas s | time ratio | pandas s, Pearson only | time ratio | mlcycle MiB | pandas MiB | memory ratio | pandas MiB, Pearson only | memory ratio | mlcycle beyond a one-row profile ÷ file |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for f in "${files[@]}"; do
    rows=$(( $(wc -l < "$f") - 1 ))
    columns=$(head -1 "$f" | python3 -c "import csv, sys; print(len(next(csv.reader(sys.stdin))))")
    size=$(stat -c %s "$f")
    fmib=$(python3 -c "print(f'{$size / 1048576:.1f}')")
    # pandas' Spearman over the wide file's 4,000 numeric columns takes minutes a run (319 s on 2026-12-07): that file
    # is compared with Pearson only, as its correlation matrices are bounded anyway.
    if [[ "$f" == *wide* ]]; then pt=–; pm=0; else
        read -r pt pm < <(measure Benchmarks/.venv/bin/python Benchmarks/profile/pandas_profile.py "$f")
    fi
    read -r qt qm < <(measure Benchmarks/.venv/bin/python Benchmarks/profile/pandas_profile.py "$f" --pearson-only)
    if [ "${SKIP_MLCYCLE:-0}" = 1 ]; then
        table+=$'\n'"| $(basename "$f") | $rows × $columns | $fmib | – | $pt | – | $qt | – | – | $(mib "$pm") | – | $((qm / 1024)) | – | – |"
        continue
    fi
    read -r mt mm < <(measure .build/release/mlcycle profile "$f" --json /dev/null)
    ratio() { if [ "$2" = – ] || [ "$2" = 0 ]; then echo –; else python3 -c "print(f'{$1 / $2:.2f}×')"; fi; }
    fr=$(python3 -c "print(f'{max($mm - $base, 0) * 1024 / $size:.1f}×')")
    table+=$'\n'"| $(basename "$f") | $rows × $columns | $fmib | $mt | $pt | $(ratio "$mt" "$pt") | $qt | $(ratio "$mt" "$qt") | $((mm / 1024)) | $(mib "$pm") | $(ratio "$mm" "$pm") | $((qm / 1024)) | $(ratio "$mm" "$qm") | $fr |"
done

header="Profile benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, pandas $pandas_version, median of $runs runs (ratio < 1: mlcycle is faster / smaller); a one-row profile peaks at $((${base:-0} / 1024)) MiB."
printf '%s\n\n%s\n' "$header" "$table" | tee Benchmarks/profile/results.md
