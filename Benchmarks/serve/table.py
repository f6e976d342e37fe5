"""Reads wrk's outputs from Benchmarks/serve/run.sh and prints the results table (markdown) with ratios."""
import sys

from wrk import summary

results, header = sys.argv[1], sys.argv[2]

def read(label):
    r = summary(f"{results}/{label}.txt")
    return r["requests_per_s"], r["p50"], r["p99"], r["errors"]

lines = [header, "",
         "| payload | connections | server | requests/s | p50 ms | p99 ms | errors | throughput vs MLflow | p99 vs MLflow |",
         "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
for payload, conns in [("single", 4), ("single", 64), ("batch", 4)]:
    base = read(f"mlflow-{payload}-c{conns}")
    for server, label in [("mlflow /invocations", "mlflow"), ("mlcycle /v1/models/ames/predict", "mlcycle"),
                          ("mlcycle /invocations", "mlcycle-invocations")]:
        rps, p50, p99, errors = read(f"{label}-{payload}-c{conns}")
        rows = "1 row" if payload == "single" else "1000 rows"
        lines.append(f"| {rows} | {conns} | {server} | {rps:,.0f} | {p50 * 1e3:.2f} | {p99 * 1e3:.2f} | {errors} | "
                     f"{rps / base[0]:.1f}× | {p99 / base[2]:.3f}× |")
rps, p50, p99, errors = read("mlcycle-health-c64")
lines += ["", f"The HTTP floor on this machine: mlcycle's `GET /health` (no model, no body) at 64 connections answers "
              f"{rps:,.0f} requests/s with p50 {p50 * 1e3:.2f} ms and p99 {p99 * 1e3:.2f} ms ({errors} errors)."]
print("\n".join(lines))
