"""Checks docs/mlcycle.schema.json: it is a valid JSON Schema (draft 2020-12), every shipped example and every
`mlcycle init` template conforms to it, a few more shapes the parser accepts conform too, and documents the parser
rejects are rejected (so the check is not vacuous).

Usage: python Tests/Docs/check_schema.py   (needs jsonschema and pyyaml; Tests/Docs/check-schema.sh makes a venv)
Prints one line per check and `N passed, M failed`; exits 1 on any failure.
"""
import copy
import json
import pathlib
import re
import sys

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "mlcycle.schema.json"
TEMPLATES = ROOT / "Sources" / "MLCycleProject" / "ProjectTemplate.swift"
SPEC_TESTS = ROOT / "Tests" / "MLCycleProjectTests" / "ProjectSpecTests.swift"


# --- YAML as editors read it -----------------------------------------------------------------------------------
# PyYAML implements YAML 1.1, where `on`, `yes`, `no` are booleans and 2006-01-01 is a date. Editors
# (yaml-language-server) read YAML 1.2's core schema, and mlcycle reads every value as text, so a key `on:`
# (retraining.on) must stay the string "on". This loader resolves plain scalars by the 1.2 core schema.
class Yaml12Loader(yaml.SafeLoader):
    pass


Yaml12Loader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
]:
    Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern), first)


def _construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", lambda loader, node: loader.construct_scalar(node).lower() == "true")


def load(text):
    return yaml.load(text, Loader=Yaml12Loader)


# --- the `mlcycle init` templates, from the Swift source -------------------------------------------------------
def swift_unescape(body, where):
    """The value of a Swift (non-raw) multi-line string literal's content; interpolation is refused."""
    out, i = [], 0
    simple = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "u" and body[i + 2:i + 3] == "{":
            end = body.index("}", i)
            out.append(chr(int(body[i + 3:end], 16)))
            i = end + 1
        elif nxt == "\n":  # a line continuation
            i += 2
        elif nxt == "(":
            raise ValueError(f"{where}: the template interpolates a value; cannot read it statically")
        else:
            raise ValueError(f"{where}: unknown escape \\{nxt}")
    return "".join(out)


def swift_multiline(literal_lines, closing_indent, where):
    """Strips the closing delimiter's indentation from each line, as Swift does."""
    lines = []
    for n, line in enumerate(literal_lines):
        if line.strip() == "":
            lines.append("")
        elif line.startswith(closing_indent):
            lines.append(line[len(closing_indent):])
        else:
            raise ValueError(f"{where}: line {n + 1} of the literal is indented less than its closing delimiter")
    return swift_unescape("\n".join(lines), where)


def templates():
    """(name, yaml text) for each case of ProjectTemplate, from its `var yaml` string literals."""
    source = TEMPLATES.read_text(encoding="utf-8")
    cases = re.search(r"enum\s+ProjectTemplate\b[^{]*\{\s*case\s+([\w\s,]+?)\n", source)
    if not cases:
        raise ValueError(f"{TEMPLATES}: no `enum ProjectTemplate {{ case … }}`")
    names = [c.strip() for c in cases.group(1).split(",") if c.strip()]
    body = re.search(r"var\s+yaml\s*:\s*String\s*\{(.*)", source, re.S)
    if not body:
        raise ValueError(f"{TEMPLATES}: no `var yaml: String`")
    found = {}
    for m in re.finditer(r'case\s+\.(\w+)\s*:\s*return\s+(#*)"""[ \t]*\n(.*?)\n([ \t]*)"""', body.group(1), re.S):
        name, hashes, content, indent = m.groups()
        if hashes:
            raise ValueError(f"{TEMPLATES}: template {name} is a raw string literal; extend the reader")
        found[name] = swift_multiline(content.split("\n"), indent, f"ProjectTemplate.{name}")
    missing = [n for n in names if n not in found]
    if missing or not names:
        raise ValueError(f"{TEMPLATES}: no mlcycle.yaml literal found for template(s) {', '.join(missing) or '(none)'}")
    return [(n, found[n]) for n in names]


def bad_spec_from_tests():
    """The deliberately broken spec of ProjectSpecTests.aBadSpecGetsEveryProblemWithLineAndPath, or None."""
    if not SPEC_TESTS.exists():
        return None
    source = SPEC_TESTS.read_text(encoding="utf-8")
    m = re.search(r'func\s+aBadSpecGetsEveryProblemWithLineAndPath\b.*?(#*)"""[ \t]*\n(.*?)\n([ \t]*)"""', source, re.S)
    if not m or m.group(1):
        return None
    return swift_multiline(m.group(2).split("\n"), m.group(3), "ProjectSpecTests.aBadSpec")


