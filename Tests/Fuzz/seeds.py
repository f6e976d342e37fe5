#!/usr/bin/env python3
"""Writes a seed corpus per fuzz target from the repository's own fixtures and examples.

Usage: python3 Tests/Fuzz/seeds.py OUT   (OUT/FuzzCSV, OUT/FuzzJSON, ... are replaced)

Seeds are small (at most 4 KB; rules and project files 16 KB) so the fuzzer mutates them quickly; the CSV and predict targets take a first byte
that chooses the reader's options (see their FuzzX.swift), 0 meaning the defaults.
"""
import csv
import glob
import io
import json
import os
import re
import shutil
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LIMIT = 4096


def files(*patterns):
    found = set()
    for pattern in patterns:
        found.update(glob.glob(os.path.join(ROOT, pattern), recursive=True))
    return sorted(p for p in found if os.path.isfile(p) and "/.build" not in p and "/Fuzz/" not in p)


def head(data, limit=LIMIT):
    """The first lines of `data` that fit in `limit` bytes."""
    if len(data) <= limit:
        return data
    cut = data.rfind(b"\n", 0, limit)
    return data[: cut + 1] if cut > 0 else data[:limit]


def number(text):
    if text is None:  # a short row's missing fields
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None if text == "" else text


def rows(path, count=20):
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        out = []
        for row in reader:
            out.append({k: number(v) for k, v in row.items() if k is not None})
            if len(out) == count:
                break
        return out


def main(out):
    corpora = {}

    def add(target, name, data):
        corpora.setdefault(target, {})[name] = data

    csvs = files("Tests/**/*.csv", "examples/**/*.csv")
    for path in csvs:
        name = os.path.relpath(path, ROOT).replace("/", "_")
        data = head(open(path, "rb").read())
        add("FuzzCSV", name, b"\x00" + data)
        sample = rows(path)
        if sample:
            add("FuzzJSONLines", name + ".jsonl", head("".join(json.dumps(r) + "\n" for r in sample).encode()))
            add("FuzzJSON", name + ".json", head(json.dumps({"records": sample[:5]}).encode()))
    if csvs:
        first = head(open(csvs[0], "rb").read())
        add("FuzzCSV", "threads", b"\x08" + first)  # two reader threads
        add("FuzzCSV", "latin1", b"\x20" + first.replace(b"a", b"\xe9"))
        add("FuzzCSV", "semicolons", b"\x01" + first.replace(b",", b";"))
    for path in files("Tests/Fixtures/**/*.json", "examples/**/*.json"):
        data = open(path, "rb").read()
        if len(data) <= LIMIT:
            add("FuzzJSON", os.path.relpath(path, ROOT).replace("/", "_"), data)

    # Expressions: the ones the tests parse and the ones the examples declare.
    expressions = set()
    for path in files("Tests/**/*.swift"):
        for literal in re.findall(r'Expression\.parse\("((?:[^"\\]|\\.)*)"\)', open(path).read()):
            expressions.add(literal.replace('\\"', '"'))
    for path in files("examples/**/*.yaml", "Tests/**/*.yaml"):
        for value in re.findall(r'(?:expression|filter|when):\s*"([^"]*)"', open(path).read()):
            expressions.add(value)
    # On the fuzz target's own table (size, rooms, kind, built, sold, ok), so evaluation runs too.
    expressions.update([
        "size / rooms > 2 and kind == 'a'",
        "if(is_missing(size), 0, size * 2) + coalesce(rooms, 1)",
        "year(sold) - year(built) >= 5 or not ok",
        "round(size, 2) % 3 != 0 && contains(lower(kind), 'a')",
        "max(size, rooms, -1e308) - min(rooms, 1)",
        "month(sold) == 1 or days_between(built, sold) > 365",
    ])
    for i, text in enumerate(sorted(expressions)):
        add("FuzzExpression", f"expression-{i}", text.encode())

    for path in files("examples/**/*rules*.yaml", "Tests/**/*rules*.yaml"):
        add("FuzzRules", os.path.relpath(path, ROOT).replace("/", "_"), head(open(path, "rb").read(), 16384))
    for path in files("examples/**/mlcycle.yaml", "Tests/**/mlcycle*.yaml"):
        add("FuzzSpec", os.path.relpath(path, ROOT).replace("/", "_"), head(open(path, "rb").read(), 16384))

    # Predict requests for `mlcycle init`'s regression model, in each shape the server takes.
    row = {"id": 1, "area_sqft": 1450, "rooms": 3, "district": "centre", "built": 1988}
    other = {"id": 2, "area_sqft": None, "rooms": 2, "district": "north", "built": 2001}
    bodies = {
        "records": {"records": [row, other]},
        "dataframe_records": {"dataframe_records": [row]},
        "instances": {"instances": [row]},
        "inputs": {"inputs": [other]},
        "dataframe_split": {"dataframe_split": {"columns": list(row), "data": [list(row.values())]}},
        "columns": {col: [row[col], other[col]] for col in row},
        "explain": {"records": [row], "explain": 3},
    }
    for name, body in bodies.items():
        add("FuzzPredictRequest", name, b"\x00" + json.dumps(body).encode())
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(row))
    writer.writeheader()
    writer.writerows([row, {k: ("" if v is None else v) for k, v in other.items()}])
    add("FuzzPredictRequest", "csv", b"\x01" + text.getvalue().encode())

    for target, seeds in corpora.items():
        folder = os.path.join(out, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in seeds.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: seeds.py OUT")
    main(sys.argv[1])
