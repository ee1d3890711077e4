"""`ops promote` end to end, offline: every `up` is the real program under the SDK monitor (OfflineDriver),
time is a simulated clock, gates are scripted. The rendered manifests of each step must carry the weight the
state machine chose: the NGINX canary Ingress, the Istio VirtualService, the api-service selector and
the canary-weight series in the Prometheus rules."""

from __future__ import annotations

import io
from typing import Any, Optional

import pytest
import yaml
from rich.console import Console

from components.config import GatesConfig, GateVerdict
from components.prometheus_rules import RECORD_CANARY_WEIGHT, RULES_FILE
from ops.__main__ import main
from ops.cli_common import SimulatedClock
from ops.drift import StackView
from ops.driver import OfflineDriver
from ops.promote import PromoteResult, assumed_gates, assumed_smoke, run_release
from ops.release_state import GateReport, Observe, Up
from tests.conftest import PROJECT_DIR

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


def rendered_traffic(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the routers and the rules would do with the step's config."""
    seen: dict[str, Any] = {}
    for manifest in manifests.values():
        kind, meta = manifest["kind"], manifest.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if kind == "Ingress" and annotations.get(CANARY) == "true":
            seen["ingress"] = int(annotations[CANARY_WEIGHT])
        elif kind == "VirtualService":
            for route in manifest["spec"].get("http", []):
                weights = {d["destination"].get("subset"): d.get("weight", 100) for d in route.get("route", [])}
                if len(weights) == 2:
                    seen["mesh"] = weights
        elif kind == "Service" and meta.get("name") == "api-service":
            seen["service"] = manifest["spec"]["selector"]["version"]
        elif kind == "ConfigMap" and meta.get("name") == "prometheus-rules":
            for group in yaml.safe_load(manifest["data"][RULES_FILE])["groups"]:
                for rule in group["rules"]:
                    if rule.get("record") == RECORD_CANARY_WEIGHT:
                        seen["rules"] = (rule["labels"]["version"], rule["expr"])
    return seen


def walk(overrides: tuple[str, ...] = (), gates=assumed_gates, fail_on=lambda up: None,
         smoke=assumed_smoke) -> tuple[PromoteResult, OfflineDriver, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    driver = OfflineDriver("prod", overrides, echo=lambda line: console.print(line, markup=False), fail_on=fail_on)
    result = run_release(driver, gates, smoke, SimulatedClock(), console)
    return result, driver, out.getvalue()


def expect(traffic: dict[str, Any], active: str, weight: int) -> None:
    canary = "green" if active == "blue" else "blue"
    assert traffic.get("rules") == (canary, f"vector({weight})"), traffic
    assert "ingress" in traffic, "no NGINX canary Ingress rendered (components/traffic.py not wired?)"
    assert traffic["ingress"] == weight, traffic
    assert traffic.get("mesh") == {active: 100 - weight, canary: weight}, traffic
    assert traffic.get("service") == active, traffic


@pytest.fixture(scope="module")
def full_walk() -> tuple[PromoteResult, OfflineDriver, str]:
    return walk()


def test_dry_run_walks_every_step_and_renders_each_weight(full_walk):
    result, driver, printed = full_walk
    assert result.exit_code == 0, result.message
    assert [(s.action.kind, s.action.target.active_color, s.action.target.weight) for s in driver.steps] == [
        ("start", "blue", 5), ("advance", "blue", 25), ("advance", "blue", 50), ("advance", "blue", 100),
        ("flip", "green", 0), ("done", "green", 0)]
    for offline_step in driver.steps:
        expect(rendered_traffic(offline_step.manifests), offline_step.action.target.active_color,
               offline_step.action.target.weight)
    # the commands a real run makes: the stack named, the verdict written with the weight
    assert ("would run: pulumi config set-all --path -s prod --plaintext release.activeColor=blue --plaintext "
            "release.canaryWeight=25 --plaintext 'release.history[1].time=") in printed
    assert "--plaintext 'release.history[1].decision=advance'" in printed
    assert "&& pulumi up -s prod --yes" in printed
    assert "~ ConfigMap/doc-rag-monitoring/prometheus-rules" in printed  # each up prints what it changes
    # the rules file diffs as YAML lines, not as one escaped string
    assert "    -        expr: vector(0)\n    +        expr: vector(5)\n" in printed


def test_dry_run_prints_a_heartbeat_per_gate_evaluation_saying_the_gates_were_assumed(full_walk):
    _, _, printed = full_walk
    assert ("gates for green (soaking at 5%; 0m30s of 5m00s, 4m30s left): pass "
            "(every gate skipped: assumed to pass, no Prometheus asked)") in printed
    assert "gates for green (soaking at 5%; 2m00s of 5m00s, 3m00s left): pass" in printed  # routine passes too
    assert "gates for green (stabilizing; 1m00s of 15m00s, 14m00s left): pass" in printed


def test_the_heartbeat_names_the_request_count_and_gate_values():
    from ops.promote import heartbeat, soak_timing
    from ops.release_state import ReleaseState

    release = _memory_driver().view.release
    state = ReleaseState(active_color="blue", weight=25, steps=(5, 25, 50, 100), soak_started=1000.0)
    gates = (GateVerdict(gate="requests", status="pass", value=812.0),
             GateVerdict(gate="errorRatio", status="pass", value=0.001),
             GateVerdict(gate="errorRatioVsStable", status="skip", value=None))
    line = heartbeat(state, soak_timing(release), Observe(30, "green", "blue", "watching"),
                     GateReport(gates, "pass"), 1090.0)
    assert line == "  00:18:10 gates for green (soaking at 25%; 1m30s of 5m00s, 3m30s left): pass " \
                   "requests=812 errorRatio=0.001"


def test_the_stack_keeps_the_verdicts_and_exports_them(full_walk):
    _, driver, _ = full_walk
    view = driver.read()
    decisions = [v.decision for v in view.release.history]
    assert decisions == ["start", "advance", "advance", "advance", "flip", "done"]
    # written with `pulumi config set --path` semantics (floats as text) and read back by the typed model
    assert view.release.history[1].gates[1].threshold == 0.01
    assert [item["decision"] for item in view.outputs["releaseHistory"]] == decisions
    # the images each colour runs are exported too: resume and rollback compare them (docs/operations.md)
    assert view.outputs["images"] == {"blue": "doc-rag/api:v1.0.0", "green": "doc-rag/api:v1.1.0"}
    assert view.in_sync and view.state().deployed_images == (("blue", "doc-rag/api:v1.0.0"),
                                                             ("green", "doc-rag/api:v1.1.0"))


def test_the_soak_and_stabilization_come_from_config(full_walk):
    result, _, _ = full_walk
    observed = [a for a in result.actions if isinstance(a, Observe)]
    assert len(observed) == 4 * (300 // 30) + 900 // 30  # release.soak 5m per step, stabilization 15m


def _breach_at(weight: int):
    def gates(observe: Observe, thresholds: GatesConfig) -> GateReport:
        bad = observe.reason != "status" and current["weight"] == weight
        gate = GateVerdict(gate="p95Latency", status="fail" if bad else "pass", query="histogram_quantile(...)",
                           value=2.5 if bad else 0.1, threshold=0.5, samples=812.0)
        return GateReport((gate,), "fail" if bad else "pass")
    current = {"weight": 0}
    return gates, current


def test_breach_rolls_back_with_one_up_and_names_the_gate():
    gates, current = _breach_at(25)

    def track(up: Up) -> Optional[str]:
        current["weight"] = up.target.weight
        return None

    result, driver, printed = walk(gates=gates, fail_on=track)
    assert result.exit_code == 1
    kinds = [s.action.kind for s in driver.steps]
    assert kinds == ["start", "advance", "rollback"]
    expect(rendered_traffic(driver.steps[-1].manifests), "blue", 0)
    assert result.gates[0].gate == "p95Latency" and result.gates[0].value == 2.5 and result.gates[0].samples == 812
    assert "p95Latency 2.5 (threshold 0.5)" in result.message


def test_a_failed_up_rolls_back_to_weight_zero():
    result, driver, printed = walk(fail_on=lambda up: "provider error: timeout" if up.target.weight == 50 else None)
    assert result.exit_code == 1 and "advance up failed: provider error: timeout" in result.message
    assert [s.action.kind for s in driver.steps] == ["start", "advance", "rollback"]
    expect(rendered_traffic(driver.steps[-1].manifests), "blue", 0)


def test_resume_from_the_stack_config_continues_at_the_next_step():
    result, driver, _ = walk(("release.canaryWeight=50",))
    assert result.exit_code == 0
    # no release in progress in the history: the canary weight set in config is adopted as a new release
    # (a start at 50 % moves no traffic, it records the images), then it goes on from there
    assert [(s.action.kind, s.action.target.weight) for s in driver.steps] == [
        ("start", 50), ("advance", 100), ("flip", 0), ("done", 0)]


def test_cli_usage_errors_exit_2(capsys):
    assert main(["promote", "-s", "nope", "--dry-run"]) == 2
    assert main(["rollback", "-s", "nope", "--dry-run"]) == 2
    assert main(["promote"]) == 2  # -s is required
    assert "unknown stack 'nope'" in capsys.readouterr().out


def test_cli_rollback_dry_run_during_a_canary(capsys):
    assert main(["rollback", "-s", "prod", "--dry-run", "--set", "release.canaryWeight=25"]) == 0
    printed = capsys.readouterr().out
    assert "rollback: up with activeColor=blue, canaryWeight=0 (was blue at 25%" in printed
    assert main(["rollback", "-s", "prod", "--dry-run"]) == 0
    assert "nothing to roll back" in capsys.readouterr().out


def test_endpoint_precedence_flag_then_environment_then_stack_output(monkeypatch):
    from ops.cli_common import endpoint
    from ops.stackconfig import load_stack_config

    view = StackView(load_stack_config("prod").model(), {"prometheusUrl": "http://in-cluster:9090"})
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    assert endpoint(None, view, "prometheusUrl", "PROMETHEUS_URL") == "http://in-cluster:9090"
    monkeypatch.setenv("PROMETHEUS_URL", "http://127.0.0.1:9090")  # a laptop's port-forward
    assert endpoint(None, view, "prometheusUrl", "PROMETHEUS_URL") == "http://127.0.0.1:9090"
    assert endpoint("http://flag:9090", view, "prometheusUrl", "PROMETHEUS_URL") == "http://flag:9090"
    assert endpoint(None, StackView(view.config, {}), "apiUrl", "UNSET_VAR_X", "https://d") == "https://d"


# -- the action budget: a loop that cannot finish rolls back rather than leaving traffic on the canary --------

def _memory_driver(**release_updates: Any):
    from ops.bench_decision import MemoryDriver, deployed_view

    view = deployed_view("prod")
    gates = view.release.gates.model_copy(update=release_updates.pop("gates", {}))
    release = view.release.model_copy(update={**release_updates, "gates": gates})
    return MemoryDriver(StackView(view.config.model_copy(update={"release": release}), view.outputs))


def test_running_out_of_actions_rolls_back_with_one_up_and_exits_non_zero():
    driver = _memory_driver()
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()),
                         max_actions=5)
    assert [up.kind for up, _, _ in driver.calls] == ["start", "rollback"]
    assert result.exit_code == 1 and "gave up after 5 actions" in result.message
    assert driver.view.release.canaryWeight == 0 and driver.view.release.activeColor == "blue"


def test_the_default_action_budget_covers_the_slowest_healthy_release():
    from ops.promote import soak_timing
    from ops.release_state import action_budget

    driver = _memory_driver(soak="60s", stabilization="60s", gates={"interval": "1s", "maxExtensions": 3})
    seen = {"late": True}

    def data_at_the_last_extension(observe: Observe, thresholds: GatesConfig) -> GateReport:
        if observe.reason.startswith(("soaking", "stabilizing")):
            seen["late"] = True
        elif observe.reason.endswith("extension 3/3"):
            seen["late"] = False
        gate = GateVerdict(gate="requests", status="nodata" if seen["late"] else "pass", value=3.0)
        return GateReport((gate,), "insufficient" if seen["late"] else "pass")

    result = run_release(driver, data_at_the_last_extension, assumed_smoke, SimulatedClock(),
                         Console(file=io.StringIO()))
    assert result.exit_code == 0, result.message
    assert [up.kind for up, _, _ in driver.calls] == ["start", "advance", "advance", "advance", "flip", "done"]
    budget = action_budget(soak_timing(driver.view.release), len(driver.view.release.steps))
    assert 1000 < len(result.actions) <= budget < 3 * len(result.actions)


def test_promote_and_rollback_refuse_a_stack_config_that_is_not_the_deployed_one_plus_one_decision():
    """A stale clone (config behind the deployed stack) must not be re-applied: it would flip production back."""
    from ops.rollback import rollback
    from tests.ops.test_drift import H, view_of

    for stale in (view_of("blue", 25, H["advance25"], ("green", 0, H["done"])),
                  view_of("blue", 0, (), ("green", 0, H["done"]))):
        driver = _memory_driver()
        driver.view = stale
        out = io.StringIO()
        result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=out, width=300))
        assert result.exit_code == 2 and driver.calls == [], result.message
        assert "local stack config differs from the deployed stack" in result.message
        assert "pull/commit Pulumi.prod.yaml, or run `pulumi config refresh -s prod`" in result.message
        assert rollback(driver, SimulatedClock(), Console(file=out, width=300), "x") == 2 and driver.calls == []


