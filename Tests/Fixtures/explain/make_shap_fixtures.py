#!/usr/bin/env python3
"""Reference SHAP values and raw scores for mlcycle's gradient-boosted models, from shap and LightGBM.

mlcycle trains three gradient-boosted models and exports each as a LightGBM text model (`mlcycle export
--format lightgbm`); LightGBM loads the export, and shap's TreeExplainer explains it (for a LightGBM model with
categorical splits shap asks LightGBM for its path-dependent TreeSHAP values, `pred_contrib=True`).

Usage (from the repository root, after `swift build`):
    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy pandas lightgbm shap onnx onnxruntime
    /tmp/ref/bin/python Tests/Fixtures/explain/make_shap_fixtures.py .build/debug/mlcycle [Tests/Fixtures/explain]
    /tmp/ref/bin/python Tests/Fixtures/explain/make_shap_fixtures.py .build/debug/mlcycle --check

Models (15 leaves; 40 rounds, 12 for multiclass: 5 trees a round), trained on Tests/Fixtures/learn's files with about 5 % of Neighborhood and
Overall_Cond blanked (so categorical splits send missing values somewhere, as Gr_Liv_Area's blanks do for numbers):
  regression   Sale_Price from the 13 other house columns
  binary       churn from the 8 churn columns (51-level state)
  multiclass   Bldg_Type (5 classes) from the other house columns but Sale_Price
Writes per model NAME: NAME.model.json (mlcycle's model file), NAME.txt (its LightGBM export), and NAME.shap.csv:
one line per explained row (the first 120 test rows; per class for multiclass): row, output, expected (shap's
expected_value), raw (LightGBM's raw score), then each feature's SHAP value. Plus rows_houses.csv and
rows_churn.csv, the explained rows.

--check trains and exports the same models into a temporary folder and checks that LightGBM, loading the exports,
predicts what `mlcycle predict` predicts (1e-9), that shap's values add up to LightGBM's raw scores (1e-9 relative),
and that ONNX Runtime, running the models exported with `--format onnx` (checked by onnx's checker), predicts the same
labels and the same probabilities and estimates to 1e-6 (ONNX's tree ensembles answer 32-bit floats), and that a
model LightGBM trains itself, imported with `mlcycle import lightgbm`, predicts what LightGBM predicts (1e-9): the
compatibility test .ci/run runs (Tests/Interop/exports.sh, with onnx and onnxruntime installed too). Nothing is
written to the fixtures.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import shap

NA = ["", "NA", "NaN", "null", "N/A"]
ROWS = 120
PARAMS = ["num_leaves=15", "learning_rate=0.1", "min_data_in_leaf=10"]
MODELS = {
    "regression": ("houses", "Sale_Price", "regression", [], 40),
    "binary": ("churn", "churn", "binary", [], 40),
    "multiclass": ("houses", "Bldg_Type", "multiclass", ["Sale_Price"], 12),
}


def tables(learn, out):
    """Train and test files with some categorical values blanked, and the explained rows."""
    rng = np.random.default_rng(17)
    for name in ["houses", "churn"]:
        for part in ["train", "test"]:
            df = pd.read_csv(learn / f"gbdt_{name}_{part}.csv", keep_default_na=False, na_values=NA, dtype=str)
            if name == "houses":
                for column in ["Neighborhood", "Overall_Cond"]:
                    df.loc[rng.random(len(df)) < 0.05, column] = ""
            df.to_csv(out / f"{name}_{part}.csv", index=False)
        test = pd.read_csv(out / f"{name}_test.csv", keep_default_na=False, na_values=NA, dtype=str)
        test.head(ROWS).to_csv(out / f"rows_{name}.csv", index=False)


def matrix(rows, preparation):
    """The rows as the exported model's inputs: numbers, and level indices for categories (missing: NaN)."""
    columns = []
    for f in preparation["features"]:
        values = rows[f["name"]]
        if f["kind"] == "categorical":
            index = {level: i for i, level in enumerate(f["levels"])}
            columns.append([float(index[v]) if isinstance(v, str) and v in index else np.nan for v in values])
        else:
            columns.append(pd.to_numeric(values, errors="coerce").astype(float).tolist())
    return np.array(columns, dtype=float).T


def run(mlcycle, *args):
    subprocess.run([mlcycle, *args], check=True, stdout=subprocess.DEVNULL)


