#!/usr/bin/env python3
"""LightGBM reference accuracy for mlcycle's gradient boosting, on fixed train/test files.

Usage (from the repository root):
    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install pandas numpy lightgbm
    /tmp/ref/bin/python Tests/Fixtures/learn/make_gbdt_fixtures.py [../shared/data] [Tests/Fixtures/learn]

Writes gbdt_houses_{train,test}.csv (Ames: Sale_Price from 14 numeric and categorical features, ~4 % of
Gr_Liv_Area blanked so missing values occur), gbdt_churn_{train,test}.csv (churn from 8 features incl. the
51-level `state`), and gbdt.json with LightGBM's test RMSE / log-loss for the parameters there
(categorical features passed as pandas categories, so LightGBM splits them natively), and scikit-learn's
DecisionTree / RandomForest(100 trees) test RMSE or accuracy and AUC (text one-hot, missing numbers mean-filled),
LightGBM's absolute-error boosting (test MAE) and 0.9-quantile boosting (test pinball loss and coverage),
and LightGBM's multiclass (softmax) test log-loss predicting Bldg_Type (5 classes) on the house files, with
scikit-learn's DecisionTreeClassifier / RandomForestClassifier accuracy and log-loss on the same task.
"""
import json
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

NA = ["", "NA", "NaN", "null", "N/A"]
PARAMS = dict(num_leaves=31, learning_rate=0.1, n_estimators=100, min_child_samples=20, max_bin=255,
              reg_lambda=0.0, subsample=1.0, colsample_bytree=1.0, n_jobs=2, deterministic=True, verbose=-1)


def split(df, n_train, n_test, seed):
    order = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[np.sort(order[:n_train])], df.iloc[np.sort(order[n_train:n_train + n_test])]


def fit(train, test, target, objective):
    x_train, x_test = train.drop(columns=[target]).copy(), test.drop(columns=[target]).copy()
    for c in x_train.columns:
        if not pd.api.types.is_numeric_dtype(x_train[c]):
            cats = sorted(x_train[c].dropna().unique())
            x_train[c] = pd.Categorical(x_train[c], categories=cats)
            x_test[c] = pd.Categorical(x_test[c], categories=cats)
    if objective == "regression":
        model = lgb.LGBMRegressor(objective="regression", **PARAMS).fit(x_train, train[target])
        pred = model.predict(x_test)
        return {"rmse": float(np.sqrt(np.mean((pred - test[target]) ** 2)))}
    y_train = (train[target] == "yes").astype(int)
    y_test = (test[target] == "yes").astype(int).to_numpy()
    model = lgb.LGBMClassifier(objective="binary", **PARAMS).fit(x_train, y_train)
    p = np.clip(model.predict_proba(x_test)[:, 1], 1e-15, 1 - 1e-15)
    return {"logloss": float(-np.mean(y_test * np.log(p) + (1 - y_test) * np.log(1 - p)))}


def fit_multiclass(train, test, target):
    """LightGBM multiclass (softmax) log-loss, classes in sorted order."""
    x_train, x_test = train.drop(columns=[target]).copy(), test.drop(columns=[target]).copy()
    for c in x_train.columns:
        if not pd.api.types.is_numeric_dtype(x_train[c]):
            cats = sorted(x_train[c].dropna().unique())
            x_train[c] = pd.Categorical(x_train[c], categories=cats)
            x_test[c] = pd.Categorical(x_test[c].where(x_test[c].isin(cats)), categories=cats)
    classes = sorted(train[target].unique())
    y_train = train[target].map({c: i for i, c in enumerate(classes)})
    y_test = test[target].map({c: i for i, c in enumerate(classes)}).to_numpy()
    model = lgb.LGBMClassifier(objective="multiclass", **PARAMS).fit(x_train, y_train)
    p = np.clip(model.predict_proba(x_test), 1e-15, 1)
    return {"target": target, "classes": [str(c) for c in classes], "logloss": float(-np.mean(np.log(p[np.arange(len(y_test)), y_test])))}


def fit_robust(train, test, target):
    """LightGBM's regression_l1 (test MAE) and quantile at alpha 0.9 (test pinball loss)."""
    x_train, x_test = train.drop(columns=[target]).copy(), test.drop(columns=[target]).copy()
    for c in x_train.columns:
        if not pd.api.types.is_numeric_dtype(x_train[c]):
            cats = sorted(x_train[c].dropna().unique())
            x_train[c] = pd.Categorical(x_train[c], categories=cats)
            x_test[c] = pd.Categorical(x_test[c].where(x_test[c].isin(cats)), categories=cats)
    y = test[target].to_numpy()
    l1 = lgb.LGBMRegressor(objective="regression_l1", **PARAMS).fit(x_train, train[target]).predict(x_test)
    q = lgb.LGBMRegressor(objective="quantile", alpha=0.9, **PARAMS).fit(x_train, train[target]).predict(x_test)
    d = y - q
    return {"l1_mae": float(np.mean(np.abs(l1 - y))), "quantile_0.9_pinball": float(np.mean(np.where(d >= 0, 0.9 * d, -0.1 * d))),
            "quantile_0.9_coverage": float(np.mean(y <= q))}