def test_rollback_re_applies_an_interrupted_rollback_and_refuses_an_unknown_image():
    from ops.rollback import rollback
    from tests.ops.test_drift import view_of
    from tests.ops.test_release_state import fresh, report, simulate

    rolled = simulate(fresh(), gates=lambda w: report("fail" if w.state.weight == 25 else "pass")).ups
    driver = _memory_driver()
    driver.view = view_of("blue", 0, rolled[-1].history, ("blue", 25, rolled[-2].history))  # rollback up killed
    out = io.StringIO()
    assert rollback(driver, SimulatedClock(), Console(file=out, width=300), "x") == 0, out.getvalue()
    assert [up.kind for up, _, _ in driver.calls] == ["reconcile"] and driver.view.in_sync

    done = simulate(fresh()).ups[-1].history
    driver = _memory_driver()
    driver.view = view_of("green", 0, done, ("green", 0, done))
    release = driver.view.release.model_copy(update={"blue": driver.view.release.blue.model_copy(
        update={"image": "doc-rag/api:v1.2.0"})})
    driver.view = StackView(driver.view.config.model_copy(update={"release": release}), driver.view.outputs)
    out = io.StringIO()
    assert rollback(driver, SimulatedClock(), Console(file=out, width=300), "x") == 2 and driver.calls == []
    assert "pulumi config set --path release.blue.image doc-rag/api:v1.0.0" in out.getvalue()


