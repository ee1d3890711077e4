"""Gates against a REAL Prometheus (Debian's /usr/bin/prometheus), fed synthetic series by backfill.

The test writes OpenMetrics for several scenarios, each in its own 10-minute slot, turns it into TSDB
blocks with `promtool tsdb create-blocks-from openmetrics`, starts Prometheus on 127.0.0.1 (a free
port, a temporary data dir, no scrape targets) and evaluates the gates at the end of each slot with
the very PromQL the recording rules use (components/prometheus_rules.gate_queries). The server is
stopped in the fixture's teardown.
"""

from __future__ import annotations

import contextlib
import math
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import yaml

from components.config import GatesConfig
from components.prometheus_rules import JOB, gate_queries, page_alerts, render_rules
from ops.gates import evaluate, page_alerts_gate, step_window
from ops.prometheus import PrometheusClient, PrometheusError
from tests.conftest import require_tool

SCRAPE = 15  # seconds between synthetic samples
SLOT = 600  # each scenario: 10 minutes of data
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Traffic:
    """One colour's traffic in a scenario: requests per second, share of 5xx, typical latency."""

    rps: float
    error_share: float = 0.001
    latency: float = 0.08
    # The colour served like this until `switched` seconds before the slot's end (then as above).
    before: "Traffic | None" = None
    switched: int = 0

    def at(self, before_end: float) -> "Traffic":
        return self.before if self.before is not None and before_end > self.switched else self


# scenario -> {colour: traffic}; a colour absent from a scenario has no series at all there.
SCENARIOS: dict[str, dict[str, Traffic]] = {
    "healthy": {"blue": Traffic(100), "green": Traffic(10)},
    "errors": {"blue": Traffic(100), "green": Traffic(10, error_share=0.2)},
    "worse_than_stable": {"blue": Traffic(100, error_share=0.0), "green": Traffic(10, error_share=0.008)},
    "slow": {"blue": Traffic(100), "green": Traffic(10, latency=2.0)},
    "no_traffic": {"blue": Traffic(100)},
    "low_traffic": {"blue": Traffic(100), "green": Traffic(0.1)},
    # 15 of 30 requests fail: a bad ratio on too little traffic to judge
    "low_traffic_errors": {"blue": Traffic(100), "green": Traffic(0.1, error_share=0.5)},
    # just under and just over the absolute 1 %, with a stable colour as bad (the relative gate stays out of it)
    "just_under_one_percent": {"blue": Traffic(100, error_share=0.009), "green": Traffic(10, error_share=0.009)},
    "just_over_one_percent": {"blue": Traffic(100, error_share=0.011), "green": Traffic(10, error_share=0.011)},
    # the last canary step (weight 100): blue's series exist but stay flat, green takes every request
    "all_on_canary": {"blue": Traffic(0), "green": Traffic(100)},
    # green was the healthy stable colour until 2 minutes ago; since its canary step began it fails 20 %
    "recently_stable": {"blue": Traffic(100), "green": Traffic(2, error_share=0.2, before=Traffic(100), switched=120)},
}


def _labels(color: str, **extra: str) -> str:
    pairs = {"job": JOB, "version": color, "method": "GET", **extra}
    return ",".join(f'{key}="{value}"' for key, value in pairs.items())


