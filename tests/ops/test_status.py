"""`ops status`: where the release stands (colours, weight, phase, whether config is deployed, the last
verdicts, live drift and live gates), after a release, mid-canary, after a rollback, without the `pulumi`
CLI, with --watch, and bad input as exit 2. The stack is in memory (ops.bench_decision.MemoryDriver) or
the stack files alone."""

from __future__ import annotations

import io
import re
import socket
from typing import Any

import pytest
from rich.console import Console

import ops.status
from components.config import GatesConfig, GateVerdict
from ops.__main__ import main
from ops.bench_decision import MemoryDriver, deployed_view
from ops.cli_common import SimulatedClock
from ops.live_drift import DriftedField
from ops.promote import assumed_gates, assumed_smoke, run_release
from ops.release_state import GateReport, Observe, epoch
from ops.stackconfig import UsageError, load_stack_config
from ops.status import show_status
from tests.ops.test_drift import H, view_of


def _shown(view: Any, gates: Any = assumed_gates) -> str:
    out = io.StringIO()
    show_status(view, Console(file=out, width=200, highlight=False), gates=gates)
    return " ".join(out.getvalue().split())


def _released() -> MemoryDriver:
    """prod's stack after a healthy release of green (in memory, deployed with every `up`)."""
    driver = MemoryDriver(deployed_view("prod"))
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert result.exit_code == 0, result.message
    return driver


def _breach_at_25(observe: Observe, thresholds: GatesConfig) -> GateReport:
    bad = observe.reason == "soaking at 25%"  # the first evaluation after the advance to 25 %
    gate = GateVerdict(gate="errorRatio", status="fail" if bad else "pass", query="q", value=0.2 if bad else 0.0,
                       threshold=0.01, samples=500.0)
    return GateReport((gate,), "fail" if bad else "pass")


@pytest.fixture
def with_driver(monkeypatch: pytest.MonkeyPatch):
    """`ops status` through a driver (as with the `pulumi` CLI on PATH), the driver being the one given."""
    def use(driver: MemoryDriver) -> None:
        monkeypatch.setattr(ops.status, "pulumi_cli", lambda: "/usr/bin/pulumi")
        monkeypatch.setattr(ops.status, "make_driver", lambda *args: driver)
        monkeypatch.delenv("PROMETHEUS_URL", raising=False)
        monkeypatch.setenv("COLUMNS", "300")  # the verdict table's reason column unfolded
    return use


def test_status_shows_colours_weight_verdicts_and_live_gates():
    printed = _shown(_released().read())
    assert "green active, canary weight 0%" in printed and "deployed" in printed
    assert "doc-rag/api:v1.1.0" in printed and "stable for 900s after the flip" in printed
    assert "live gates for blue: pass" in printed  # the idle canary colour after the release


def test_status_mid_canary_shows_the_split_the_phase_and_asks_the_gates_of_the_step():
    view = view_of("blue", 25, H["advance25"], ("blue", 25, H["advance25"]))
    asked: list[Observe] = []

    def gates(observe: Observe, thresholds: GatesConfig) -> GateReport:
        asked.append(observe)
        return assumed_gates(observe, thresholds)

    printed = _shown(view, gates)
    assert "stack config: blue active, canary weight 25%, steps [5, 25, 50, 100]; deployed" in printed
    assert "release (canary)" in printed
    assert re.search(r"blue\s*│\s*active\s*│\s*doc-rag/api:v1\.0\.0\s*│\s*\d+\s*│\s*75%", printed), printed
    assert re.search(r"green\s*│\s*canary\s*│\s*doc-rag/api:v1\.1\.0\s*│\s*\d+\s*│\s*25%", printed), printed
    assert "advance" in printed and "gates passed at 5%" in printed
    assert "live gates for green: pass" in printed
    # the canary against the stable colour, over the traffic since the step began (its verdict's time)
    (observe,) = asked
    assert (observe.color, observe.baseline, observe.reason) == ("green", "blue", "status")
    assert observe.since == epoch(H["advance25"][-1].time)


def test_status_of_an_advance_whose_up_did_not_finish_says_the_config_is_not_deployed():
    view = view_of("blue", 25, H["advance25"], ("blue", 5, H["start5"]))
    printed = _shown(view, None)
    assert ("NOT deployed: advance to blue at 25% is in config but its up did not finish (promote or rollback "
            "re-applies it)") in printed
    assert "live gates for" not in printed  # no gate source: none asked