def test_rollback_re_applies_a_rollback_whose_up_failed_after_the_outputs_were_registered():
    from ops.rollback import rollback
    from tests.ops.test_drift import view_of
    from tests.ops.test_release_state import fresh, report, simulate

    history = simulate(fresh(), gates=lambda w: report("fail" if w.state.weight == 25 else "pass")).ups[-1].history
    for result, kinds in (("failed", ["reconcile"]), ("succeeded", [])):
        driver = _memory_driver()
        driver.view = view_of("blue", 0, history, ("blue", 0, history))  # outputs say the rollback is deployed
        driver.view.last_update = result
        out = io.StringIO()
        assert rollback(driver, SimulatedClock(), Console(file=out, width=300), "x") == 0, out.getvalue()
        assert [up.kind for up, _, _ in driver.calls] == kinds, out.getvalue()
        assert ("nothing to roll back" in out.getvalue()) == (result == "succeeded")


def test_promote_after_a_kill_between_removing_the_history_and_writing_the_start():
    from tests.ops.test_drift import H, view_of

    cleared = view_of("green", 0, (), ("green", 0, H["done"]))  # deployed: blue v1.0.0 -> green finished
    driver = _memory_driver()
    driver.view = cleared
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    # the deployed history still guards: blue holds the image the finished release just replaced
    assert result.exit_code == 2 and "just replaced" in result.message and driver.calls == [], result.message

    release = cleared.release.model_copy(update={"blue": cleared.release.blue.model_copy(
        update={"image": "doc-rag/api:v1.2.0"})})
    driver.view = StackView(cleared.config.model_copy(update={"release": release}), cleared.outputs, "prod")
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert result.exit_code == 0, result.message
    assert [up.kind for up, _, _ in driver.calls] == ["start", "advance", "advance", "advance", "flip", "done"]


