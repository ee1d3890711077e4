"""The gates' judgement at its edges, against a scripted Prometheus (no server): thresholds pinned at their
boundary, too few requests never judged, missing data never a pass. tests/ops/test_gates_prometheus.py runs
the same queries on a real Prometheus."""

from __future__ import annotations

import math
from typing import Any, Optional

import pytest

from components.config import GatesConfig
from components.prometheus_rules import gate_queries
from ops.gates import evaluate
from ops.prometheus import PrometheusError, QueryResult

# The thresholds as written in docs/operations.md and Pulumi.yaml: 1 % absolute, 0.5 points above the
# stable colour, p95 500 ms, at least 100 requests in the window.
GATES = GatesConfig(maxErrorRatio=0.01, maxErrorRatioVsStable=0.005, maxP95Latency="500ms", minRequests=100,
                    holdOnPageAlerts=False)
NO_DATA = math.nan


class ScriptedPrometheus:
    """Answers each gate query of the canary (green) and the stable colour (blue) with a chosen value."""

    def __init__(self, *, requests: float = 500, ratio: float = 0.001, p95: float = 0.2,
                 stable_requests: float = 5000, stable_ratio: float = 0.001, down: bool = False):
        green, blue = gate_queries("green"), gate_queries("blue")
        self.answers = {green.request_count: requests, green.error_ratio: ratio, green.p95_latency_seconds: p95,
                        blue.request_count: stable_requests, blue.error_ratio: stable_ratio}
        self.down = down

    def query(self, promql: str, at: Optional[float] = None) -> QueryResult:
        if self.down:
            raise PrometheusError("connection refused")
        value = self.answers[promql]
        return QueryResult(promql, value, 0 if math.isnan(value) else 1)

    def alerts(self) -> list[dict[str, Any]]:
        return []

    def alerting_rules(self) -> list[dict[str, Any]]:
        return []


def judge(**answers: float) -> tuple[str, dict[str, str]]:
    report = evaluate(ScriptedPrometheus(**answers), GATES, "green", "blue")
    return report.verdict, {gate.gate: gate.status for gate in report.gates}


@pytest.mark.parametrize("ratio,verdict", [(0.0, "pass"), (0.0099, "pass"), (0.01, "pass"), (0.0101, "fail"),
                                           (0.2, "fail")])
def test_the_absolute_error_ratio_breaches_just_above_one_percent(ratio: float, verdict: str):
    # A stable colour as bad keeps the relative gate out of it.
    overall, gates = judge(ratio=ratio, stable_ratio=ratio)
    assert (overall, gates["errorRatio"]) == (verdict, verdict)
    assert gates["errorRatioVsStable"] == "pass"


@pytest.mark.parametrize("excess,verdict", [(0.0049, "pass"), (0.005, "pass"), (0.0051, "fail")])
def test_the_relative_gate_breaches_just_above_half_a_point_over_stable(excess: float, verdict: str):
    overall, gates = judge(ratio=0.002 + excess, stable_ratio=0.002)
    assert (overall, gates["errorRatioVsStable"]) == (verdict, verdict)


@pytest.mark.parametrize("p95,verdict", [(0.499, "pass"), (0.5, "pass"), (0.501, "fail")])
def test_p95_latency_breaches_just_above_500ms(p95: float, verdict: str):
    overall, gates = judge(p95=p95)
    assert (overall, gates["p95Latency"]) == (verdict, verdict)


@pytest.mark.parametrize("requests,verdict", [(99, "insufficient"), (100, "pass"), (101, "pass")])
def test_a_hundred_requests_are_enough_ninety_nine_are_not(requests: float, verdict: str):
    overall, gates = judge(requests=requests)
    assert overall == verdict and gates["requests"] == ("nodata" if requests < 100 else "pass")


def test_too_few_requests_are_insufficient_even_when_every_ratio_looks_bad():
    """1 error in 3 requests is noise: the report says insufficient, never fail (and never pass)."""
    overall, gates = judge(requests=3, ratio=0.34, p95=2.0, stable_ratio=0.0)
    assert overall == "insufficient"
    assert gates["errorRatio"] == "fail" and gates["p95Latency"] == "fail"  # each gate still says what it saw


@pytest.mark.parametrize("answers", [
    {"ratio": NO_DATA}, {"p95": NO_DATA}, {"requests": NO_DATA}, {"stable_ratio": NO_DATA}, {"down": True},
], ids=["no error ratio", "no latency", "no request count", "no stable ratio", "unreachable"])
def test_missing_data_anywhere_is_never_a_pass(answers: dict[str, Any]):
    overall, gates = judge(**answers)
    assert overall == "insufficient"
    assert "nodata" in gates.values()
