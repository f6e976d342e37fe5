"""The same history on both sides for the UI benchmark: 10,000 runs (each with 5 parameters and 5 metrics) and a
model with 1,000 versions (each registered and audited), in an mlcycle store and in an MLflow tracking store.

The mlcycle store starts from a real one (`mlcycle init` + `mlcycle run`, which makes its schema and a first model
version) and is filled by SQL in one transaction, as a copy of that project's runs would be; MLflow's is filled
through its own store API (SqlAlchemyStore on SQLite), as its client would.

Usage: generate.py MLCYCLE_STORE_DIR MLFLOW_DB [RUNS] [VERSIONS]
"""
import json
import random
import sqlite3
import sys
import time

store_dir, mlflow_db = sys.argv[1], sys.argv[2]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
VERSIONS = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000
rng = random.Random(7)
learners = ["baseline", "linear", "forest", "gbdt"]
stages = ["collect", "validate", "profile", "prepare", "train", "train", "train", "evaluate", "register", "pipeline"]
start = time.time() - RUNS * 60


def run_row(i):
    learner = learners[i % len(learners)]
    params = {
        "learner": learner, "candidate": learner, "num_leaves": str(rng.choice([15, 31, 63])),
        "learning_rate": str(rng.choice([0.03, 0.05, 0.1])), "selection": "validation",
    }
    metrics = {
        "mape": rng.uniform(0.07, 0.15), "rmse": rng.uniform(15_000, 40_000), "mae": rng.uniform(10_000, 30_000),
        "r2": rng.uniform(0.7, 0.95), "within_10pct": rng.uniform(0.5, 0.8),
    }
    return learner, params, metrics, start + i * 60


# mlcycle: SQL into the store `mlcycle run` made.
db = sqlite3.connect(f"{store_dir}/store.sqlite")
db.execute("BEGIN")
project = db.execute("SELECT name FROM project LIMIT 1").fetchone()[0]
model = db.execute("SELECT name, bundle FROM model_version ORDER BY version LIMIT 1").fetchone()
first_run = db.execute("SELECT max(id) FROM run").fetchone()[0]
for i in range(RUNS):
    learner, params, metrics, started = run_row(i)
    stage = stages[i % len(stages)]
    cursor = db.execute(
        "INSERT INTO run (project, stage, status, started, ended, input_hash, params, tags, outputs, spec_hash,"
        " git_commit, mlcycle_version, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', '{}', NULL, NULL, '0.1.0',"
        " 'bench', 1)",
        (project, stage, "failed" if i % 50 == 0 else "finished", started, started + rng.uniform(0.1, 30),
         f"bench-{i}", json.dumps(params if stage == "train" else {}, sort_keys=True)))
    if stage == "train":
        for step, (name, value) in enumerate(sorted(metrics.items())):
            db.execute("INSERT INTO metric (run, name, value, step, at) VALUES (?, ?, ?, 0, ?)",
                       (cursor.lastrowid, name, value, started))
for v in range(2, VERSIONS + 1):
    _, _, metrics, created = run_row(v)
    db.execute(
        "INSERT INTO model_version (name, version, bundle, metrics, gates_passed, gates, run, datasets, spec_hash,"
        " created) VALUES (?, ?, ?, ?, ?, ?, NULL, '[]', NULL, ?)",
        (model[0], v, model[1], json.dumps(metrics, sort_keys=True), v % 3 != 0,
         json.dumps(["passed: mape <= 0.15"] if v % 3 else ["failed: mape <= 0.10"]), created))
    db.execute("INSERT INTO audit (at, actor, action, model, version, alias, previous_version, reason)"
               " VALUES (?, 'bench', 'register', ?, ?, NULL, NULL, 'benchmark')", (created, model[0], v))
db.commit()
counts = db.execute("SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM model_version)").fetchone()
print(f"mlcycle store: {counts[0]} runs, {counts[1]} versions of {model[0]} (project {project})")
db.close()

# MLflow: its own store API.
from mlflow.entities import Metric, Param, RunStatus  # noqa: E402
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore  # noqa: E402
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: E402

uri = f"sqlite:///{mlflow_db}"
tracking = SqlAlchemyStore(uri, default_artifact_root="/tmp/mlflow-bench-artifacts")
for i in range(RUNS):
    learner, params, metrics, started = run_row(i)
    run = tracking.create_run("0", user_id="bench", start_time=int(started * 1000), tags=[], run_name=f"run-{i}")
    millis = int(started * 1000)
    tracking.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, millis, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()], tags=[])
    tracking.update_run_info(run.info.run_id, RunStatus.FINISHED, millis + 10_000, None)
registry = RegistryStore(uri)
registry.create_registered_model("prices")
for v in range(1, VERSIONS + 1):
    registry.create_model_version("prices", source=f"/tmp/mlflow-bench-artifacts/{v}", run_id=None)
print(f"mlflow store: {RUNS} runs, {VERSIONS} versions of prices")