def build(mlcycle, work, name):
    data, target, task, drop, rounds = MODELS[name]
    model = work / f"{name}.model.json"
    args = ["train", "--data", str(work / f"{data}_train.csv"), "--test", str(work / f"{data}_test.csv"),
            "--target", target, "--task", task, "--learner", "gbdt", "--out", str(model)]
    for p in PARAMS + [f"n_estimators={rounds}"]:
        args += ["--param", p]
    for d in drop:
        args += ["--drop", d]
    run(mlcycle, *args)
    run(mlcycle, "export", str(model), "--format", "lightgbm", "--out", str(work / f"{name}.txt"))
    preparation = json.loads((work / f"{name}.preparation.json").read_text())
    rows = pd.read_csv(work / f"rows_{data}.csv", keep_default_na=False, na_values=NA, dtype=str)
    x = matrix(rows, preparation)
    booster = lgb.Booster(model_file=str(work / f"{name}.txt"))
    raw = np.asarray(booster.predict(x, raw_score=True)).reshape(len(rows), -1)
    explainer = shap.TreeExplainer(booster)
    values = explainer.shap_values(x)
    # shap gives a list per class, or one array (rows × features × classes) in newer releases.
    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    values = np.asarray(values).reshape(len(rows), len(preparation["features"]), -1)
    expected = np.atleast_1d(explainer.expected_value)
    return model, preparation, rows, booster, x, raw, values, expected


def check_onnx(mlcycle, work, name, model, preparation, x, ours):
    """The model exported as ONNX, run by ONNX Runtime: its largest gap to mlcycle's predictions (relative for a
    regression's estimates, absolute for probabilities)."""
    import onnx
    import onnxruntime

    path = work / f"{name}.onnx"
    run(mlcycle, "export", str(model), "--format", "onnx", "--out", str(path))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": x})
    if name == "regression":
        mine = ours["prediction"].to_numpy(dtype=float)
        theirs = outputs[0].reshape(-1).astype(float)
        return float(np.max(np.abs(mine - theirs) / np.maximum(1, np.abs(mine))))
    labels = preparation["labels"]
    mine = ours[[f"probability_{label}" for label in labels]].to_numpy(dtype=float)
    probabilities = np.asarray(outputs[1], dtype=float)
    if list(outputs[0]) != list(ours["prediction"].astype(str)):
        return float("inf")
    return float(np.max(np.abs(mine - probabilities)))


def check_import(mlcycle, work, name):
    """A model LightGBM trains itself (categorical features as pandas categories, missing values as NaN), saved as
    text and imported with `mlcycle import lightgbm` into a fresh store: the largest gap between `mlcycle predict`
    with the registered version and LightGBM's own predictions on the test rows."""
    data, target, task, drop, rounds = MODELS[name]
    read = lambda part: pd.read_csv(work / f"{data}_{part}.csv", keep_default_na=False, na_values=NA)
    train, test = read("train"), read("test")
    features = [c for c in train.columns if c not in [target, *drop]]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    levels = {c: sorted(train[c].dropna().unique().tolist()) for c in categorical}

    def encoded(df):
        x = df[features].copy()
        for c in categorical:
            x[c] = pd.Categorical(x[c].where(x[c].isin(levels[c])), categories=levels[c])
        return x

    classes = sorted(train[target].unique().tolist()) if task != "regression" else None
    y = train[target] if classes is None else train[target].map({c: i for i, c in enumerate(classes)})
    objective = {"regression": "regression", "binary": "binary", "multiclass": "multiclass"}[task]
    params = {"objective": objective, "num_leaves": 15, "learning_rate": 0.1, "min_data_in_leaf": 10, "verbose": -1,
              "num_threads": 2, "max_cat_to_onehot": 4}
    if classes and len(classes) > 2:
        params["num_class"] = len(classes)
    booster = lgb.train(params, lgb.Dataset(encoded(train), y, categorical_feature=categorical), rounds)
    booster.save_model(str(work / f"{name}.lightgbm.txt"))
    schema = {"target": target, "features": [
        {"name": c, "kind": "categorical", "levels": levels[c]} if c in categorical else {"name": c} for c in features]}
    if classes:
        schema["labels"] = [str(c) for c in classes]
    (work / f"{name}.schema.json").write_text(json.dumps(schema))
    store = work / f"{name}-store"
    run(mlcycle, "import", "lightgbm", str(work / f"{name}.lightgbm.txt"), "--name", name, "--schema",
        str(work / f"{name}.schema.json"), "--data", str(work / f"{data}_train.csv"), "--store", str(store))
    test.to_csv(work / f"{name}.import-rows.csv", index=False)
    run(mlcycle, "predict", "--model", name, "--data", str(work / f"{name}.import-rows.csv"), "--out",
        str(work / f"{name}.imported.csv"), "--store", str(store))
    ours = pd.read_csv(work / f"{name}.imported.csv")
    theirs = np.asarray(booster.predict(encoded(test))).reshape(len(test), -1)
    if classes is None:
        mine = ours[["prediction"]].to_numpy(dtype=float)
        return float(np.max(np.abs(mine - theirs) / np.maximum(1, np.abs(mine))))
    if len(classes) == 2:
        return float(np.max(np.abs(ours[f"probability_{classes[1]}"].to_numpy() - theirs[:, 0])))
    mine = ours[[f"probability_{c}" for c in classes]].to_numpy(dtype=float)
    return float(np.max(np.abs(mine - theirs)))


