#!/usr/bin/env python3
"""Reference values for mlcycle's linear learners and metrics, computed by scikit-learn.

Usage (from the repository root):
    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install pandas numpy scikit-learn
    /tmp/ref/bin/python Tests/Fixtures/learn/make_fixtures.py [../shared/data] [Tests/Fixtures/learn]

Writes:
  houses.csv      250 Ames rows: Sale_Price, four numeric features, Bldg_Type (5 classes) and Central_Air
  churn.csv       400 churn rows: churn (yes/no), four numeric features and international_plan
  linear.json     LinearRegression() and Ridge(alpha=10) on houses.csv predicting Sale_Price from the numeric
                  features and one-hot Central_Air (pandas.get_dummies(drop_first=True): levels sorted, first dropped)
  logistic.json   LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12) binary on churn.csv (churn),
                  and multinomial on houses.csv (Bldg_Type); multinomial intercepts are reported centred (mean 0),
                  since softmax intercepts are defined only up to a shared constant; predict_proba of the first rows
  kmeans.json     KMeans(n_clusters=4, n_init=10) inertia on houses.csv's four numeric features and on blobs.csv
                  (four well-separated Gaussian blobs)
  metrics.json    mean_squared_error (root), mean_absolute_error, mean_absolute_percentage_error, r2_score,
                  roc_auc_score, log_loss, accuracy_score, precision_score, recall_score, f1_score and macro F1
                  on fixed prediction vectors (with ties in the scores)
"""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn import metrics
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

NA = ["", "NA", "NaN", "null", "N/A"]


