"""After the flip, a Prometheus that cannot say how the new colour does never lets `ops promote` record the
release as done: the whole path (HTTP client, gates, promote loop, state machine) fails closed back to the
previous colour. Prometheus is scripted over HTTP (httpx.MockTransport), so the real client parses NaN and
connection errors exactly as it would from a server."""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from rich.console import Console

import ops.prometheus
from components.prometheus_rules import gate_queries
from ops.bench_decision import MemoryDriver, deployed_view
from ops.cli_common import SimulatedClock, prometheus_gates
from ops.drift import StackView
from ops.promote import assumed_smoke, run_release

# A healthy canary by the default thresholds (1 %, 500 ms, 100 requests).
HEALTHY = {"request_count": "500", "error_ratio": "0.001", "p95_latency_seconds": "0.2"}


def short_release() -> MemoryDriver:
    """The prod stack's release with minute-long soaks and one extension, no page-alert gate."""
    view = deployed_view("prod")
    gates = view.release.gates.model_copy(update={"interval": "30s", "maxExtensions": 1, "holdOnPageAlerts": False})
    release = view.release.model_copy(update={"soak": "60s", "stabilization": "60s", "gates": gates})
    return MemoryDriver(StackView(view.config.model_copy(update={"release": release}), view.outputs))


def scripted(driver: MemoryDriver, after_flip: str) -> httpx.MockTransport:
    """Healthy answers until green is active; then `after_flip`: 'nan' answers NaN, 'down' refuses to connect."""

    def handle(request: httpx.Request) -> httpx.Response:
        flipped = driver.view.release.activeColor == "green"
        if flipped and after_flip == "down":
            raise httpx.ConnectError("connection refused", request=request)
        promql = parse_qs(request.content.decode())["query"][0]
        window = re.search(r"\[([0-9]+[sm])\]", promql)
        assert window, promql
        kind = next(field for color in ("blue", "green")
                    for field, query in asdict(gate_queries(color, window.group(1))).items() if query == promql)
        value = "NaN" if flipped else HEALTHY[kind]
        body = {"status": "success", "data": {"resultType": "vector",
                                              "result": [{"metric": {}, "value": [0, value]}]}}
        return httpx.Response(200, content=json.dumps(body))

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("after_flip", ["nan", "down"])
def test_no_data_after_the_flip_rolls_back_to_the_previous_colour_never_done(monkeypatch, after_flip: str):
    driver = short_release()
    transport = scripted(driver, after_flip)
    real_client = ops.prometheus.PrometheusClient

    def client(base_url: str, **options: Any) -> ops.prometheus.PrometheusClient:
        return real_client(base_url, **{**options, "transport": transport})

    monkeypatch.setattr(ops.prometheus, "PrometheusClient", client)
    clock = SimulatedClock()
    driver.clock = clock
    result = run_release(driver, prometheus_gates("http://prometheus.invalid:9090", clock), assumed_smoke, clock,
                         Console(file=io.StringIO()))

    assert [up.kind for up, _, _ in driver.calls] == ["start", "advance", "advance", "advance", "flip", "rollback"]
    assert result.exit_code == 1, result.message
    assert "fail closed" in result.message and "done" not in [v.decision for v in driver.view.release.history]
    assert (driver.view.release.activeColor, driver.view.release.canaryWeight) == ("blue", 0)
