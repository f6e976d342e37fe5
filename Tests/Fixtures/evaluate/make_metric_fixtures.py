#!/usr/bin/env python3
"""Reference values for mlcycle's evaluation metrics, computed by scikit-learn.

Usage: python3 make_metric_fixtures.py [OUT_DIR]   (writes metrics.json next to this script by default)

Fixed pseudo-random data (numpy seed 7): 300 house-price-like regression pairs, 400 binary labels with scores that
include ties, 350 rows of a 4-class problem with probability rows. For each, scikit-learn's own functions:
mean_squared_error (root), mean_absolute_error, mean_absolute_percentage_error, median of the absolute percentage
errors, r2_score and the share within 10 % / 20 %; accuracy, precision, recall, f1, roc_auc_score,
average_precision_score (PR AUC), log_loss, brier_score_loss, confusion_matrix at 0.5 and at 0.3, and from
precision_recall_curve the threshold with the highest recall whose precision is at least 0.8 (the higher
threshold on equal recall) and the highest
threshold whose recall is at least 0.9; multiclass accuracy, log_loss, f1 (macro and weighted), confusion_matrix.
"""
import json
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn import metrics

rng = np.random.default_rng(7)
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent

# Regression: prices with multiplicative error.
actual = np.round(rng.lognormal(12, 0.4, 300), 2)
predicted = np.round(actual * rng.normal(1, 0.12, 300) + rng.normal(0, 5000, 300), 2)
ape = np.abs(predicted - actual) / np.abs(actual)
regression = {"actual": actual.tolist(), "predicted": predicted.tolist(),
              "rmse": float(np.sqrt(metrics.mean_squared_error(actual, predicted))),
              "mae": float(metrics.mean_absolute_error(actual, predicted)),
              "mape": float(metrics.mean_absolute_percentage_error(actual, predicted)),
              "median_ape": float(np.median(ape)),
              "r2": float(metrics.r2_score(actual, predicted)),
              "within_10pct": float(np.mean(ape <= 0.10)), "within_20pct": float(np.mean(ape <= 0.20))}

# Binary: scores rounded to two decimals so that ties occur.
labels = rng.random(400) < 0.3
scores = np.clip(np.round(0.3 * labels + rng.normal(0.35, 0.2, 400), 2), 0.001, 0.999)
binary = {"positive": labels.tolist(), "probability": scores.tolist()}
for threshold, suffix in [(0.5, ""), (0.3, "_at_0.3")]:
    pred = scores >= threshold
    binary.update({f"accuracy{suffix}": float(metrics.accuracy_score(labels, pred)),
                   f"precision{suffix}": float(metrics.precision_score(labels, pred, zero_division=0)),
                   f"recall{suffix}": float(metrics.recall_score(labels, pred)),
                   f"f1{suffix}": float(metrics.f1_score(labels, pred)),
                   # rows: actual negative, positive; columns: predicted negative, positive
                   f"confusion{suffix}": metrics.confusion_matrix(labels, pred, labels=[False, True]).tolist()})
binary.update({"auc": float(metrics.roc_auc_score(labels, scores)),
               "pr_auc": float(metrics.average_precision_score(labels, scores)),
               "logloss": float(metrics.log_loss(labels, scores)),
               "brier": float(metrics.brier_score_loss(labels, scores))})
precision, recall, thresholds = metrics.precision_recall_curve(labels, scores)
precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
ok = np.flatnonzero(precision >= 0.8)
best = ok[recall[ok] == recall[ok].max()]
i = int(best[np.argmax(thresholds[best])])  # equal recall: the higher threshold (fewer false positives)
binary["for_precision_0.8"] = {"threshold": float(thresholds[i]), "precision": float(precision[i]), "recall": float(recall[i])}
ok = recall >= 0.9
i = int(np.flatnonzero(ok)[np.argmax(thresholds[ok])])
binary["for_recall_0.9"] = {"threshold": float(thresholds[i]), "precision": float(precision[i]), "recall": float(recall[i])}

# Multiclass: 4 classes, probability rows from a softmax of noisy scores.
k, n = 4, 350
y = rng.integers(0, k, n)
z = rng.normal(0, 1, (n, k)) + 1.5 * np.eye(k)[y]
p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
pred = p.argmax(axis=1)
multiclass = {"actual": y.tolist(), "probabilities": p.ravel().tolist(), "classes": k,
              "accuracy": float(metrics.accuracy_score(y, pred)), "logloss": float(metrics.log_loss(y, p)),
              "macro_f1": float(metrics.f1_score(y, pred, average="macro")),
              "weighted_f1": float(metrics.f1_score(y, pred, average="weighted")),
              "confusion": metrics.confusion_matrix(y, pred, labels=list(range(k))).tolist()}

result = {"generated_by": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}",
          "regression": regression, "binary": binary, "multiclass": multiclass}
(out / "metrics.json").write_text(json.dumps(result) + "\n")
print({key: {m: v for m, v in section.items() if not isinstance(v, list)} for key, section in result.items() if isinstance(section, dict)})
