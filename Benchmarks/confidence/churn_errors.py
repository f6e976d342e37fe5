"""Can anything point at the churn example's errors? The churn model's test errors by confidence tenth, for the
model's own doubt and for an error model fitted out of fold (the usual remedy when a model's probability is
overconfident), with LightGBM on the example's own columns, split and parameters.

Usage: python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy pandas scikit-learn lightgbm
       /tmp/ref/bin/python Benchmarks/confidence/churn_errors.py      (prints the table in churn_errors.md)
"""
import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

data = pd.read_csv("examples/churn/data/churn.csv").drop(columns=["rownames"])
for c in ["state", "area_code", "international_plan", "voice_mail_plan"]:
    data[c] = data[c].astype("category")
minutes = ["total_day_minutes", "total_eve_minutes", "total_night_minutes", "total_intl_minutes"]
charges = ["total_day_charge", "total_eve_charge", "total_night_charge", "total_intl_charge"]
data["total_minutes"] = data[minutes].sum(axis=1)
data["total_charge"] = data[charges].sum(axis=1)
data = data.drop(columns=charges)
y = (data.pop("churn") == "yes").astype(int).values
x_train, x_test, y_train, y_test = train_test_split(data, y, test_size=0.25, stratify=y, random_state=42)
params = dict(n_estimators=300, learning_rate=0.05, num_leaves=15, verbose=-1)

p = lgb.LGBMClassifier(**params).fit(x_train, y_train).predict_proba(x_test)[:, 1]
wrong = (p > 0.5) != y_test


def tenths(confidence):
    """Error rate (%) per tenth of the test rows, least confident first."""
    order = np.argsort(confidence, kind="stable")
    return [100 * wrong[g].mean() for g in np.array_split(order, 10)]


# Out-of-fold answers on the training rows, and where they were wrong.
oof = np.zeros(len(y_train))
for fit, held in StratifiedKFold(5, shuffle=True, random_state=1).split(x_train, y_train):
    model = lgb.LGBMClassifier(**params).fit(x_train.iloc[fit], y_train[fit])
    oof[held] = model.predict_proba(x_train.iloc[held])[:, 1]
oof_wrong = ((oof > 0.5) != y_train).astype(int)
with_p_train, with_p_test = x_train.assign(p=oof), x_test.assign(p=p)
error_model = lgb.LGBMClassifier(n_estimators=100, learning_rate=0.05, num_leaves=4, verbose=-1)
p_error = error_model.fit(with_p_train, oof_wrong).predict_proba(with_p_test)[:, 1]
p_error_inputs = error_model.fit(x_train, oof_wrong).predict_proba(x_test)[:, 1]

print(f"{len(y_test)} test customers, {wrong.sum()} answered wrong; the wrong ones' churn probability: "
      f"{', '.join(f'{v:.3f}' for v in np.sort(p[wrong]))}")
print()
print("| confidence from | error rate per tenth, least confident first (%) |")
print("|---|---|")
rows = [("the model's doubt (1 − probability of its answer)", -np.minimum(p, 1 - p)),
        ("an error model on the inputs and the out-of-fold probability", -p_error),
        ("an error model on the inputs alone", -p_error_inputs)]
for name, confidence in rows:
    print(f"| {name} | {' · '.join(f'{v:.1f}' for v in tenths(confidence))} |")
