#!/usr/bin/env bash
# Builds mlcycle's libFuzzer targets with AddressSanitizer and runs each for a bounded time (Tests/Fuzz/README.md).
# Usage: bash Tests/Fuzz/run.sh [SECONDS per target, default 30] [TARGET ...]   (default: every target)
# A crash, a sanitizer report, a timeout or an out-of-memory input fails the run; its reproducer is saved in
# Tests/Fuzz/findings/ (or $MLCYCLE_FUZZ_FINDINGS), which git ignores.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: bash Tests/Fuzz/run.sh [SECONDS] [TARGET ...]" >&2; exit 2; }
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(FuzzCSV FuzzJSON FuzzJSONLines FuzzExpression FuzzRules FuzzSpec FuzzPredictRequest)
fi
scratch=.build-fuzz
work=$scratch/work
findings=${MLCYCLE_FUZZ_FINDINGS:-Tests/Fuzz/findings}
mkdir -p "$findings" "$work"

for target in "${targets[@]}"; do
    echo "== building $target"
    if ! MLCYCLE_FUZZ=1 swift build --scratch-path "$scratch" --product "$target" > "$work/build-$target.log" 2>&1; then
        grep -Ev '^\[[0-9]+/[0-9]+\]' "$work/build-$target.log" | tail -n 40 >&2 || true
        echo "could not build $target" >&2
        exit 1
    fi
done
python3 Tests/Fuzz/seeds.py "$work/seeds"

failed=()
for target in "${targets[@]}"; do
    corpus=$work/corpus/$target
    mkdir -p "$corpus" "$work/seeds/$target"  # a target with no seeds starts from nothing
    rm -f "$findings/$target-"*  # this run's findings only
    echo "== fuzzing $target for ${seconds}s"
    # New inputs go to the corpus (kept between runs); the seeds are only read. -timeout: one input may take 10 s.
    # No leak detection: the Swift runtime's and Foundation's once-only allocations (metadata, caches) read as leaks.
    # No Swift backtracer: AddressSanitizer reports its stack reads as underflows and hides the finding.
    if ! SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$scratch/debug/$target" "$corpus" "$work/seeds/$target" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=4096 -detect_leaks=0 -artifact_prefix="$findings/$target-" -print_final_stats=1 > "$work/$target.log" 2>&1; then
        failed+=("$target")
        tail -n 60 "$work/$target.log"
    fi
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)' "$work/$target.log" |
        sed "s/^/  $target /" || true
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found a problem in: ${failed[*]}; reproducers in $findings/ (run: $scratch/debug/TARGET FILE)" >&2
    # The reproducers also go to the log, so a CI run that keeps no files still shows them.
    shopt -s nullglob
    for target in "${failed[@]}"; do
        for file in "$findings/$target-"crash-* "$findings/$target-"timeout-* "$findings/$target-"oom-* \
            "$findings/$target-"leak-*; do
            echo "$file (base64): $(head -c 65536 "$file" | base64 -w0)" >&2
        done
    done
    exit 1
fi
echo "fuzzing: ${#targets[@]} targets ran ${seconds}s each with no finding"
