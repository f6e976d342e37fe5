"""Times the UI's pages against the MLflow server's answers for the same views, one request at a time, each on a new
loopback connection (MLflow's server closes kept-alive ones): 3 to warm up, then 30 timed; prints the medians, the 95th percentiles and their ratio as a Markdown table.

mlcycle's time is a whole HTML page, rendered; MLflow's is the JSON its React UI fetches for that view, before the
browser renders it, so MLflow's side is the lower bound of its page's time.

Usage: measure.py MLCYCLE_PORT MLFLOW_PORT
"""
import base64
import http.client
import json
import statistics
import sys
import time
import urllib.parse

mlcycle_port, mlflow_port = int(sys.argv[1]), int(sys.argv[2])
TIMED, WARM = 30, 3


class Client:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        if response.status != 200:
            raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
        return data


def timed(client, calls):
    """Milliseconds of each of TIMED repetitions of `calls` (a list of requests made one after the other)."""
    times = []
    for i in range(WARM + TIMED):
        begin = time.perf_counter()
        for method, path, body in calls:
            client.request(method, path, body)
        if i >= WARM:
            times.append((time.perf_counter() - begin) * 1000)
    return times


ours, theirs = Client(mlcycle_port), Client(mlflow_port)
api = "/ajax-api/2.0/mlflow"


def search(max_results=50, offset=0, filter_string=""):
    body = {"experiment_ids": ["0"], "max_results": max_results, "order_by": ["attributes.start_time DESC"],
            "filter": filter_string}
    if offset:
        body["page_token"] = base64.b64encode(json.dumps({"offset": offset}).encode()).decode()
    return ("POST", f"{api}/runs/search", body)


runs = json.loads(theirs.request(*search(max_results=2)))["runs"]
run_ids = [r["info"]["run_id"] for r in runs]
listed = ours.request("GET", "/ui/runs?stage=train").decode()
ids = [part.split('"')[0] for part in listed.split('name="run" value="')[1:3]]
versions = ("POST", f"{api}/model-versions/search", None)
views = [
    ("runs, first page (50)", [("GET", "/ui/runs", None)], [search()]),
    ("runs, page 150 (50)", [("GET", "/ui/runs?page=150", None)], [search(offset=149 * 50)]),
    ("runs of one learner (50)", [("GET", "/ui/runs?learner=gbdt", None)],
     [search(filter_string="params.learner = 'gbdt'")]),
    ("one run", [("GET", f"/ui/runs/{ids[0]}", None)], [("GET", f"{api}/runs/get?run_id={run_ids[0]}", None)]),
    ("two runs compared", [("GET", f"/ui/compare?run={ids[0]}&run={ids[1]}", None)],
     [("GET", f"{api}/runs/get?run_id={r}", None) for r in run_ids]),
    ("a model: aliases, 50 newest of 1,000 versions", [("GET", "/ui/models/prices", None)],
     [("GET", f"{api}/registered-models/get?name=prices", None),
      ("GET", f"{api}/model-versions/search?" + urllib.parse.urlencode(
          {"filter": "name='prices'", "max_results": 50, "order_by": "version_number DESC"}), None)]),
    ("one version", [("GET", "/ui/models/prices/500", None)],
     [("GET", f"{api}/model-versions/get?name=prices&version=500", None)]),
    ("projects", [("GET", "/ui/", None)], [("GET", f"{api}/experiments/search?max_results=50", None)]),
]
print("| view | mlcycle median ms | p95 | MLflow median ms | p95 | ratio (median) |")
print("|---|---:|---:|---:|---:|---:|")
for name, mine, other in views:
    a, b = timed(ours, mine), timed(theirs, other)
    q = lambda xs: statistics.quantiles(xs, n=20)[18]  # noqa: E731
    print(f"| {name} | {statistics.median(a):.1f} | {q(a):.1f} | {statistics.median(b):.1f} | {q(b):.1f} | "
          f"{statistics.median(a) / statistics.median(b):.2f}× |")