def check(mlcycle, learn):
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tables(learn, work)
        for name in MODELS:
            model, preparation, rows, booster, x, raw, values, expected = build(mlcycle, work, name)
            run(mlcycle, "predict", "--model", str(model), "--data", str(work / f"rows_{MODELS[name][0]}.csv"),
                "--out", str(work / f"{name}.predicted.csv"))
            ours = pd.read_csv(work / f"{name}.predicted.csv")
            theirs = np.asarray(booster.predict(x)).reshape(len(rows), -1)
            if name == "regression":
                mine = ours[["prediction"]].to_numpy(dtype=float)
                gap = np.max(np.abs(mine - theirs) / np.maximum(1, np.abs(mine)))
            elif name == "binary":
                gap = np.max(np.abs(ours[f"probability_{preparation['labels'][1]}"].to_numpy() - theirs[:, 0]))
            else:
                mine = ours[[f"probability_{label}" for label in preparation["labels"]]].to_numpy(dtype=float)
                gap = np.max(np.abs(mine - theirs))
            additivity = np.max(np.abs(values.sum(axis=1) + expected - raw) / np.maximum(1, np.abs(raw)))
            onnx_gap = check_onnx(mlcycle, work, name, model, preparation, x, ours)
            import_gap = check_import(mlcycle, work, name)
            print(f"{name}: LightGBM vs mlcycle predictions {gap:.2e}, shap additivity {additivity:.2e}, "
                  f"ONNX Runtime vs mlcycle {onnx_gap:.2e}, LightGBM's own model imported {import_gap:.2e}")
            if gap > 1e-9 or additivity > 1e-9 or onnx_gap > 1e-6 or import_gap > 1e-9:
                failures.append(name)
    if failures:
        sys.exit(f"LightGBM export check failed for: {', '.join(failures)}")


def main():
    mlcycle = str(Path(sys.argv[1]).resolve())
    here = Path(__file__).resolve().parent
    learn = here.parent / "learn"
    if "--check" in sys.argv:
        return check(mlcycle, learn)
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else here
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tables(learn, work)
        for name in MODELS:
            model, preparation, rows, booster, x, raw, values, expected = build(mlcycle, work, name)
            lines = []
            features = [f["name"] for f in preparation["features"]]
            for r in range(len(rows)):
                for o in range(raw.shape[1]):
                    lines.append([r, o, expected[o], raw[r, o], *values[r, :, o]])
            table = pd.DataFrame(lines, columns=["row", "output", "expected", "raw", *features])
            table.to_csv(out / f"{name}.shap.csv", index=False, float_format="%.17g")
            for suffix in [".model.json", ".txt"]:
                (out / f"{name}{suffix}").write_bytes((work / f"{name}{suffix}").read_bytes())
        for data in ["houses", "churn"]:
            (out / f"rows_{data}.csv").write_bytes((work / f"rows_{data}.csv").read_bytes())
    print(f"shap {shap.__version__}, lightgbm {lgb.__version__}: fixtures written to {out}")


if __name__ == "__main__":
    main()
