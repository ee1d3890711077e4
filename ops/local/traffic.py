"""The local stack's traffic: a steady request rate split between the colours as the live cluster routes it,
served as the API's metrics for the local Prometheus to scrape (`python -m ops.local.traffic`, started by
`ops local up`).

kwok runs no containers, so no API pod answers a request; this process stands in for the API's metrics.
Each tick it reads what the API server holds (the Services' `version` selectors and the canary Ingress's
weight), sends `RATE` requests per second to the colours in that proportion, and counts them with the names
and labels the recording rules and the gates query (components/prometheus_rules.py): `http_requests_total`
by status and `http_request_duration_seconds_bucket`, labelled `version`. It is the edge too: each request is
also counted as ingress-nginx counts it (`nginx_ingress_controller_requests` by the Ingress that routed it,
served on /edge/metrics for the `ingress-nginx` job), so the edge SLO rules are fed and its metrics-absent
alert stays quiet as on a real cluster. The behaviour of a colour (error share, latency) comes from a
control file that `ops local traffic` writes. It also copies the rules the
stack deployed (ConfigMap prometheus-rules) into the local Prometheus and reloads it when they change.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

from components import prometheus_rules as rules
from components.routers.base import ACTIVE_SERVICE, CANARY_SERVICE
from components.routers.nginx import CANARY_INGRESS, MAIN_INGRESS, NGINX
from ops.local.cluster import API_URL, EDGE_METRICS_PATH, https_get

RATE = 40  # requests per second, all colours together
TICK = 0.25  # seconds
HEALTHY_LATENCY = 0.05  # seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NAMESPACE = "doc-rag-prod"
RULES_NAMESPACE, RULES_CONFIGMAP = "doc-rag-monitoring", "prometheus-rules"


def api_get(path: str) -> Optional[dict[str, Any]]:
    body = https_get(f"{API_URL}{path}", "admin")
    return json.loads(body) if body else None


Routes = dict[str, tuple[float, str, str]]  # colour -> (share of requests, Ingress and Service routing them)


def live_routes() -> Routes:
    """How the live objects route requests to each colour; {} while the stack is not deployed."""
    active = api_get(f"/api/v1/namespaces/{NAMESPACE}/services/{ACTIVE_SERVICE}")
    canary = api_get(f"/api/v1/namespaces/{NAMESPACE}/services/{CANARY_SERVICE}")
    ingress = api_get(f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/{CANARY_INGRESS}")
    if active is None:
        return {}
    active_color = active["spec"].get("selector", {}).get(rules.COLOR_LABEL)
    canary_color = (canary or {}).get("spec", {}).get("selector", {}).get(rules.COLOR_LABEL)
    annotations = (ingress or {}).get("metadata", {}).get("annotations", {})
    text = annotations.get(f"{NGINX}/canary-weight", "0") if annotations.get(f"{NGINX}/canary") == "true" else "0"
    weight = min(int(text), 100) if text.isdigit() else 0  # as ingress-nginx reads a malformed weight: no canary
    if not active_color:
        return {}
    active_route = (MAIN_INGRESS, ACTIVE_SERVICE)
    if not canary_color or weight == 0:
        return {active_color: (1.0, *active_route)}
    return {active_color: ((100 - weight) / 100, *active_route),
            canary_color: (weight / 100, CANARY_INGRESS, CANARY_SERVICE)}


class Metrics:
    """Counters and histogram buckets per colour, rendered in Prometheus' text format."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        self.edge: dict[tuple[str, str, str], int] = {}  # (ingress, service, status) -> requests

    def observe(self, color: str, status: str, seconds: float, ingress: str, service: str) -> None:
        with self.lock:
            self.requests[(color, status)] = self.requests.get((color, status), 0) + 1
            self.edge[(ingress, service, status)] = self.edge.get((ingress, service, status), 0) + 1
            counts = self.buckets.setdefault(color, [0] * (len(BUCKETS) + 1))
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            counts[-1] += 1  # +Inf
            self.sums[color] = self.sums.get(color, 0.0) + seconds

    def exposition(self) -> str:
        with self.lock:
            lines = [f"# TYPE {rules.REQUESTS} counter"]
            for (color, status), count in sorted(self.requests.items()):
                labels = f'method="GET",status="{status}",{rules.COLOR_LABEL}="{color}"'
                lines.append(f"{rules.REQUESTS}{{{labels}}} {count}")
            histogram = rules.DURATION_BUCKETS.removesuffix("_bucket")
            lines.append(f"# TYPE {histogram} histogram")
            for color, counts in sorted(self.buckets.items()):
                for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                    lines.append(f'{histogram}_bucket{{le="{bound}",{rules.COLOR_LABEL}="{color}"}} {count}')
                lines.append(f'{histogram}_sum{{{rules.COLOR_LABEL}="{color}"}} {self.sums[color]}')
                lines.append(f'{histogram}_count{{{rules.COLOR_LABEL}="{color}"}} {counts[-1]}')
        return "\n".join(lines) + "\n"

    def edge_exposition(self) -> str:
        with self.lock:
            lines = [f"# TYPE {rules.EDGE_REQUESTS} counter"]
            for (ingress, service, status), count in sorted(self.edge.items()):
                labels = (f'ingress="{ingress}",method="GET",namespace="{NAMESPACE}",service="{service}",'
                          f'status="{status}"')
                lines.append(f"{rules.EDGE_REQUESTS}{{{labels}}} {count}")
        return "\n".join(lines) + "\n"