# -- promote checks Prometheus before the first up ---------------------------------------------------------

def test_promote_exits_2_before_any_up_when_prometheus_is_not_usable(monkeypatch, capsys):
    import socket

    import ops.promote

    class NoUp(type(_memory_driver())):  # type: ignore[misc]
        def up(self, action: Up):
            raise AssertionError(f"{action.kind} up ran before Prometheus was checked")

    driver = NoUp(_memory_driver().view)
    monkeypatch.setattr(ops.promote, "make_driver", lambda *args: driver)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PROMETHEUS_URL", f"http://127.0.0.1:{port}")
    assert main(["promote", "-s", "prod"]) == 2
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert f"Prometheus at http://127.0.0.1:{port} (from $PROMETHEUS_URL) is not usable" in printed
    assert "--prometheus-url" in printed and "PROMETHEUS_URL" in printed
    assert driver.calls == []


def test_promote_refuses_a_stack_whose_live_objects_drifted_before_any_up(monkeypatch, capsys):
    """A weight edited with kubectl would be overwritten by the first `up`: refused (exit 2) naming it."""
    import ops.promote
    from ops.live_drift import DriftedField

    drifted = DriftedField("Ingress", "doc-rag-prod/api-ingress",
                           'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]', "0", "30")
    driver = _memory_driver()
    driver.drifted = (drifted,)
    monkeypatch.setattr(ops.promote, "make_driver", lambda *args: driver)
    monkeypatch.setenv("PROMETHEUS_URL", "http://127.0.0.1:9")  # never asked: drift is refused first
    assert main(["promote", "-s", "prod"]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "changed outside Pulumi" in printed and "stack '0', live '30'" in printed
    assert "`pulumi up --refresh --stack prod`" in printed and "Prometheus" not in printed
    assert driver.calls == []


def test_run_release_stops_on_a_failed_preflight():
    driver = _memory_driver()
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()),
                         preflight=lambda: "Prometheus at http://x is not usable")
    assert result.exit_code == 2 and result.message == "Prometheus at http://x is not usable" and driver.calls == []