def test_status_after_a_rollback_shows_the_stable_colour_and_the_rollback_verdict(with_driver, capsys):
    driver = MemoryDriver(deployed_view("prod"))
    result = run_release(driver, _breach_at_25, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert result.exit_code == 1 and [up.kind for up, _, _ in driver.calls] == ["start", "advance", "rollback"]
    with_driver(driver)
    assert main(["status", "-s", "prod"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "stack config: blue active, canary weight 0%, steps [5, 25, 50, 100]; deployed" in printed
    assert "release (idle)" in printed
    assert "rollback" in printed and "gate breached at 25%: errorRatio 0.2 (threshold 0.01)" in printed
    assert "live drift: none (the live objects are what the stack deployed)" in printed
    assert "live gates: no Prometheus URL" in printed


def test_status_names_each_field_changed_outside_pulumi_and_the_way_out(with_driver, capsys):
    driver = _released()
    driver.drifted = (DriftedField("Ingress", "doc-rag-prod/api-ingress",
                                   'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]', "0", "30"),)
    with_driver(driver)
    assert main(["status", "-s", "prod"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "live drift: 1 field(s) changed outside Pulumi" in printed
    assert "Ingress doc-rag-prod/api-ingress" in printed and "stack '0', live '30'" in printed
    assert "`pulumi up --refresh --stack prod`" in printed


# -- status without the CLI, and --watch -------------------------------------------------------------------

def test_status_offline_says_the_deployed_state_is_unknown_and_asks_no_in_cluster_url(monkeypatch, capsys):
    monkeypatch.setattr(ops.status, "pulumi_cli", lambda: None)
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    assert main(["status", "-s", "prod"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "deployed state unknown: no pulumi CLI, showing Pulumi.prod.yaml only" in printed
    assert "live gates: no Prometheus URL" in printed  # the in-cluster output URL is not made up from a local run
    assert "svc" not in printed and "NOT deployed" not in printed


def test_status_watch_re_reads_the_stack_files_each_refresh(monkeypatch, capsys):
    monkeypatch.setattr(ops.status, "pulumi_cli", lambda: None)
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    edits = iter(["release.canaryWeight=5", "release.canaryWeight=25"])
    monkeypatch.setattr(ops.status, "load_stack_config", lambda stack: load_stack_config(stack, (next(edits),)))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise KeyboardInterrupt  # the operator's Ctrl-C ends --watch cleanly

    monkeypatch.setattr(ops.status, "sleep", sleep)
    assert main(["status", "-s", "prod", "--watch", "2"]) == 0
    printed = capsys.readouterr().out
    assert "canary weight 5%" in printed and "canary weight 25%" in printed and slept == [2.0, 2.0]
    stamps = re.findall(r"status of prod at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC \(every 2s; Ctrl-C stops\)", printed)
    assert len(stamps) == 2  # each refresh says when it was taken


def test_status_names_an_unreachable_prometheus_and_its_url(monkeypatch, capsys):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(ops.status, "pulumi_cli", lambda: None)
    monkeypatch.setenv("PROMETHEUS_URL", f"http://127.0.0.1:{port}")
    assert main(["status", "-s", "prod"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert (f"live gates: Prometheus at http://127.0.0.1:{port} (from $PROMETHEUS_URL) is not usable: not ready "
            f"(http://127.0.0.1:{port}/-/ready:") in printed
    assert "Connection refused" in printed
    assert "live gates for" not in printed  # no table of nodata pretending to be a reading


# -- bad input: exit 2 with the reason ---------------------------------------------------------------------

@pytest.mark.parametrize("watch", ["-5", "0", "soon"])
def test_status_watch_must_be_a_positive_number(capsys, watch):
    assert main(["status", "-s", "prod", "--watch", watch]) == 2
    assert "--watch" in capsys.readouterr().err


def test_status_without_a_stack_or_with_an_unknown_one_exits_2(monkeypatch, capsys):
    assert main(["status"]) == 2
    assert "the following arguments are required: -s/--stack" in capsys.readouterr().err
    monkeypatch.setattr(ops.status, "pulumi_cli", lambda: None)
    assert main(["status", "-s", "nope"]) == 2
    assert "error: unknown stack 'nope'" in capsys.readouterr().out


def test_status_refuses_a_prometheus_url_that_is_not_one(monkeypatch, capsys):
    monkeypatch.setattr(ops.status, "pulumi_cli", lambda: None)
    assert main(["status", "-s", "prod", "--prometheus-url", "ftp://example.org"]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "--prometheus-url = 'ftp://example.org': allowed: an http:// or https:// URL with a host" in printed


def test_status_watch_stops_with_exit_2_when_the_stack_file_breaks_between_refreshes(monkeypatch, capsys):
    monkeypatch.setattr(ops.status, "pulumi_cli", lambda: None)
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    reads = iter([load_stack_config("prod")])

    def load(stack: str):
        try:
            return next(reads)
        except StopIteration:
            raise UsageError("Pulumi.prod.yaml is not valid YAML at line 3, column 1") from None

    monkeypatch.setattr(ops.status, "load_stack_config", load)
    monkeypatch.setattr(ops.status, "sleep", lambda seconds: None)
    assert main(["status", "-s", "prod", "--watch", "1"]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "canary weight 0%" in printed  # the first refresh was shown
    assert "error: Pulumi.prod.yaml is not valid YAML at line 3, column 1" in printed