# A small spec that exercises every section; the variants and the rejected documents below are edits of it.
BASE = """\
problem: {name: prices, owner: you, task: regression, target: price, goal: Price homes., success: within_10pct >= 0.75,
          scope: ["area between 300 and 10000", "kind in [a, b]"]}
sources:
  - {name: sales, path: data/sales.csv, steps: [{text: {columns: [address], case: lower}}]}
validation: {sales: rules.yaml}
preparation:
  - derive: {name: age, expression: "2026 - built"}
  - drop: [id]
split: {method: random, test: 0.2, validation: 0.1, seed: 42}
candidates:
  - {name: baseline, learner: linear}
  - {name: gbdt, learner: gbdt, params: {n_estimators: 300, learning_rate: 0.05, num_leaves: 15}}
evaluation: {metric: mape, range: 0.9, slices: ["price:100000,200000", kind], groups: [kind], gates: [mape <= baseline]}
release: {approvers: [lead], canary: 10%, shadow: false, auto_promote: false}
monitoring:
  window: 1d
  webhook: https://hooks.example.com/mlcycle
  alerts: [{name: accuracy-drop, when: "mape > 0.12 over 7d", severity: critical, cooldown: 1d}]
  drift: {kind: 0.2}
retraining: {schedule: "0 3 1 */3 *", on: [accuracy-drop], window: 6M, promote: auto, margin: 0.005, holdout: 0.25}
"""