def test_exit_codes_have_one_definition():
    """Every exit code is defined in ops/exit_codes.py; the commands import them (no drifting copies)."""
    import ast

    from ops.exit_codes import EXIT_REFUSED, EXIT_USAGE

    ops_dir = PROJECT_DIR / "ops"
    for path in sorted(ops_dir.rglob("*.py")):
        if path.name == "exit_codes.py" or "engine" in path.relative_to(ops_dir).parts:
            continue
        tree = ast.parse(path.read_text())
        assigned = {name.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for target in node.targets
                    for name in ast.walk(target) if isinstance(name, ast.Name) and name.id.startswith("EXIT_")}
        assert not assigned, f"{path} defines {sorted(assigned)}: import them from ops.exit_codes"
    assert EXIT_REFUSED == EXIT_USAGE  # a refused promote changes nothing, like a usage error


def test_bench_decision_acts_within_one_gate_interval():
    from ops.bench_decision import run_bench

    numbers = run_bench(runs=4)
    assert numbers["within_one_interval"] and 0 < numbers["detection_max_s"] <= numbers["interval_s"] == 30


def test_a_release_retires_the_previous_colour_and_rollback_revives_it_before_moving_traffic():
    """prod's default release.retire (afterStabilization): the done `up` writes blue's replicas 0; `ops rollback`
    then writes them back in a revive `up` (which waits for the pods) before the `up` that moves traffic."""
    from ops.rollback import rollback

    driver = _memory_driver()
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert result.exit_code == 0 and result.message.endswith("blue retired (scaled to 0)")
    assert driver.view.release.blue.replicas == 0 and driver.view.release.green.replicas == 3
    driver.calls.clear()
    out = io.StringIO()
    assert rollback(driver, SimulatedClock(), Console(file=out, width=300), "x") == 0, out.getvalue()
    assert [up.kind for up, _, _ in driver.calls] == ["revive", "rollback"]
    revive, back = driver.calls[0][0], driver.calls[1][0]
    assert revive.replicas == (("blue", 3),) and revive.target.active_color == "green"  # traffic stays
    assert back.target.active_color == "blue" and driver.view.release.blue.replicas == 3
    assert "reviving blue with 3 replicas" in " ".join(out.getvalue().split())