def sklearn_trees(train, test, target, objective):
    """scikit-learn's DecisionTree and RandomForest (100 trees) with one-hot text and mean-filled numbers."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    x_train, x_test = train.drop(columns=[target]), test.drop(columns=[target])
    text = [c for c in x_train.columns if not pd.api.types.is_numeric_dtype(x_train[c])]
    d_train = pd.get_dummies(x_train, columns=text, dtype=float)
    d_test = pd.get_dummies(x_test, columns=text, dtype=float).reindex(columns=d_train.columns, fill_value=0)
    means = d_train.mean()
    d_train, d_test = d_train.fillna(means), d_test.fillna(means)
    out = {}
    if objective == "regression":
        for name, model in [("sklearn_tree", DecisionTreeRegressor(random_state=0)), ("sklearn_forest", RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=2))]:
            pred = model.fit(d_train, train[target]).predict(d_test)
            out[name] = {"rmse": float(np.sqrt(np.mean((pred - test[target]) ** 2)))}
    elif objective == "multiclass":
        classes = sorted(train[target].unique())
        y_train = train[target].map({c: i for i, c in enumerate(classes)})
        y_test = test[target].map({c: i for i, c in enumerate(classes)}).to_numpy()
        for name, model in [("sklearn_tree", DecisionTreeClassifier(random_state=0)), ("sklearn_forest", RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2))]:
            p = np.clip(model.fit(d_train, y_train).predict_proba(d_test), 1e-15, 1)
            out[name] = {"accuracy": float(np.mean(p.argmax(axis=1) == y_test)),
                         "logloss": float(-np.mean(np.log(p[np.arange(len(y_test)), y_test])))}
    else:
        y_train, y_test = (train[target] == "yes").astype(int), (test[target] == "yes").astype(int).to_numpy()
        for name, model in [("sklearn_tree", DecisionTreeClassifier(random_state=0)), ("sklearn_forest", RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2))]:
            p = model.fit(d_train, y_train).predict_proba(d_test)[:, 1]
            from sklearn.metrics import roc_auc_score
            out[name] = {"accuracy": float(np.mean((p > 0.5) == (y_test == 1))), "auc": float(roc_auc_score(y_test, p))}
    return out


def main():
    here = Path(__file__).resolve().parent
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2].parent / "shared/data"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else here
    ames = pd.read_csv(data / "ames.csv", keep_default_na=False, na_values=NA)
    cols = ["Sale_Price", "Gr_Liv_Area", "Year_Built", "Year_Remod_Add", "Lot_Area", "Total_Bsmt_SF", "Garage_Area",
            "First_Flr_SF", "Full_Bath", "TotRms_AbvGrd", "Fireplaces", "Neighborhood", "Bldg_Type", "Overall_Cond", "Kitchen_Qual"]
    cols = [c for c in cols if c in ames.columns]
    houses = ames[cols].copy()
    blank = np.random.default_rng(3).random(len(houses)) < 0.04
    houses.loc[blank, "Gr_Liv_Area"] = np.nan
    h_train, h_test = split(houses, 1600, 600, 11)
    churn = pd.read_csv(data / "churn.csv", keep_default_na=False, na_values=NA)
    ccols = ["churn", "state", "account_length", "international_plan", "voice_mail_plan", "total_day_minutes",
             "total_eve_minutes", "total_intl_calls", "number_customer_service_calls"]
    c_train, c_test = split(churn[ccols], 2000, 1000, 12)
    for name, frame in [("gbdt_houses_train", h_train), ("gbdt_houses_test", h_test), ("gbdt_churn_train", c_train), ("gbdt_churn_test", c_test)]:
        frame.to_csv(out / f"{name}.csv", index=False)
    result = {"generated_by": f"lightgbm {lgb.__version__}, pandas {pd.__version__}", "parameters": PARAMS,
              "houses": {"target": "Sale_Price", **fit(h_train, h_test, "Sale_Price", "regression"),
                         **fit_robust(h_train, h_test, "Sale_Price"),
                         **sklearn_trees(h_train, h_test, "Sale_Price", "regression")},
              "churn": {"target": "churn", **fit(c_train, c_test, "churn", "binary"), **sklearn_trees(c_train, c_test, "churn", "binary")},
              "houses_multiclass": {**fit_multiclass(h_train, h_test, "Bldg_Type"), **sklearn_trees(h_train, h_test, "Bldg_Type", "multiclass")}}
    (out / "gbdt.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
