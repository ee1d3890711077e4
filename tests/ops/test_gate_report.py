"""What each gate reports beside its status: the value, threshold, sample count, query and note that `ops promote`
prints in its gate table and writes into the stack's verdicts. Prometheus is scripted (no server); the expected
thresholds are the documented defaults written as literals (docs/operations.md)."""

from __future__ import annotations

import math
from typing import Any, Optional

import pytest

from components.config import GatesConfig
from components.prometheus_rules import gate_queries, page_alerts
from ops.gates import PAGE_ALERTS_QUERY, evaluate, page_alerts_gate
from ops.prometheus import PrometheusError, QueryResult

GATES = GatesConfig(maxErrorRatio=0.01, maxErrorRatioVsStable=0.005, maxP95Latency="500ms", minRequests=100,
                    holdOnPageAlerts=False)
PAGE = GATES.model_copy(update={"holdOnPageAlerts": True})
NO_SERIES = None  # the query answers an empty vector


class Scripted:
    """Answers the gate queries of green (canary) and blue (stable) over `window`; any other query is a test bug.
    `alerts` are Prometheus' active alerts; `rules` the alerting rule names it has loaded."""

    def __init__(self, window: str = "5m", *, requests: float = 500, ratio: float = 0.004, p95: float = 0.2,
                 stable_requests: Optional[float] = 5000, stable_ratio: float = 0.001,
                 alerts: Optional[list[dict[str, Any]]] = None, rules: tuple[str, ...] = (), down: bool = False):
        green, blue = gate_queries("green", window), gate_queries("blue", window)
        self.answers = {green.request_count: requests, green.error_ratio: ratio, green.p95_latency_seconds: p95,
                        blue.request_count: stable_requests, blue.error_ratio: stable_ratio}
        self._alerts, self._rules, self.down = alerts or [], rules, down

    def query(self, promql: str, at: Optional[float] = None) -> QueryResult:
        if self.down:
            raise PrometheusError("connection refused")
        value = self.answers[promql]
        return QueryResult(promql, math.nan, 0) if value is None else QueryResult(promql, value, 1)

    def alerts(self) -> list[dict[str, Any]]:
        if self.down:
            raise PrometheusError("connection refused")
        return self._alerts

    def alerting_rules(self) -> list[dict[str, Any]]:
        if self.down:
            raise PrometheusError("connection refused")
        return [{"name": name} for name in self._rules]


def firing(name: str, severity: str = "page", state: str = "firing") -> dict[str, Any]:
    return {"state": state, "labels": {"alertname": name, "severity": severity}}


def by_gate(report) -> dict[str, tuple]:
    return {g.gate: (g.status, g.value, g.threshold, g.samples, g.query, g.reason) for g in report.gates}


def test_every_gate_reports_its_value_threshold_samples_and_query():
    green, blue = gate_queries("green"), gate_queries("blue")
    report = evaluate(Scripted(), GATES, "green", "blue")
    gates = by_gate(report)
    assert report.verdict == "pass"
    assert gates["requests"] == ("pass", 500, 100.0, 500, green.request_count, "")
    assert gates["errorRatio"] == ("pass", 0.004, 0.01, 500, green.error_ratio, "")
    status, value, threshold, samples, query, reason = gates["errorRatioVsStable"]
    assert (status, threshold, samples, reason) == ("pass", 0.005, 500, "")
    assert value == pytest.approx(0.003)
    assert query == f"({green.error_ratio})\n-\n({blue.error_ratio})"
    assert gates["p95Latency"] == ("pass", 0.2, 0.5, 500, green.p95_latency_seconds, "")


def test_the_stable_colour_is_asked_over_the_steps_own_window():
    # Only the 120s queries are scripted: a stable query over another window would be a KeyError.
    report = evaluate(Scripted("120s", ratio=0.02, stable_ratio=0.02), GATES, "green", "blue", window="120s")
    gates = by_gate(report)
    assert gates["errorRatioVsStable"][0] == "pass" and "[120s]" in gates["errorRatioVsStable"][4]
    assert report.verdict == "fail" and gates["errorRatio"][0] == "fail"