def test_release_retire_manual_leaves_the_previous_colour_running():
    driver = _memory_driver(retire="manual")
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert result.exit_code == 0 and "retired" not in result.message
    assert driver.view.release.blue.replicas == 3


# -- a release that cannot start is refused before any `up`; our own refusal blocks no image ----------------

def test_a_canary_colour_without_replicas_cannot_start_and_nothing_is_written():
    from ops.promote import cannot_start
    from ops.release_state import Target, Up

    release = _memory_driver().view.release
    without_pods = release.model_copy(update={"green": release.green.model_copy(update={"replicas": 0})})
    start = Up("start", Target("blue", 5), verdict=None, history=())  # type: ignore[arg-type]
    assert cannot_start(without_pods, start) == (
        "the release cannot start, nothing changed: release.green.replicas = 0: green receives 5% of traffic "
        "(activeColor blue, canaryWeight 5); allowed: replicas > 0")
    revived = Up("start", Target("blue", 5), verdict=None, history=(), replicas=(("green", 3),))  # type: ignore[arg-type]
    assert cannot_start(without_pods, revived) is None  # the start `up` gives the colour its pods back

    driver = _memory_driver(green=without_pods.green)
    result = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert result.exit_code == 2 and "replicas is 0" in result.message
    assert driver.calls == [] and driver.view.release.history == []


def test_a_rollback_after_a_failed_start_up_does_not_block_the_image_but_a_judged_one_does():
    from ops.driver import UpOutcome

    driver = _memory_driver()
    succeed = driver.up
    refusals = ["error: invalid doc-rag stack config: the program refused it"]

    def up(action: Up) -> UpOutcome:
        if action.kind == "start" and refusals:
            return UpOutcome(False, refusals.pop())
        return succeed(action)

    driver.up = up  # type: ignore[method-assign]
    first = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert first.exit_code == 1 and driver.view.release.history[-1].decision == "rollback"
    assert driver.view.release.history[-1].reason.startswith("start up failed: ")
    again = run_release(driver, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert again.exit_code == 0, again.message  # the same image, now released

    breached = _memory_driver()

    def gates(observe: Observe, thresholds: GatesConfig) -> GateReport:
        gate = GateVerdict(gate="errorRatio", status="fail", query="q", value=0.2, threshold=0.01, samples=500.0)
        return GateReport((gate,), "fail")

    assert run_release(breached, gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO())).exit_code == 1
    refused = run_release(breached, assumed_gates, assumed_smoke, SimulatedClock(), Console(file=io.StringIO()))
    assert refused.exit_code == 2 and "was rolled back; set a new image first" in refused.message


def test_off_a_terminal_promote_prints_long_lines_unwrapped(monkeypatch, capsys):
    """CI logs: a `would run` command stays one line that can be copied, whatever its length."""
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["promote", "-s", "prod", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    would_run = [line for line in lines if line.startswith("  would run: ")]
    assert len(would_run) == 6  # start, three advances, flip, done
    assert all(line.endswith("&& pulumi up -s prod --yes") and len(line) > 200 for line in would_run)


def test_the_would_run_commands_are_one_line_each_and_give_bash_the_exact_values():
    import subprocess

    from ops.driver import ConfigWrite, cli_commands

    query = 'sum(rate(x{version="green"}[5m]))\n  / sum(rate(y[5m])) # it\'s \\ a query'
    write = ConfigWrite(remove_history=True, assignments=(("release.canaryWeight", "5"),
                                                          ("release.history[0].gates[0].query", query)))
    commands = cli_commands("prod", write)
    assert commands[0] == "pulumi config rm --path release.history -s prod"
    assert commands[-1] == "pulumi up -s prod --yes"
    assert all("\n" not in command for command in commands)
    # bash, given the printed set-all with `pulumi` standing for a function that prints its arguments
    done = subprocess.run(["bash", "-c", "pulumi() { printf '%s\\0' \"$@\"; }; " + commands[1]],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split("\0")[:-1] == [
        "config", "set-all", "--path", "-s", "prod", "--plaintext", "release.canaryWeight=5",
        "--plaintext", f"release.history[0].gates[0].query={query}"]