def behaviour(control: Path) -> dict[str, dict[str, float]]:
    """colour -> {errorShare, latency} from the control file ({} = every colour healthy)."""
    try:
        return json.loads(control.read_text())
    except (OSError, ValueError):
        return {}


def send_requests(metrics: Metrics, routes: Routes, control: Path, count: int) -> None:
    if not routes:
        return
    colors = sorted(routes)
    settings = behaviour(control)
    for color in random.choices(colors, weights=[routes[color][0] for color in colors], k=count):
        setting = settings.get(color, {})
        failed = random.random() < float(setting.get("errorShare", 0.0))
        latency = float(setting.get("latency", HEALTHY_LATENCY)) * random.uniform(0.8, 1.2)
        metrics.observe(color, "500" if failed else "200", latency, *routes[color][1:])


def sync_rules(rules_dir: Path, prometheus_url: str, known: Optional[str]) -> Optional[str]:
    """Copy the deployed rules into Prometheus' rule directory; reload Prometheus when they changed."""
    configmap = api_get(f"/api/v1/namespaces/{RULES_NAMESPACE}/configmaps/{RULES_CONFIGMAP}")
    text = ((configmap or {}).get("data") or {}).get(rules.RULES_FILE)
    if text is None or text == known:
        return known
    (rules_dir / rules.RULES_FILE).write_text(text)
    try:
        urllib.request.urlopen(urllib.request.Request(f"{prometheus_url}/-/reload", method="POST"), timeout=5).close()
    except (OSError, urllib.error.URLError):
        return known  # retried on the next tick
    return text


def run(port: int, control: Path, rules_dir: Path, prometheus_url: str) -> None:
    metrics = Metrics()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            pages = {"/metrics": metrics.exposition, EDGE_METRICS_PATH: metrics.edge_exposition}
            body = pages[self.path]().encode() if self.path in pages else b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - scrapes are not worth a log line
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    routes: Routes = {}
    known_rules: Optional[str] = None
    last_read = 0.0
    while True:
        if time.monotonic() - last_read >= 1.0:  # the routing and rules as the API server holds them now
            routes = live_routes()
            known_rules = sync_rules(rules_dir, prometheus_url, known_rules)
            last_read = time.monotonic()
        send_requests(metrics, routes, control, round(RATE * TICK))
        time.sleep(TICK)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.local.traffic", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--rules-dir", type=Path, required=True)
    parser.add_argument("--prometheus-url", required=True)
    args = parser.parse_args()
    run(args.port, args.control, args.rules_dir, args.prometheus_url)


if __name__ == "__main__":
    main()