def test_after_the_flip_the_relative_gate_is_skipped_saying_why():
    gates = by_gate(evaluate(Scripted(), GATES, "green", None))
    assert gates["errorRatioVsStable"] == ("skip", None, 0.005, None, "",
                                           "after the flip: no stable colour to compare with")


@pytest.mark.parametrize("stable_requests,reason", [
    (99, "stable blue served 99 requests in the window (fewer than minRequests 100): no baseline"),
    (NO_SERIES, "stable blue has no request series in the window (fewer than minRequests 100): no baseline"),
])
def test_too_little_stable_traffic_skips_the_relative_gate_naming_what_it_served(stable_requests, reason: str):
    report = evaluate(Scripted(stable_requests=stable_requests), GATES, "green", "blue")
    status, value, threshold, samples, query, why = by_gate(report)["errorRatioVsStable"]
    assert (status, value, threshold, samples, query, why) == (
        "skip", None, 0.005, 500, gate_queries("blue").request_count, reason)
    assert report.verdict == "pass"


def test_a_hundred_stable_requests_are_a_baseline():
    # 100 is minRequests: judged, and the canary's 0.8 points over the stable colour fail it.
    report = evaluate(Scripted(stable_requests=100, ratio=0.009, stable_ratio=0.001), GATES, "green", "blue")
    assert by_gate(report)["errorRatioVsStable"][0] == "fail" and report.verdict == "fail"


# -- pageAlerts -------------------------------------------------------------------------------------------------

def test_page_alerts_off_is_a_skip_saying_so():
    verdict = page_alerts_gate(Scripted(), GATES)
    assert (verdict.status, verdict.query, verdict.reason) == ("skip", PAGE_ALERTS_QUERY,
                                                               "release.gates.holdOnPageAlerts is false")


def test_no_page_alert_firing_passes_with_an_empty_note():
    ours = page_alerts()
    verdict = page_alerts_gate(Scripted(rules=ours, alerts=[
        firing(ours[0], state="pending"), firing(ours[1], severity="ticket"), firing("SomeoneElses"),
        {"state": "firing"},  # an alert without labels is not ours
    ]), PAGE)
    assert (verdict.status, verdict.value, verdict.threshold, verdict.query, verdict.reason) == (
        "pass", 0.0, 0.0, PAGE_ALERTS_QUERY, "")


def test_firing_page_alerts_hold_the_step_and_are_named():
    ours = page_alerts()
    backend = Scripted(rules=ours, alerts=[firing(ours[1]), firing(ours[0]), firing(ours[0])])
    verdict = page_alerts_gate(backend, PAGE)
    assert (verdict.status, verdict.value, verdict.threshold, verdict.query, verdict.reason) == (
        "hold", 2.0, 0.0, PAGE_ALERTS_QUERY, f"firing: {', '.join(sorted(ours[:2]))}")
    # every other gate passes: the held step is insufficient, never a pass
    report = evaluate(backend, PAGE, "green", "blue")
    assert report.verdict == "insufficient" and report.held


def test_page_alerts_are_no_data_when_prometheus_cannot_say():
    unreachable = page_alerts_gate(Scripted(down=True), PAGE)
    assert (unreachable.status, unreachable.threshold, unreachable.query, unreachable.reason) == (
        "nodata", 0.0, PAGE_ALERTS_QUERY, "Prometheus cannot say: connection refused")
    unloaded = page_alerts_gate(Scripted(rules=("SomeoneElses",)), PAGE)
    assert (unloaded.status, unloaded.threshold, unloaded.query, unloaded.reason) == (
        "nodata", 0.0, PAGE_ALERTS_QUERY, "Prometheus has none of our page alert rules loaded, so it cannot say "
                                          "whether the error budget burns")