# --- checks -------------------------------------------------------------------------------------------------------
def path_of(error):
    """An error's place as the parser writes it: problem.task, candidates[0].learner, (file).colour."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def error_places(validator, document):
    """Every place an error is reported, including the unknown keys additionalProperties names."""
    places = set()
    stack = list(validator.iter_errors(document))
    while stack:
        e = stack.pop()
        stack.extend(e.context or [])
        base = path_of(e)
        places.add(base)
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            allowed = set(e.schema.get("properties", {}))
            for key in e.instance:
                if key not in allowed:
                    places.add(f"{base}.{key}")
        if e.validator == "required":
            missing = re.match(r"'(.*)' is a required property", e.message)
            if missing:
                places.add(f"{base}.{missing.group(1)}" if base != "(file)" else missing.group(1))
    return places


def first_error(validator, document):
    best = jsonschema.exceptions.best_match(validator.iter_errors(document))
    return f"{path_of(best)}: {best.message}" if best else None


def main():
    results = []

    def record(ok, label, detail=""):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {label}{(': ' + detail) if detail else ''}")

    try:
        schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        record(True, f"{SCHEMA.relative_to(ROOT)} is a valid draft 2020-12 schema")
    except Exception as e:  # noqa: BLE001 - report any failure as a failed check
        record(False, f"{SCHEMA.relative_to(ROOT)} is a valid draft 2020-12 schema", str(e).splitlines()[0])
        print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
        return 1
    # yaml-language-server (VS Code's YAML extension) checks a schema against draft-07's meta-schema: stay valid there.
    try:
        jsonschema.Draft7Validator.check_schema(schema)
        record(True, f"{SCHEMA.relative_to(ROOT)} is also valid against draft-07's meta-schema (as editors check it)")
    except jsonschema.exceptions.SchemaError as e:
        record(False, f"{SCHEMA.relative_to(ROOT)} is also valid against draft-07's meta-schema", e.message)
    validator = jsonschema.Draft202012Validator(schema)

    def expect_valid(label, text_or_doc):
        try:
            doc = load(text_or_doc) if isinstance(text_or_doc, str) else text_or_doc
        except yaml.YAMLError as e:
            record(False, label, f"not valid YAML: {e}")
            return None
        problem = first_error(validator, doc)
        record(problem is None, label, problem or "")
        return doc

    def expect_invalid(label, doc, place=None):
        places = error_places(validator, doc)
        if not places:
            record(False, f"rejects {label}", "the schema accepted it")
        elif place and place not in places:
            record(False, f"rejects {label}", f"rejected, but not at {place} (at {', '.join(sorted(places))})")
        else:
            record(True, f"rejects {label}", f"at {place}" if place else "")

    # 1. The shipped examples.
    examples = sorted(ROOT.glob("examples/*/mlcycle.yaml"))
    if not examples:
        record(False, "examples/*/mlcycle.yaml", "no example found")
    for path in examples:
        expect_valid(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))

    # 2. What `mlcycle init` writes.
    try:
        for name, text in templates():
            expect_valid(f"mlcycle init --template {name} (ProjectTemplate.swift)", text)
    except ValueError as e:
        record(False, "mlcycle init templates (ProjectTemplate.swift)", str(e))

    # 3. Other shapes the parser accepts (scalar-or-list, preparation as a mapping, clustering without a target, …),
    # as variants of a small spec of this script's own (so edits to the examples do not move the places below).
    base = load(BASE)
    expect_valid("the script's base spec", base)

    def variant(label, change):
        doc = copy.deepcopy(base)
        change(doc)
        expect_valid(f"variant: {label}", doc)

    variant("preparation as {steps: [...]}", lambda d: d.update(preparation={"steps": d["preparation"]}))
    variant("scalars where lists are allowed", lambda d: (d["problem"].update(scope="price > 0"),
                                                          d["evaluation"].update(slices="kind", gates="mape <= 0.5"),
                                                          d["release"].update(approvers="lead")))
    variant("step shorthands and forms", lambda d: d.update(preparation=[
        {"drop_duplicates": None}, {"drop_duplicates": []}, {"drop_duplicates": {"keys": ["address"]}},
        {"filter": "price > 0"}, {"filter": {"expression": "price > 1000", "flag": "suspicious"}},
        {"text": ["address"]}, {"text": {"columns": "address", "case": "lower", "words": {"st.": "street"}}},
        {"parse_dates": "sold"}, {"parse_dates": {"columns": ["sold"], "formats": ["dd.MM.yyyy"]}},
        {"impute": {"columns": "lot", "strategy": "constant", "value": 0}},
        {"encode": {"columns": ["condition"], "method": "ordinal", "order": ["Poor", "Good"]}},
        {"encode": {"columns": ["zoning"], "method": "target", "folds": 5, "smoothing": 10}},
        {"scale": {"columns": ["lot"], "method": "min_max"}}, {"log": {"columns": ["lot"]}}, {"log": "lot"},
        {"derive": {"name": "age", "expression": "2026 - built"}}, {"drop": "address"}]))
    variant("canary 0.1, shadow: yes, tuning and a space", lambda d: (
        d["release"].update(canary=0.1, shadow="yes"),
        d.update(tuning={"search": "random", "trials": 20, "folds": 3, "time_budget": 600}),
        d["candidates"][1].update(space={"num_leaves": [15, 31, 63], "learning_rate": 0.05})))
    variant("clustering with kmeans and no target", lambda d: (
        d["problem"].pop("target"), d["problem"].pop("success"), d["problem"].update(task="clustering"),
        d.update(candidates=[{"learner": "kmeans", "params": {"n_clusters": 4, "seed": 1}}]),
        d["evaluation"].update(gates=[])))
    variant("a canary plan", lambda d: d["release"].update(canary={
        "steps": ["5%", "25%", 0.5, "100%"], "every": "1d", "promote_if": "mape <= champion",
        "rollback_if": "error_rate > 0.02 or latency_p99 > 500ms", "rollback_after": 2}))
    variant("selection by cross-validation, no refit", lambda d: d["evaluation"].update(
        selection="cv", folds=3, refit=False))
    variant("a SQLite source and a joined source", lambda d: d["sources"].append(
        {"name": "tax", "path": "tax.db", "query": "SELECT * FROM tax", "join": {"on": ["address:parcel"], "kind": "inner"}}))
    variant("a lookup read live from PostgreSQL", lambda d: d["sources"].append(
        {"name": "tax", "url": "postgres://u@db/x", "query": "SELECT * FROM tax", "join": {"on": ["address"]},
         "serving": "live", "cache": {"records": 500, "ttl": "30s"}}))

    # 4. Documents the parser rejects.
    def rejected(label, change, place):
        doc = copy.deepcopy(base)
        change(doc)
        expect_invalid(label, doc, place)

    rejected("an unknown top-level key", lambda d: d.update(colour="blue"), "(file).colour")
    rejected("selection: test", lambda d: d["evaluation"].update(selection="test"), "evaluation.selection")
    rejected("task: regresion", lambda d: d["problem"].update(task="regresion"), "problem.task")
    rejected("learner: xgb", lambda d: d["candidates"][0].update(learner="xgb"), "candidates[0].learner")
    rejected("an unknown key in problem", lambda d: d["problem"].update(descripton="x"), "problem.descripton")
    rejected("a missing target (regression)", lambda d: d["problem"].pop("target"), "problem.target")
    rejected("no sources", lambda d: d.pop("sources"), "sources")
    rejected("no candidates", lambda d: d.pop("candidates"), "candidates")
    rejected("a source without path", lambda d: d["sources"][0].pop("path"), "sources[0].path")
    rejected("join kind: outer", lambda d: d["sources"].append({"path": "b.csv", "join": {"on": "id", "kind": "outer"}}),
             "sources[1].join.kind")
    rejected("serving: fresh", lambda d: d["sources"].append({"path": "b.csv", "join": {"on": "id"}, "serving": "fresh"}),
             "sources[1].serving")
    rejected("cache ttl: soon", lambda d: d["sources"].append({"url": "postgres://u@db/x", "query": "SELECT 1",
             "join": {"on": "id"}, "serving": "live", "cache": {"ttl": "soon"}}), "sources[1].cache.ttl")
    rejected("an unknown step kind", lambda d: d["preparation"].append({"normalize": ["a"]}), "preparation[2]")
    rejected("two kinds in one step", lambda d: d["preparation"].append({"log": ["a"], "drop": ["b"]}), "preparation[2]")
    rejected("impute strategy: mode", lambda d: d["preparation"].append({"impute": {"columns": ["a"], "strategy": "mode"}}),
             "preparation[2].impute.strategy")
    rejected("an ordinal encode without order", lambda d: d["preparation"].append({"encode": {"columns": ["c"], "method": "ordinal"}}),
             "preparation[2].encode.order")
    rejected("a stratified split without column", lambda d: d["split"].update(method="stratified"), "split.column")
    rejected("split test: 0.95", lambda d: d["split"].update(test=0.95), "split.test")
    rejected("an unknown gbdt parameter", lambda d: d["candidates"][1]["params"].update(depth=3), "candidates[1].params.depth")
    rejected("a logistic candidate on a regression task", lambda d: d["candidates"][0].update(learner="logistic"),
             "candidates[0].learner")
    rejected("tuning search: exhaustive", lambda d: d.update(tuning={"search": "exhaustive"}), "tuning.search")
    rejected("a gate with no comparison", lambda d: d["evaluation"]["gates"].append("within_10pct 0.8"), "evaluation.gates[1]")
    rejected("evaluation range: 1.5", lambda d: d["evaluation"].update(range=1.5), "evaluation.range")
    rejected("canary: 150%", lambda d: d["release"].update(canary="150%"), "release.canary")
    rejected("a canary plan without promote_if", lambda d: d["release"].update(canary={"steps": ["5%", "100%"]}),
             "release.canary.promote_if")
    rejected("a canary plan with rollback_after: 0", lambda d: d["release"].update(canary={
        "steps": ["5%", "100%"], "promote_if": "mape <= champion", "rollback_after": 0}), "release.canary.rollback_after")
    rejected("alert severity: loud", lambda d: d["monitoring"]["alerts"][0].update(severity="loud"), "monitoring.alerts[0].severity")
    rejected("alert cooldown: soon", lambda d: d["monitoring"]["alerts"][0].update(cooldown="soon"), "monitoring.alerts[0].cooldown")
    rejected("an alert without when", lambda d: d["monitoring"]["alerts"][0].pop("when"), "monitoring.alerts[0].when")
    rejected("a webhook that is not http(s)", lambda d: d["monitoring"].update(webhook="ftp://x"), "monitoring.webhook")
    rejected("schedule: every day", lambda d: d["retraining"].update(schedule="every day"), "retraining.schedule")
    rejected("promote: always", lambda d: d["retraining"].update(promote="always"), "retraining.promote")
    rejected("holdout: 0.01", lambda d: d["retraining"].update(holdout=0.01), "retraining.holdout")
    expect_invalid("an empty file", load(""))

    # 5. The broken spec of the Swift parser's own test: the schema flags the same places (but retraining.on,
    # a cross-reference to the alert names that a schema cannot check).
    bad = bad_spec_from_tests()
    if bad is None:
        print("skip the broken spec of ProjectSpecTests (not found)")
    else:
        places = error_places(validator, load(bad))
        wanted = ["problem.task", "problem.target", "candidates[0].learner", "evaluation.gates[0]",
                  "monitoring.alerts[0].severity", "monitoring.alerts[0].cooldown", "retraining.schedule", "(file).colour"]
        missing = [w for w in wanted if w not in places]
        record(not missing, "rejects the broken spec of ProjectSpecTests at the parser's places",
               f"not flagged: {', '.join(missing)}" if missing else "")

    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
