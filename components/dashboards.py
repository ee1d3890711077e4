"""Grafana provisioning as data: the Prometheus datasource, the dashboard provider, "Doc-RAG System Overview".

The dashboard's first two panels keep their expressions verbatim (README, deviation 10), and the panels a
canary step is judged by follow: error ratio and p95 per colour, the configured canary weight against the
measured traffic split, the error-budget burn rate of the 99.9 % SLO, and the edge's error ratio (ingress-nginx)
against the API's. Per-colour panels read the
recorded series of components/prometheus_rules.py, so what the dashboard shows is what the gates use.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from components import prometheus_rules as rules

DATASOURCE_UID = "prometheus"
DASHBOARD_UID = "doc-rag-overview"
DASHBOARD_TITLE = "Doc-RAG System Overview"
DASHBOARD_FILE = "doc-rag-overview.json"  # key in the grafana-dashboards ConfigMap
DASHBOARDS_DIR = "/etc/grafana/dashboards"  # where that ConfigMap is mounted


def datasources_yaml(prometheus_url: str) -> str:
    return yaml.safe_dump({
        "apiVersion": 1,
        "datasources": [{
            "name": "Prometheus",
            "uid": DATASOURCE_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": prometheus_url,
            "isDefault": True,
            "editable": False,
            "jsonData": {"timeInterval": "15s"},  # the scrape interval: no rate window below it
        }],
    }, sort_keys=False)


def provider_yaml() -> str:
    return yaml.safe_dump({
        "apiVersion": 1,
        "providers": [{
            "name": "doc-rag",
            "orgId": 1,
            "folder": "Doc-RAG",
            "type": "file",
            # The dashboards are code: edits in the UI would be lost on the next `pulumi up`.
            "disableDeletion": True,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
        }],
    }, sort_keys=False)


def _target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
            "expr": expr, "legendFormat": legend}


def _panel(panel_id: int, title: str, targets: list[dict[str, Any]], unit: str, x: int, y: int,
           description: str = "", thresholds: tuple[float, ...] = ()) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    colors = ("orange", "red", "dark-red")[: len(thresholds)]
    steps += [{"color": color, "value": value} for color, value in zip(colors, thresholds, strict=True)]
    return {
        "id": panel_id,
        "title": title,
        "description": description,
        # "timeseries": the "graph" panel type was removed with Angular in Grafana 11.
        "type": "timeseries",
        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                "custom": {"thresholdsStyle": {"mode": "line" if thresholds else "off"}},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": targets,
    }


def overview_dashboard() -> dict[str, Any]:
    burn = [_target(f"{rules.slo_ratio_record(window)} / {rules.ERROR_BUDGET}", f"burn rate over {window}", ref)
            for ref, window in zip("ABCD", ("5m", "1h", "6h", "3d"), strict=True)]
    panels = [
        # Request rate and latency: expressions and legends verbatim.
        _panel(1, "Request Rate", [_target("rate(http_requests_total[5m])", "{{method}} {{status}}")],
               "reqps", 0, 0),
        _panel(2, "Response Time",
               [_target("histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))",
                        "95th percentile")], "s", 12, 0),
        _panel(3, "Error ratio per colour (5xx / all)",
               [_target(rules.RECORD_ERROR_RATIO, "{{version}}")], "percentunit", 0, 8,
               "Share of requests answered with 5xx, per release colour. A canary step is held back when its "
               "colour is above the stable one.", (rules.ERROR_BUDGET, 14.4 * rules.ERROR_BUDGET)),
        _panel(4, "p95 latency per colour", [_target(rules.RECORD_P95_LATENCY, "{{version}}")], "s", 12, 8,
               "95th percentile of request duration per release colour."),
        _panel(5, "Canary weight: configured vs measured",
               [_target(rules.RECORD_CANARY_WEIGHT, "configured weight ({{version}})", "A"),
                _target(f"100 * {rules.RECORD_TRAFFIC_SHARE}", "measured share ({{version}})", "B")],
               "percent", 0, 16,
               "Configured: release.canaryWeight from the stack (recorded by Prometheus on every pulumi up). "
               "Measured: each colour's share of the requests actually served. They should agree within a few "
               "percent once traffic has settled."),
        _panel(6, "Error-budget burn rate (99.9 % SLO)", burn, "x", 12, 16,
               "How many times faster than sustainable the 30-day error budget is being spent. 1 = the budget "
               "lasts exactly 30 days. Pages fire at 14.4 (1h and 5m) and 6 (6h and 30m); a ticket at 1 (3d "
               "and 6h).", (1, 6, 14.4)),
        _panel(7, "Request rate per colour", [_target(rules.RECORD_REQUEST_RATE, "{{version}}")], "reqps", 0, 24),
        _panel(8, "Edge vs API error ratio (5xx / all)",
               [_target(rules.edge_ratio_record("5m"), "edge: NGINX, both Ingresses", "A"),
                _target(rules.slo_ratio_record("5m"), "API", "B")], "percentunit", 12, 24,
               "What clients get from ingress-nginx against what the API answered. Edge above API: NGINX fails "
               "requests the API never sees (503 for a Service without endpoints, 502/504 upstream errors).",
               (rules.ERROR_BUDGET, 14.4 * rules.ERROR_BUDGET)),
    ]
    return {
        "id": None,
        "uid": DASHBOARD_UID,
        "title": DASHBOARD_TITLE,
        "tags": ["doc-rag"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def overview_json() -> str:
    return json.dumps(overview_dashboard(), indent=2, sort_keys=False)


def dashboard_expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target: what the plan check parses with promtool."""
    return [(panel["title"], target["expr"]) for panel in dashboard.get("panels", [])
            for target in panel.get("targets", []) if target.get("expr")]
