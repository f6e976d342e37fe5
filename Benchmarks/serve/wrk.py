"""Reads one wrk output (--latency): throughput, latency quantiles and failed requests, for the serve benchmarks."""
import re


def seconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def summary(path, rows=1):
    """requests/s as wrk reports it, answered rows/s (2xx requests × `rows` a request), p50 and p99 in seconds,
    and failed requests (non-2xx answers and socket errors)."""
    text = open(path).read()
    requests = int(re.search(r"(\d+) requests in ([\d.]+\w+)", text).group(1))
    duration = seconds(re.search(r"\d+ requests in ([\d.]+\w+)", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    bad = int(non2xx.group(1)) if non2xx else 0
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "rows_per_s": (requests - bad) * rows / duration,
        "p50": seconds(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1)),
        "p99": seconds(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)),
        "errors": bad + (sum(map(int, socket.groups())) if socket else 0),
    }
