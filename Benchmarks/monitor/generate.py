"""Writes a large prediction log for the monitoring benchmark, as `mlcycle serve` would have logged it.

    python3 generate.py sqlite STORE.sqlite ROWS CSV      # straight into the SQLite store
    python3 generate.py copy ROWS CSV | psql URL          # COPY statements with their rows, for PostgreSQL

ROWS answers of model `ames` v1 spread evenly over the 30 days before now: inputs are rows of CSV (the features the
model reads), the answer the actual price moved by up to ±20 %, 1 % refused (`error 400`), 2 % `review`, 1 %
`unavailable`; one in ten gets its actual as feedback. Seeded, so every run logs the same rows (up to `now`).
"""
import csv
import json
import random
import sys
import time

mode = sys.argv[1]
if mode == "sqlite":
    target, rows, source = sys.argv[2], int(sys.argv[3]), sys.argv[4]
else:
    rows, source = int(sys.argv[2]), sys.argv[3]

with open(source) as f:
    reader = csv.DictReader(f)
    table = list(reader)
features = [c for c in table[0] if c != "Sale_Price"]


def value(text):
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


inputs = [json.dumps({c: value(r[c]) for c in features}, separators=(",", ":")) for r in table]
prices = [float(r["Sale_Price"]) for r in table]
now = time.time()
span = 30 * 86400
rng = random.Random(42)


def log():
    """(prediction row, feedback row or None) in time order."""
    for i in range(rows):
        k = rng.randrange(len(table))
        at = now - span + span * (i + 0.5) / rows
        roll = rng.random()
        status = "error 400" if roll < 0.01 else "review" if roll < 0.03 else "unavailable" if roll < 0.04 else "ok"
        answered = status in ("ok", "review")
        prediction = repr(prices[k] * (0.8 + 0.4 * rng.random())) if answered else None
        latency = 0.0005 + rng.expovariate(1000)
        row = (f"b{i}", "ames", "v1", at, latency, inputs[k], prediction, status, None, 0)
        feedback = (f"b{i}", repr(prices[k]), "actual", at + 3600) if answered and i % 10 == 0 else None
        yield row, feedback


if mode == "sqlite":
    import sqlite3

    db = sqlite3.connect(target)
    db.execute("PRAGMA journal_mode=WAL")
    batch, feedback = [], []
    for row, fb in log():
        batch.append(row)
        if fb:
            feedback.append(fb)
        if len(batch) == 100_000:
            db.executemany("INSERT INTO prediction (id, model, version, at, latency, inputs, prediction, status, "
                           "confidence, low_confidence) VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
            db.executemany("INSERT INTO feedback (prediction_id, actual, kind, at) VALUES (?,?,?,?)", feedback)
            db.commit()
            batch, feedback = [], []
    db.executemany("INSERT INTO prediction (id, model, version, at, latency, inputs, prediction, status, "
                   "confidence, low_confidence) VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
    db.executemany("INSERT INTO feedback (prediction_id, actual, kind, at) VALUES (?,?,?,?)", feedback)
    db.commit()
    db.execute("ANALYZE")
    db.close()
else:
    out = sys.stdout
    feedback = []

    def text(v):
        if v is None:
            return "\\N"
        return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    out.write("COPY prediction (id, model, version, at, latency, inputs, prediction, status, confidence, "
              "low_confidence) FROM STDIN;\n")
    for row, fb in log():
        r = list(row)
        r[9] = "false"
        out.write("\t".join(text(v) for v in r) + "\n")
        if fb:
            feedback.append(fb)
    out.write("\\.\nCOPY feedback (prediction_id, actual, kind, at) FROM STDIN;\n")
    for fb in feedback:
        out.write("\t".join(text(v) for v in fb) + "\n")
    out.write("\\.\nANALYZE;\n")
