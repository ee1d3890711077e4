"""Canary gates: the recording rules' own PromQL, judged against release.gates thresholds.

Four gates for the colour under test, each over the current step's own traffic: the window is the step's
age (at most 5m, see step_window), so a colour that served healthily as the stable one minutes ago does
not dilute the errors of its new canary:
  requests            increase(http_requests_total[window]) >= minRequests, else the ratios mean nothing
  errorRatio          5xx / all <= maxErrorRatio
  errorRatioVsStable  canary 5xx share - stable 5xx share <= maxErrorRatioVsStable (a difference, so a
                      stable colour at 0 % errors does not make every canary error fatal); `skip`, with
                      the reason, when the stable colour served fewer than minRequests in the window (at
                      weight 100 it serves nothing: its 0/0 is no evidence against the canary)
  p95Latency          histogram_quantile(0.95, ...) <= maxP95Latency
and one for the whole service (release.gates.holdOnPageAlerts):
  pageAlerts          no page-severity alert of our SLO rules firing (Prometheus' alerts API): while one
                      fires the error budget burns, so the step is held (`hold`) however good the canary
                      looks; `nodata` when Prometheus cannot say (unreachable, or our rules not loaded)
Missing data (empty vector, NaN, too few requests, Prometheus unreachable) is `nodata`, never `pass`:
the state machine extends the soak on it, then fails closed. Too few requests make the whole report
`insufficient` even when a ratio looks bad: 1 error in 3 requests is noise, not a verdict.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional, Protocol

from components.config import Color, GatesConfig, GateVerdict, duration_seconds
from components.prometheus_rules import GATE_WINDOW, gate_queries, page_alerts
from ops.prometheus import PrometheusError, QueryResult
from ops.release_state import GateReport, ReportVerdict


class QueryBackend(Protocol):
    def query(self, promql: str, at: Optional[float] = None) -> QueryResult: ...

    def alerts(self) -> list[dict[str, Any]]: ...

    def alerting_rules(self) -> list[dict[str, Any]]: ...


def _ask(backend: QueryBackend, promql: str, at: Optional[float]) -> QueryResult:
    try:
        return backend.query(promql, at)
    except PrometheusError as error:
        # unreachable counts as no data: extend, then fail closed
        return QueryResult(promql, math.nan, 0, error=str(error))


def _value(result: QueryResult) -> Optional[float]:
    return result.value if result.has_data else None


def _judge(value: Optional[float], threshold: float) -> Literal["pass", "fail", "nodata"]:
    if value is None:
        return "nodata"
    return "pass" if value <= threshold else "fail"


def step_window(age: Optional[float]) -> str:
    """The gates' PromQL window for a step that has run `age` seconds: its own traffic only, at most GATE_WINDOW
    (unknown age: GATE_WINDOW). Whole seconds, at least 1s (PromQL durations); a window shorter than two
    scrapes has no rate yet, which reads as no data."""
    longest = duration_seconds(GATE_WINDOW)
    if age is None or age >= longest:
        return GATE_WINDOW
    return f"{max(1, math.ceil(age))}s"


def evaluate(backend: QueryBackend, gates: GatesConfig, color: Color, baseline: Optional[Color],
             at: Optional[float] = None, window: str = GATE_WINDOW) -> GateReport:
    """Evaluate every gate for `color` over `window`; `baseline` is the stable colour (None after the flip: no
    baseline), judged over the same window."""
    canary = gate_queries(color, window)
    requests = _ask(backend, canary.request_count, at)
    samples = _value(requests)
    enough = samples is not None and samples >= gates.minRequests
    verdicts = [GateVerdict(gate="requests", status="pass" if enough else "nodata", query=requests.query,
                            value=samples, threshold=float(gates.minRequests), samples=samples)]

    ratio = _ask(backend, canary.error_ratio, at)
    canary_ratio = _value(ratio)
    verdicts.append(GateVerdict(gate="errorRatio", status=_judge(canary_ratio, gates.maxErrorRatio),
                                query=ratio.query, value=canary_ratio, threshold=gates.maxErrorRatio,
                                samples=samples))

    verdicts.append(_relative(backend, gates, ratio, samples, baseline, at, window))

    latency = _ask(backend, canary.p95_latency_seconds, at)
    max_latency = duration_seconds(gates.maxP95Latency)
    verdicts.append(GateVerdict(gate="p95Latency", status=_judge(_value(latency), max_latency), query=latency.query,
                                value=_value(latency), threshold=max_latency, samples=samples))
    verdicts.append(page_alerts_gate(backend, gates))
    return GateReport(tuple(verdicts), _overall(verdicts, enough))


PAGE_ALERTS_QUERY = "GET /api/v1/alerts: state firing, severity page, alertname one of our page alerts"


def page_alerts_gate(backend: QueryBackend, gates: GatesConfig) -> GateVerdict:
    """`hold` while one of our page alerts fires, `nodata` when Prometheus cannot say, else `pass`."""
    ours = set(page_alerts())
    if not gates.holdOnPageAlerts:
        return GateVerdict(gate="pageAlerts", status="skip", query=PAGE_ALERTS_QUERY,
                           reason="release.gates.holdOnPageAlerts is false")
    try:
        loaded = {rule.get("name") for rule in backend.alerting_rules()} & ours
        firing = sorted({alert["labels"]["alertname"] for alert in backend.alerts()
                         if alert.get("state") == "firing" and alert.get("labels", {}).get("alertname") in ours
                         and alert["labels"].get("severity") == "page"})
    except PrometheusError as error:
        return GateVerdict(gate="pageAlerts", status="nodata", query=PAGE_ALERTS_QUERY, threshold=0.0,
                           reason=f"Prometheus cannot say: {error}")
    if not loaded:
        return GateVerdict(gate="pageAlerts", status="nodata", query=PAGE_ALERTS_QUERY, threshold=0.0,
                           reason="Prometheus has none of our page alert rules loaded, so it cannot say whether "
                                  "the error budget burns")
    return GateVerdict(gate="pageAlerts", status="hold" if firing else "pass", query=PAGE_ALERTS_QUERY,
                       value=float(len(firing)), threshold=0.0,
                       reason=f"firing: {', '.join(firing)}" if firing else "")


def _relative(backend: QueryBackend, gates: GatesConfig, ratio: QueryResult, samples: Optional[float],
              baseline: Optional[Color], at: Optional[float], window: str) -> GateVerdict:
    """errorRatioVsStable: the canary's 5xx share minus the stable colour's, or `skip` without a baseline."""
    threshold = gates.maxErrorRatioVsStable
    if baseline is None:
        return GateVerdict(gate="errorRatioVsStable", status="skip", threshold=threshold,
                           reason="after the flip: no stable colour to compare with")
    stable_queries = gate_queries(baseline, window)
    stable_requests = _ask(backend, stable_queries.request_count, at)
    served = _value(stable_requests)
    # An answered query with (almost) no stable traffic is the last step's normal state, not missing data;
    # an unanswered one stays `nodata`.
    if not stable_requests.error and (served is None or served < gates.minRequests):
        what = "has no request series" if served is None else f"served {served:g} requests"
        return GateVerdict(gate="errorRatioVsStable", status="skip", query=stable_requests.query, threshold=threshold,
                           samples=samples, reason=f"stable {baseline} {what} in the window (fewer than "
                                                   f"minRequests {gates.minRequests}): no baseline")
    stable = _ask(backend, stable_queries.error_ratio, at)
    canary_ratio, stable_ratio = _value(ratio), _value(stable)
    excess = None if canary_ratio is None or stable_ratio is None else canary_ratio - stable_ratio
    return GateVerdict(gate="errorRatioVsStable", status=_judge(excess, threshold),
                       query=f"({ratio.query})\n-\n({stable.query})", value=excess, threshold=threshold,
                       samples=samples)


def _overall(verdicts: list[GateVerdict], enough: bool) -> ReportVerdict:
    """A breach with enough traffic fails; too few requests, missing data or a held step is insufficient."""
    if not enough:
        return "insufficient"
    if any(verdict.status == "fail" for verdict in verdicts):
        return "fail"
    if any(verdict.status in ("nodata", "hold") for verdict in verdicts):
        return "insufficient"
    return "pass"