def main():
    here = Path(__file__).resolve().parent
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2].parent / "shared/data"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else here
    version = f"scikit-learn {sklearn.__version__}, pandas {pd.__version__}, numpy {np.__version__}"

    ames = pd.read_csv(data / "ames.csv", keep_default_na=False, na_values=NA)
    houses = ames.iloc[::11][["Sale_Price", "Gr_Liv_Area", "Year_Built", "Lot_Area", "Total_Bsmt_SF", "Bldg_Type", "Central_Air"]].head(250)
    houses.to_csv(out / "houses.csv", index=False)
    churn_all = pd.read_csv(data / "churn.csv", keep_default_na=False, na_values=NA)
    churn = churn_all.iloc[::12][["churn", "account_length", "total_day_minutes", "total_eve_minutes",
                                  "number_customer_service_calls", "international_plan"]].head(400)
    churn.to_csv(out / "churn.csv", index=False)

    numeric = ["Gr_Liv_Area", "Year_Built", "Lot_Area", "Total_Bsmt_SF"]
    x = pd.get_dummies(houses[numeric + ["Central_Air"]], columns=["Central_Air"], drop_first=True, dtype=float)
    terms = [c if not c.startswith("Central_Air_") else "Central_Air=" + c[len("Central_Air_"):] for c in x.columns]
    y = houses["Sale_Price"].astype(float)
    linear = {"generated_by": version, "features": numeric + ["Central_Air"], "terms": terms, "models": {}}
    for name, model in [("ols", LinearRegression()), ("ridge_alpha_10", Ridge(alpha=10.0, solver="cholesky"))]:
        model.fit(x, y)
        linear["models"][name] = {"coefficients": [float(c) for c in model.coef_], "intercept": float(model.intercept_),
                                  "predictions_first_10": [float(v) for v in model.predict(x.head(10))]}
    (out / "linear.json").write_text(json.dumps(linear, indent=1) + "\n")

    logistic = {"generated_by": version, "models": {}}
    cnum = ["account_length", "total_day_minutes", "total_eve_minutes", "number_customer_service_calls"]
    cx = pd.get_dummies(churn[cnum + ["international_plan"]], columns=["international_plan"], drop_first=True, dtype=float)
    model = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(cx, churn["churn"])
    logistic["models"]["binary"] = {
        "data": "churn.csv", "target": "churn", "classes": [str(c) for c in model.classes_],
        "terms": [c if not c.startswith("international_plan_") else "international_plan=" + c[len("international_plan_"):] for c in cx.columns],
        "coefficients": [[float(v) for v in row] for row in model.coef_], "intercepts": [float(v) for v in model.intercept_],
        "probabilities_first_10": [[float(v) for v in row] for row in model.predict_proba(cx.head(10))]}
    hx = houses[numeric].astype(float)
    model = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(hx, houses["Bldg_Type"])
    intercepts = model.intercept_ - model.intercept_.mean()
    logistic["models"]["multinomial"] = {
        "data": "houses.csv", "target": "Bldg_Type", "classes": [str(c) for c in model.classes_], "terms": numeric,
        "coefficients": [[float(v) for v in row] for row in model.coef_], "intercepts": [float(v) for v in intercepts],
        "probabilities_first_10": [[float(v) for v in row] for row in model.predict_proba(hx.head(10))]}
    (out / "logistic.json").write_text(json.dumps(logistic, indent=1) + "\n")

    rng = np.random.default_rng(7)
    actual = np.round(rng.lognormal(12, 0.4, 60), 2)
    predicted = np.round(actual * rng.normal(1, 0.12, 60), 2)
    labels = rng.random(80) < 0.3
    scores = np.round(np.clip(labels * 0.25 + rng.random(80) * 0.75, 0, 1), 2)  # rounding makes ties
    k = 4
    multi_true = rng.integers(0, k, 90)
    raw = rng.random((90, k)) + np.eye(k)[multi_true] * 0.8
    multi_proba = raw / raw.sum(axis=1, keepdims=True)
    predicted_labels = scores >= 0.5
    result = {
        "generated_by": version,
        "regression": {"actual": actual.tolist(), "predicted": predicted.tolist(),
                       "rmse": float(np.sqrt(metrics.mean_squared_error(actual, predicted))),
                       "mae": float(metrics.mean_absolute_error(actual, predicted)),
                       "mape": float(metrics.mean_absolute_percentage_error(actual, predicted)),
                       "r2": float(metrics.r2_score(actual, predicted)),
                       "within_10pct": float(np.mean(np.abs(predicted - actual) <= 0.1 * np.abs(actual)))},
        "binary": {"positive": labels.tolist(), "probability": scores.tolist(),
                   "auc": float(metrics.roc_auc_score(labels, scores)),
                   "logloss": float(metrics.log_loss(labels, scores)),
                   "accuracy": float(metrics.accuracy_score(labels, predicted_labels)),
                   "precision": float(metrics.precision_score(labels, predicted_labels)),
                   "recall": float(metrics.recall_score(labels, predicted_labels)),
                   "f1": float(metrics.f1_score(labels, predicted_labels))},
        "multiclass": {"actual": multi_true.tolist(), "probabilities": multi_proba.ravel().tolist(), "classes": k,
                       "accuracy": float(metrics.accuracy_score(multi_true, multi_proba.argmax(axis=1))),
                       "logloss": float(metrics.log_loss(multi_true, multi_proba, labels=list(range(k)))),
                       "macro_f1": float(metrics.f1_score(multi_true, multi_proba.argmax(axis=1), average="macro"))},
    }
    (out / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")

    from sklearn.cluster import KMeans
    kx = houses[numeric].astype(float).to_numpy()
    blobs = np.concatenate([rng.normal(loc=c, scale=0.3, size=(50, 2)) for c in [(0, 0), (4, 4), (0, 5), (6, 0)]])
    pd.DataFrame(blobs, columns=["a", "b"]).round(6).to_csv(out / "blobs.csv", index=False)
    blobs = pd.read_csv(out / "blobs.csv").to_numpy()
    kmeans = {"generated_by": version,
              "houses": {"features": numeric, "k": 4, "inertia": float(KMeans(n_clusters=4, n_init=10, random_state=0).fit(kx).inertia_)},
              "blobs": {"k": 4, "inertia": float(KMeans(n_clusters=4, n_init=10, random_state=0).fit(blobs).inertia_)}}
    (out / "kmeans.json").write_text(json.dumps(kmeans, indent=1) + "\n")
    print("wrote", ", ".join(p.name for p in sorted(out.glob("*.json"))))


if __name__ == "__main__":
    main()
