#!/usr/bin/env python3
"""The Python side of the learner benchmark: incumbents.py DATA_DIR NAME TARGET TASK > results.json

Fits LightGBM, XGBoost and scikit-learn (RandomForest, LinearRegression/LogisticRegression) on NAME_train.csv
and measures NAME_test.csv, with LightGBM's parameters num_leaves=31, learning_rate=0.05, n_estimators=500,
max_bin=255, min_data_in_leaf=20, 2 threads (XGBoost: the same through its hist/lossguide equivalents).
Text columns are categories for LightGBM and XGBoost and one-hot for scikit-learn.
"""
import json
import os
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

folder, name, target, task = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
NA = ["", "NA", "NaN", "null", "N/A"]
train = pd.read_csv(folder / f"{name}_train.csv", keep_default_na=False, na_values=NA)
test = pd.read_csv(folder / f"{name}_test.csv", keep_default_na=False, na_values=NA)
x_train, x_test = train.drop(columns=[target]), test.drop(columns=[target])
text = [c for c in x_train.columns if not pd.api.types.is_numeric_dtype(x_train[c])]
for c in text:
    cats = sorted(x_train[c].dropna().unique())
    x_train[c] = pd.Categorical(x_train[c], categories=cats)
    x_test[c] = pd.Categorical(x_test[c].where(x_test[c].isin(cats)), categories=cats)
if task == "binary":
    positive = train[target].value_counts().idxmin()
    y_train, y_test = (train[target] == positive).astype(int), (test[target] == positive).astype(int).to_numpy()
else:
    y_train, y_test = train[target].astype(float), test[target].astype(float).to_numpy()


def metrics(pred):
    if task == "binary":
        p = np.clip(pred, 1e-15, 1 - 1e-15)
        from sklearn.metrics import roc_auc_score
        return {"logloss": float(-np.mean(y_test * np.log(p) + (1 - y_test) * np.log(1 - p))), "auc": float(roc_auc_score(y_test, p))}
    return {"rmse": float(np.sqrt(np.mean((pred - y_test) ** 2))), "within_10pct": float(np.mean(np.abs(pred - y_test) <= 0.1 * np.abs(y_test)))}


# INCUMBENTS=lightgbm (a comma-separated list) fits only those libraries (the benchmark times LightGBM on its own).
wanted = set(filter(None, os.environ.get("INCUMBENTS", "").split(",")))


def run(label, fit, predict):
    if wanted and label not in wanted:
        return label, None
    t = time.perf_counter(); model = fit(); fit_s = time.perf_counter() - t
    t = time.perf_counter(); pred = predict(model); pred_s = time.perf_counter() - t
    return label, {"fit_seconds": fit_s, "predict_seconds": pred_s, **metrics(pred)}


lgb_params = dict(num_leaves=31, learning_rate=0.05, n_estimators=500, max_bin=255, min_child_samples=20, n_jobs=2, verbose=-1)
xgb_params = dict(tree_method="hist", grow_policy="lossguide", max_leaves=31, max_depth=0, learning_rate=0.05, n_estimators=500,
                  max_bin=255, min_child_weight=1e-3, n_jobs=2, enable_categorical=True)
results = {}
if task == "binary":
    results.update([run("lightgbm", lambda: lgb.LGBMClassifier(objective="binary", **lgb_params).fit(x_train, y_train), lambda m: m.predict_proba(x_test)[:, 1]),
                    run("xgboost", lambda: xgb.XGBClassifier(**xgb_params).fit(x_train, y_train), lambda m: m.predict_proba(x_test)[:, 1])])
else:
    results.update([run("lightgbm", lambda: lgb.LGBMRegressor(**lgb_params).fit(x_train, y_train), lambda m: m.predict(x_test)),
                    run("xgboost", lambda: xgb.XGBRegressor(**xgb_params).fit(x_train, y_train), lambda m: m.predict(x_test))])
# scikit-learn: one-hot text, mean-filled numbers (its forest is skipped above 200k rows: too slow for a routine run)
if wanted and not wanted & {"sklearn_forest", "sklearn_linear", "sklearn_logistic"}:
    print(json.dumps({k: v for k, v in results.items() if v is not None}))
    sys.exit(0)
dummies_train = pd.get_dummies(x_train, columns=text, dtype=float)
dummies_test = pd.get_dummies(x_test, columns=text, dtype=float).reindex(columns=dummies_train.columns, fill_value=0)
means = dummies_train.mean()
d_train, d_test = dummies_train.fillna(means), dummies_test.fillna(means)
small = len(train) <= 200_000
if task == "binary":
    if small:
        results.update([run("sklearn_forest", lambda: RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0).fit(d_train, y_train), lambda m: m.predict_proba(d_test)[:, 1])])
    results.update([run("sklearn_logistic", lambda: LogisticRegression(max_iter=1000).fit(d_train, y_train), lambda m: m.predict_proba(d_test)[:, 1])])
else:
    if small:
        results.update([run("sklearn_forest", lambda: RandomForestRegressor(n_estimators=100, n_jobs=2, random_state=0).fit(d_train, y_train), lambda m: m.predict(d_test))])
    results.update([run("sklearn_linear", lambda: LinearRegression().fit(d_train, y_train), lambda m: m.predict(d_test))])
print(json.dumps({k: v for k, v in results.items() if v is not None}))