def openmetrics(start: float) -> tuple[str, dict[str, float]]:
    """The whole synthetic history and, per scenario, the time its gates are evaluated at."""
    requests: list[str] = []
    buckets: list[str] = []
    ends: dict[str, float] = {}
    for index, (name, colors) in enumerate(SCENARIOS.items()):
        slot_start = start + index * 2 * SLOT  # a gap between slots keeps 5m windows apart
        ends[name] = slot_start + SLOT
        for color, traffic in colors.items():
            ok_lines, err_lines, bucket_lines = [], [], {le: [] for le in (*BUCKETS, math.inf)}
            total = errors = 0.0
            fast = {le: 0.0 for le in bucket_lines}
            for tick in range(SLOT // SCRAPE + 1):
                at = slot_start + tick * SCRAPE
                now = traffic.at(SLOT - tick * SCRAPE)
                served = now.rps * SCRAPE if tick else 0.0
                total, errors = total + served, errors + served * now.error_share
                ok_lines.append(f"http_requests_total{{{_labels(color, status='200')}}} {total - errors:.3f} {at:.0f}")
                err_lines.append(f"http_requests_total{{{_labels(color, status='503')}}} {errors:.3f} {at:.0f}")
                for le in bucket_lines:
                    fast[le] += served if now.latency <= le else 0.0
                    bound = "+Inf" if le == math.inf else repr(le)
                    series = f"http_request_duration_seconds_bucket{{{_labels(color, le=bound)}}}"
                    bucket_lines[le].append(f"{series} {fast[le]:.3f} {at:.0f}")
            requests += ok_lines + err_lines
            for lines in bucket_lines.values():
                buckets += lines
    text = "\n".join([
        "# HELP http_requests Requests served.", "# TYPE http_requests counter", *requests,
        "# HELP http_request_duration_seconds Request duration.", "# TYPE http_request_duration_seconds histogram",
        *buckets, "# EOF", "",
    ])
    return text, ends


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    ends: dict[str, float]


@contextlib.contextmanager
def serve(work: Path, config: dict, data: Path) -> Iterator[str]:
    """Debian's Prometheus on a free 127.0.0.1 port with `config`; its URL while the block runs, stopped after."""
    binary = require_tool("prometheus", "Debian package prometheus (make setup installs it)")
    config_file = work / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (work / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={config_file}", f"--storage.tsdb.path={data}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail("prometheus did not start:\n" + (work / "prometheus.log").read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The backfilled scenarios, and our real rules loaded (none of the page alerts can fire here: the burn
    rates have no recent data, and the metrics-absent alerts wait 5 minutes)."""
    promtool = require_tool("promtool", "Debian package prometheus (make setup installs it)")
    work = tmp_path_factory.mktemp("prometheus")
    data = work / "data"
    data.mkdir()
    start = (time.time() // 3600) * 3600 - 4 * 3600  # recent enough for the default retention
    text, ends = openmetrics(start)
    source = work / "series.om"
    source.write_text(text)
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                   check=True, capture_output=True, timeout=120)
    (work / "doc-rag.yml").write_text(render_rules("green", 0))
    config = {"global": {"scrape_interval": "15s"}, "rule_files": [str(work / "doc-rag.yml")], "scrape_configs": []}
    with serve(work, config, data) as url:
        yield Server(url, ends)


def _statuses(server: Server, scenario: str, baseline: str | None = "blue", window: str = "5m"
              ) -> tuple[str, dict[str, str], dict]:
    with PrometheusClient(server.url) as client:
        report = evaluate(client, GatesConfig(), "green", baseline, at=server.ends[scenario], window=window)
    return report.verdict, {g.gate: g.status for g in report.gates}, {g.gate: g for g in report.gates}


def test_healthy_canary_passes(prometheus: Server):
    verdict, statuses, gates = _statuses(prometheus, "healthy")
    assert verdict == "pass", gates
    assert statuses == {"requests": "pass", "errorRatio": "pass", "errorRatioVsStable": "pass", "p95Latency": "pass",
                        "pageAlerts": "pass"}
    assert gates["pageAlerts"].value == 0
    assert gates["requests"].value == pytest.approx(10 * 300, rel=0.1)  # increase over the rules' 5m window
    assert gates["errorRatio"].value == pytest.approx(0.001, rel=0.05)
    assert gates["p95Latency"].value <= 0.1
    assert gates["errorRatio"].query == gate_queries("green").error_ratio  # the rules' own expression


def test_5xx_canary_fails_naming_gate_value_threshold_and_samples(prometheus: Server):
    verdict, statuses, gates = _statuses(prometheus, "errors")
    assert verdict == "fail"
    assert statuses["errorRatio"] == "fail" and statuses["errorRatioVsStable"] == "fail"
    assert gates["errorRatio"].value == pytest.approx(0.2, rel=0.05)
    assert gates["errorRatio"].threshold == 0.01 and gates["errorRatio"].samples and gates["errorRatio"].samples > 100
    assert statuses["p95Latency"] == "pass"


def test_canary_worse_than_stable_fails_the_relative_gate_only(prometheus: Server):
    verdict, statuses, gates = _statuses(prometheus, "worse_than_stable")
    assert verdict == "fail"
    assert statuses["errorRatio"] == "pass"  # 0.8 % is under the absolute 1 %
    assert statuses["errorRatioVsStable"] == "fail"
    assert gates["errorRatioVsStable"].value == pytest.approx(0.008, rel=0.1)


def test_slow_canary_fails_the_latency_gate(prometheus: Server):
    verdict, statuses, gates = _statuses(prometheus, "slow")
    assert verdict == "fail" and statuses["p95Latency"] == "fail"
    assert gates["p95Latency"].value > 1.0 and gates["p95Latency"].threshold == 0.5


def test_no_traffic_is_insufficient_never_a_pass(prometheus: Server):
    verdict, statuses, gates = _statuses(prometheus, "no_traffic")
    assert verdict == "insufficient"
    assert statuses == {"requests": "nodata", "errorRatio": "nodata", "errorRatioVsStable": "nodata",
                        "p95Latency": "nodata", "pageAlerts": "pass"}
    assert gates["errorRatio"].value is None


def test_too_few_requests_is_insufficient_even_with_good_ratios(prometheus: Server):
    verdict, statuses, gates = _statuses(prometheus, "low_traffic")
    assert verdict == "insufficient"
    assert statuses["requests"] == "nodata" and gates["requests"].value == pytest.approx(30, rel=0.2)
    assert statuses["errorRatio"] == "pass"


def test_too_few_requests_is_insufficient_even_when_half_of_them_fail(prometheus: Server):
    verdict, statuses, gates = _statuses(prometheus, "low_traffic_errors")
    assert verdict == "insufficient"
    assert statuses["requests"] == "nodata" and gates["requests"].value == pytest.approx(30, rel=0.2)
    assert statuses["errorRatio"] == "fail" and gates["errorRatio"].value == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("scenario,verdict,ratio", [("just_under_one_percent", "pass", 0.009),
                                                     ("just_over_one_percent", "fail", 0.011)])
def test_the_absolute_error_ratio_threshold_sits_between_0_9_and_1_1_percent(prometheus: Server, scenario: str,
                                                                               verdict: str, ratio: float):
    overall, statuses, gates = _statuses(prometheus, scenario)
    assert (overall, statuses["errorRatio"]) == (verdict, verdict), gates
    assert gates["errorRatio"].value == pytest.approx(ratio, rel=0.02)
    assert statuses["errorRatioVsStable"] == "pass"


def test_all_traffic_on_the_canary_skips_the_relative_gate_and_passes(prometheus: Server):
    """At weight 100 the stable colour serves nothing: its ratio is 0/0, which is no reason to fail closed."""
    verdict, statuses, gates = _statuses(prometheus, "all_on_canary")
    assert verdict == "pass", gates
    assert statuses == {"requests": "pass", "errorRatio": "pass", "errorRatioVsStable": "skip", "p95Latency": "pass",
                        "pageAlerts": "pass"}
    skipped = gates["errorRatioVsStable"]
    assert skipped.value is None and skipped.threshold == 0.005
    assert skipped.reason == "stable blue served 0 requests in the window (fewer than minRequests 100): no baseline"
    assert gate_queries("blue").request_count in skipped.query  # what was asked, for the report


def test_a_step_is_judged_on_its_own_traffic_not_on_what_the_colour_served_before(prometheus: Server):
    """green served healthily as the stable colour until its canary step began 2 minutes ago: over 5 minutes its
    20 % errors drown in the old traffic, over the step's own window (what `ops promote` asks) they fail it."""
    diluted, _, _ = _statuses(prometheus, "recently_stable")
    assert diluted == "pass"  # the blind spot a fixed window has
    verdict, statuses, gates = _statuses(prometheus, "recently_stable", window=step_window(120))
    assert verdict == "fail" and statuses["errorRatio"] == "fail"
    assert gates["errorRatio"].value == pytest.approx(0.2, rel=0.1) and "[120s]" in gates["errorRatio"].query
    assert gates["requests"].value == pytest.approx(2 * 120, rel=0.15)


def test_step_window_is_the_step_age_capped_at_the_rules_window():
    assert [step_window(age) for age in (None, 0, 4.2, 120, 299.5, 300, 3600)] == [
        "5m", "1s", "5s", "120s", "300s", "5m", "5m"]


def test_after_the_flip_there_is_no_baseline(prometheus: Server):
    verdict, statuses, _ = _statuses(prometheus, "healthy", baseline=None)
    assert verdict == "pass" and statuses["errorRatioVsStable"] == "skip"


def test_client_reads_nan_empty_and_errors(prometheus: Server):
    with PrometheusClient(prometheus.url) as client:
        empty = client.query('http_requests_total{job="no-such-job"}')
        assert empty.series == 0 and math.isnan(empty.value) and not empty.has_data
        nan = client.query("vector(0) / vector(0)")
        assert nan.series == 1 and math.isnan(nan.value) and not nan.has_data
        assert client.query("vector(2)").value == 2.0
        with pytest.raises(PrometheusError, match="bad_data"):
            client.query("sum(")
        assert client.healthy()[0] and client.ready()[0]


def test_unreachable_prometheus_counts_as_no_data():
    with PrometheusClient(f"http://127.0.0.1:{_free_port()}", timeout=1) as client:
        with pytest.raises(PrometheusError):
            client.query("vector(1)")
        report = evaluate(client, GatesConfig(), "green", "blue")
    assert report.verdict == "insufficient" and {g.status for g in report.gates} == {"nodata"}


def test_readiness_probe_asks_ready_and_one_query(prometheus: Server):
    from ops.cli_common import prometheus_problem

    assert prometheus_problem(prometheus.url) is None
    down = f"http://127.0.0.1:{_free_port()}"
    problem = prometheus_problem(down, timeout=1)
    assert problem is not None and f"{down}/-/ready" in problem


# -- the fifth gate: our page alerts, from Prometheus' alerts API -------------------------------------------------

def _alert(name: str, severity: str, expr: str = "vector(1)") -> dict:
    return {"alert": name, "expr": expr, "labels": {"severity": severity}}


def test_a_firing_page_alert_of_ours_holds_the_step_and_nothing_else_does(tmp_path: Path):
    """Only our own page alerts hold: a ticket, someone else's page alert and a pending one do not."""
    fast, medium = page_alerts()[:2]
    rules = {"groups": [{"name": "test", "interval": "1s", "rules": [
        _alert(fast, "page"),
        {**_alert(medium, "page"), "for": "1h"},  # pending, not firing
        _alert("SomeoneElsesAlert", "page"),
        _alert("DocRagErrorBudgetBurnSlow", "ticket"),
    ]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    data = tmp_path / "data"
    data.mkdir()
    with serve(tmp_path, {"global": {"evaluation_interval": "1s"}, "rule_files": [str(tmp_path / "rules.yml")]},
               data) as url, PrometheusClient(url) as client:
        deadline = time.time() + 30
        while not any(a["labels"]["alertname"] == fast and a["state"] == "firing" for a in client.alerts()):
            assert time.time() < deadline, client.alerts()
            time.sleep(0.2)
        held = page_alerts_gate(client, GatesConfig())
        assert held.status == "hold" and held.value == 1 and held.reason == f"firing: {fast}"
        report = evaluate(client, GatesConfig(minRequests=1), "green", None)
        assert report.verdict == "insufficient" and report.held  # held, never passed
        ignored = page_alerts_gate(client, GatesConfig(holdOnPageAlerts=False))
        assert ignored.status == "skip" and "holdOnPageAlerts is false" in ignored.reason


def test_page_alerts_fail_closed_when_prometheus_cannot_say(prometheus: Server, tmp_path: Path):
    with PrometheusClient(f"http://127.0.0.1:{_free_port()}", timeout=1) as client:
        unreachable = page_alerts_gate(client, GatesConfig())
    assert unreachable.status == "nodata" and "cannot say" in unreachable.reason
    data = tmp_path / "data"
    data.mkdir()
    with serve(tmp_path, {"global": {"evaluation_interval": "1s"}}, data) as url, PrometheusClient(url) as client:
        unloaded = page_alerts_gate(client, GatesConfig())
    assert unloaded.status == "nodata" and "none of our page alert rules loaded" in unloaded.reason
