#!/usr/bin/env python3
"""The model server spoken to by clients users already have: clients.py BASE_URL

- MLflow's scoring protocol with the payloads MLflow documents (pyfunc scoring server): dataframe_split,
  dataframe_records, instances, inputs and CSV, posted with `requests`; /ping and /version.
- The Open Inference Protocol v2 through NVIDIA's own client, tritonclient[http]: server liveness and readiness,
  model metadata, and an inference with one tensor per column.
Expects the server to serve the `prices` project of `mlcycle init` (area_sqft, rooms, district, built).
Exits non-zero on the first failed check.
"""
import sys

import numpy as np
import requests
import tritonclient.http as triton

base = sys.argv[1].rstrip("/")
rows = [{"id": 1, "area_sqft": 1500, "rooms": 3, "district": "north", "built": 1990},
        {"id": 2, "area_sqft": 2400, "rooms": 4, "district": "centre", "built": 2005}]
columns = list(rows[0].keys())


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


# MLflow scoring protocol
check(requests.get(f"{base}/ping").status_code == 200, "GET /ping")
check(requests.get(f"{base}/version").ok, "GET /version")
payloads = {
    "dataframe_split": {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}},
    "dataframe_records": {"dataframe_records": rows},
    "instances": {"instances": rows},
    "inputs": {"inputs": {c: [r[c] for r in rows] for c in columns}},
}
answers = {}
for name, payload in payloads.items():
    r = requests.post(f"{base}/invocations", json=payload)
    check(r.status_code == 200, f"/invocations {name} → {r.status_code} {r.text[:200]}")
    predictions = r.json()["predictions"]
    check(len(predictions) == 2 and all(isinstance(p, float) for p in predictions), f"{name}: two numeric predictions")
    answers[name] = predictions
check(len({tuple(round(p, 6) for p in a) for a in answers.values()}) == 1, "every MLflow payload shape gives the same answers")
csv = ",".join(columns) + "\n" + "\n".join(",".join(str(r[c]) for c in columns) for r in rows) + "\n"
r = requests.post(f"{base}/invocations", data=csv, headers={"Content-Type": "text/csv"})
check(r.status_code == 200 and len(r.json()["predictions"]) == 2, "/invocations text/csv")
r = requests.post(f"{base}/invocations", json={"dataframe_records": [{"area_sqft": "big"}]})
check(r.status_code == 400 and "error" in r.json(), "/invocations bad row → 400 with a message")

# Open Inference Protocol v2 with tritonclient
client = triton.InferenceServerClient(url=base.split("://", 1)[1])
check(client.is_server_live(), "v2 server live")
check(client.is_server_ready(), "v2 server ready")
check(client.is_model_ready("prices"), "v2 model ready")
metadata = client.get_model_metadata("prices")
check({i["name"] for i in metadata["inputs"]} >= {"area_sqft", "rooms", "district", "built"}, "v2 model metadata lists the inputs")
types = {"id": ("INT64", np.int64), "area_sqft": ("FP64", np.float64), "rooms": ("INT64", np.int64),
         "district": ("BYTES", np.object_), "built": ("INT64", np.int64)}
tensors = []
for name in columns:
    datatype, dtype = types[name]
    # the sample's area is a float column; send what the model's metadata says
    declared = next((i["datatype"] for i in metadata["inputs"] if i["name"] == name), datatype)
    dtype = {"FP64": np.float64, "INT64": np.int64, "BYTES": np.object_, "BOOL": np.bool_}[declared]
    t = triton.InferInput(name, [len(rows)], declared)
    t.set_data_from_numpy(np.array([r[name] for r in rows], dtype=dtype), binary_data=False)
    tensors.append(t)
result = client.infer("prices", tensors, outputs=[triton.InferRequestedOutput("prediction", binary_data=False)])
predictions = result.as_numpy("prediction")
check(predictions is not None and len(predictions) == 2, "v2 infer returns a prediction per row")
check(np.allclose(predictions, answers["dataframe_records"]), "v2 and MLflow protocols agree")
print("all client checks passed")
