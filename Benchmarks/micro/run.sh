#!/usr/bin/env bash
# Micro benchmarks (ordo-one/benchmark): MLCycleData's hand-written CSV reader, radix sort and JSON reader/writer
# against SwiftCSV, CSV.swift, the standard library's sort and Foundation's JSON, in one process on the same input.
# Usage: bash Benchmarks/micro/run.sh     (writes Benchmarks/micro/results.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
swift package --package-path Benchmarks/micro --allow-writing-to-package-directory \
    benchmark --format jmh --path "$out" --no-progress
python3 - "$out" <<'PY' | tee Benchmarks/micro/results.md
import glob, json, re, subprocess, sys
from datetime import datetime, timezone
rows = {}
for f in glob.glob(f"{sys.argv[1]}/*.json"):
    for e in json.load(open(f)):
        # package.benchmark.Parsers.NAME, with the name's spaces written as underscores.
        name = e["benchmark"].split(".Parsers.", 1)[-1].replace("_", " ")
        m = e["secondaryMetrics"]["Time (wall clock)"]
        scale = {"ns": 1e-6, "us": 1e-3, "μs": 1e-3, "ms": 1, "s": 1e3}[m["scoreUnit"]]
        rows[name] = m["scorePercentiles"]["50.0"] * scale
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print(f"Micro benchmarks, {datetime.now(timezone.utc):%Y-%m-%d}, {cores} cores, ordo-one/benchmark, median wall "
      "clock of up to 40 runs (4 s at most per benchmark); CSV: examples/house-prices/ames.csv (2,930 rows, 82 "
      "columns), which mlcycle reads into typed columns while the others return text fields. Ratio: mlcycle's time / the other's (< 1: mlcycle is faster).\n")
print("| area | input | mlcycle | ms | against | ms | ratio |")
print("|---|---|---|---:|---|---:|---:|")
parsed = {}
for name, ms in rows.items():
    area, rest = name.split(": ", 1)
    side, inp = re.match(r"(.*) \((.*)\)$", rest).groups()
    parsed.setdefault((area, inp), []).append((side, ms))
for (area, inp), sides in sorted(parsed.items()):
    ours = [s for s in sides if s[0].startswith("mlcycle")]
    others = [s for s in sides if not s[0].startswith("mlcycle")]
    for o_side, o_ms in others:
        for m_side, m_ms in ours:
            print(f"| {area} | {inp} | {m_side.removeprefix('mlcycle').strip(', ') or 'mlcycle'} | {m_ms:.2f} | {o_side} | {o_ms:.2f} | {m_ms / o_ms:.2f}× |")
PY
