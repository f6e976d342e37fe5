"""Builds the two servers' models from the same table for the serving benchmark.

Writes into OUT: ames_numeric.csv (the numeric columns of the bundled ames.csv), an MLflow lightgbm-flavour model
(mlflow_model/), the mlcycle project (project/mlcycle.yaml) with the same gbdt parameters, and the request bodies:
single-row and 1000-row JSON for the native API and for MLflow's /invocations.
"""
import json
import os
import sys

import lightgbm
import mlflow.lightgbm
import pandas as pd
from mlflow.models import infer_signature

ames, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
frame = pd.read_csv(ames)
numeric = frame.select_dtypes("number").drop(columns=["rownames"])
# Every feature as float64, so MLflow's schema enforcement accepts any JSON number for it.
features = numeric.drop(columns=["Sale_Price"]).astype("float64")
numeric = pd.concat([features, numeric["Sale_Price"]], axis=1)
numeric.to_csv(f"{out}/ames_numeric.csv", index=False)

# The same parameters as the mlcycle candidate below (and as Benchmarks/learn).
model = lightgbm.LGBMRegressor(n_estimators=500, learning_rate=0.05, num_leaves=31, max_bin=255,
                               min_child_samples=20, verbose=-1)
model.fit(features, numeric["Sale_Price"])
path = f"{out}/mlflow_model"
if os.path.exists(path):
    import shutil
    shutil.rmtree(path)
mlflow.lightgbm.save_model(model, path, signature=infer_signature(features, model.predict(features)))

os.makedirs(f"{out}/project", exist_ok=True)
with open(f"{out}/project/mlcycle.yaml", "w") as f:
    f.write(f"""# Written by Benchmarks/serve/prepare.py: the served side of the serving benchmark.
problem: {{name: ames, task: regression, target: Sale_Price}}
sources:
  - {{name: ames, path: ../ames_numeric.csv}}
split: {{method: random, test: 0.2, seed: 42}}
candidates:
  - {{name: baseline, learner: linear}}
  - {{name: gbdt, learner: gbdt, params: {{n_estimators: 500, learning_rate: 0.05, num_leaves: 31}}}}
evaluation:
  metric: rmse
  gates: ["rmse <= baseline"]
release: {{auto_promote: true}}
""")

def records(n):
    rows = features.head(n)
    return json.loads(rows.to_json(orient="records"))

for n, name in [(1, "single"), (1000, "batch")]:
    recs = records(n)
    with open(f"{out}/{name}_native.json", "w") as f:
        json.dump({"records": recs}, f)
    with open(f"{out}/{name}_mlflow.json", "w") as f:
        json.dump({"dataframe_records": recs}, f)
print(f"{len(features.columns)} features, {len(features)} rows")
