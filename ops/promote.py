"""`python -m ops promote -s STACK [--dry-run]`: walk the canary steps with metric gates, roll back on failure.

The loop only performs what ops/release_state.py decides: an `up` (driver), a wait then a gate
evaluation (clock + Prometheus), a smoke check (httpx). Everything it touches is injected, so tests
run it with a simulated clock, an in-memory or offline driver and a real or scripted Prometheus.
Exit codes: 0 released, 1 rolled back (report names the gate), 2 nothing changed (usage/config, nothing to
promote, a release that cannot start), 3 the rollback itself failed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import httpx
from rich.console import Console
from rich.markup import escape

from components.config import ConfigError, GatesConfig, GateVerdict, ReleaseConfig, duration_seconds
from components.preflight import check_receiving_colours
from ops.cli_common import (
    Clock,
    GateSource,
    SimulatedClock,
    SystemClock,
    endpoint,
    endpoint_source,
    gate_table,
    make_driver,
    prometheus_gates,
    prometheus_problem,
)
from ops.console import make_console
from ops.driver import Driver
from ops.exit_codes import EXIT_ROLLBACK_FAILED, EXIT_ROLLED_BACK, EXIT_USAGE
from ops.live_drift import drift_report
from ops.release_state import (
    Action,
    Finish,
    GateReport,
    GatesObserved,
    Observe,
    ReleaseState,
    Smoke,
    SmokeDone,
    SoakTiming,
    Started,
    Up,
    UpDone,
    action_budget,
    give_up,
    step,
    watch_window,
)
from ops.stackconfig import UsageError

HOW_TO_SET_PROMETHEUS = ("pass --prometheus-url or set PROMETHEUS_URL (from a laptop: `kubectl -n doc-rag-monitoring "
                         "port-forward svc/prometheus 9090`, then PROMETHEUS_URL=http://127.0.0.1:9090)")


SmokeCheck = Callable[[], tuple[bool, tuple[GateVerdict, ...]]]


def soak_timing(release: ReleaseConfig) -> SoakTiming:
    return SoakTiming(soak=duration_seconds(release.soak), stabilization=duration_seconds(release.stabilization),
                  interval=duration_seconds(release.gates.interval), max_extensions=release.gates.maxExtensions,
                  retire=release.retire == "afterStabilization")


@dataclass
class PromoteResult:
    exit_code: int
    message: str
    state: Optional[ReleaseState] = None
    actions: list[Action] = field(default_factory=list)
    reports: list[GateReport] = field(default_factory=list)
    gates: tuple[GateVerdict, ...] = ()

    @property
    def ups(self) -> list[Up]:
        return [action for action in self.actions if isinstance(action, Up)]


def run_release(driver: Driver, gates: GateSource, smoke: SmokeCheck, clock: Clock,
                console: Optional[Console] = None, max_actions: Optional[int] = None,
                preflight: Optional[Callable[[], Optional[str]]] = None) -> PromoteResult:
    """Drive the state machine until it finishes. Returns the exit code and everything that was done.

    `preflight` runs before the first decision (a problem text -> exit 2, nothing changed): the gates'
    Prometheus must answer before an `up` puts traffic on a canary it could not judge.
    `max_actions` (default: action_budget of the release's timings) only guards against a stuck loop."""
    console = console or Console(highlight=False)
    view = driver.read()
    drift = view.drift
    if drift.kind == "undeployed":
        return PromoteResult(EXIT_USAGE, "the stack has no outputs: deploy it once with `pulumi up` before promoting")
    if drift.kind == "diverged":
        return PromoteResult(EXIT_USAGE, drift.message)
    problem = preflight() if preflight is not None else None
    if problem:
        return PromoteResult(EXIT_USAGE, problem)
    timing, thresholds = soak_timing(view.release), view.release.gates
    state, action = step(view.state(), timing, Started(clock.now()))
    budget = max_actions if max_actions is not None else action_budget(timing, len(state.steps))
    result = PromoteResult(1, "", state)
    console.print(f"release: {state.active_color} active, weight {state.weight}%, phase {state.phase}, "
                  f"steps {list(state.steps)}" + ("" if state.in_sync else " (config not yet deployed)"))
    for _ in range(budget):
        result.actions.append(action)
        if isinstance(action, Finish):
            result.exit_code, result.message, result.state, result.gates = (
                action.exit_code, action.message, state, action.gates)
            return result
        if isinstance(action, Up) and action.kind == "start":
            refused = cannot_start(view.release, action)
            if refused:  # before any `up`: nothing changed, no verdict written
                result.exit_code, result.message = EXIT_USAGE, refused
                return result
        if isinstance(action, Up):
            console.print(f"[bold]{action.kind}[/]: up with activeColor={action.target.active_color}, "
                          f"canaryWeight={action.target.weight} ({action.verdict.reason})")
            outcome = driver.up(action)
            if not outcome.ok:
                console.print(f"  up failed: {outcome.error}", markup=False)
            state, action = step(state, timing, UpDone(action, outcome.ok, clock.now(), outcome.error,
                                                     outcome.locked))
        elif isinstance(action, Observe):
            clock.sleep(action.after)
            report = gates(action, thresholds)
            result.reports.append(report)
            console.print(heartbeat(state, timing, action, report, clock.now()), markup=False)
            state, action = step(state, timing, GatesObserved(report, clock.now()))
        elif isinstance(action, Smoke):
            ok, checks = smoke()
            console.print("  smoke: " + ", ".join(f"{check.query} {check.status}" for check in checks), markup=False)
            state, action = step(state, timing, SmokeDone(ok, checks, clock.now()))
    return _give_up(driver, state, clock, console, result, f"gave up after {budget} actions without a verdict")


def cannot_start(release: ReleaseConfig, start: Up) -> Optional[str]:
    """The program's own preflight asked of the start `up`'s config before it runs: a canary colour without
    replicas or image would fail that `up`, and its rollback would be recorded against an image no gate saw."""
    colors = {color: release.color(color).model_copy(update={"replicas": count}) for color, count in start.replicas}
    target = release.model_copy(update={"activeColor": start.target.active_color,
                                        "canaryWeight": start.target.weight, **colors})
    problems = check_receiving_colours(target)
    return ("the release cannot start, nothing changed: " + "; ".join(problems)) if problems else None


def _give_up(driver: Driver, state: ReleaseState, clock: Clock, console: Console, result: PromoteResult,
             message: str) -> PromoteResult:
    """Out of actions: a stuck loop must not leave traffic on the candidate. One rollback `up`, exit non-zero."""
    result.state, result.exit_code, result.message = state, EXIT_ROLLED_BACK, message
    rollback = give_up(state, clock.now(), f"{message} (a bug in ops promote: please report it)")
    if rollback is None:
        return result
    result.actions.append(rollback)
    console.print(f"[bold]rollback[/]: up with activeColor={rollback.target.active_color}, canaryWeight=0 ({message})")
    outcome = driver.up(rollback)
    if outcome.ok:
        result.message = f"{message}: rolled back to {rollback.target.active_color} at weight 0"
    else:
        result.exit_code = EXIT_ROLLBACK_FAILED
        result.message = (f"{message}; ROLLBACK FAILED ({outcome.error}): run `python -m ops rollback` or `pulumi up` "
                          f"with release.activeColor={rollback.target.active_color}, release.canaryWeight=0")
    return result


def _stamp(now: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(now))


def _minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def _values(gates: tuple[GateVerdict, ...]) -> str:
    shown = [f"{gate.gate}={'-' if gate.value is None else f'{gate.value:.4g}'}" for gate in gates
             if gate.status != "skip"]
    return " ".join(shown) if shown or not gates else "(every gate skipped: assumed to pass, no Prometheus asked)"


def heartbeat(state: ReleaseState, timing: SoakTiming, observe: Observe, report: GateReport, now: float) -> str:
    """One line per gate evaluation, so a long soak or stabilization shows it is alive: the time, how much of
    the window has passed and is left, the verdict and the values (requests = the canary's request count)."""
    watched, window = watch_window(state, timing, now)
    routine = "stabilizing" if state.phase == "stabilizing" else f"soaking at {state.weight}%"
    what = routine if observe.reason == "watching" else observe.reason
    return (f"  {_stamp(now)} gates for {observe.color} ({what}; {_minutes(watched)} of {_minutes(window)}, "
            f"{_minutes(max(0.0, window - watched))} left): {report.verdict} {_values(report.gates)}")


# -- real I/O -------------------------------------------------------------------------------------

def http_smoke(api_url: str, timeout: float = 10.0) -> SmokeCheck:
    def check() -> tuple[bool, tuple[GateVerdict, ...]]:
        checks = []
        for path in ("/health", "/ready"):
            url = api_url.rstrip("/") + path
            try:
                code: Optional[float] = float(httpx.get(url, timeout=timeout).status_code)
            except httpx.HTTPError:
                code = None
            checks.append(GateVerdict(gate="smoke", status="pass" if code == 200 else "fail", query=url,
                                      value=code, threshold=200.0))
        return all(c.status == "pass" for c in checks), tuple(checks)
    return check


def assumed_gates(observe: Observe, thresholds: GatesConfig) -> GateReport:
    """--dry-run: no Prometheus is asked; every gate is shown as skipped and the walk goes on."""
    from components.prometheus_rules import gate_queries
    from ops.gates import PAGE_ALERTS_QUERY

    queries = gate_queries(observe.color)
    return GateReport((
        GateVerdict(gate="requests", status="skip", query=queries.request_count, threshold=thresholds.minRequests),
        GateVerdict(gate="errorRatio", status="skip", query=queries.error_ratio, threshold=thresholds.maxErrorRatio),
        GateVerdict(gate="p95Latency", status="skip", query=queries.p95_latency_seconds,
                    threshold=duration_seconds(thresholds.maxP95Latency)),
        GateVerdict(gate="pageAlerts", status="skip", query=PAGE_ALERTS_QUERY, threshold=0.0),
    ), "pass")


def assumed_smoke() -> tuple[bool, tuple[GateVerdict, ...]]:
    return True, (GateVerdict(gate="smoke", status="skip", query="/health, /ready (dry-run: not called)"),)


def promote_command(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        driver = make_driver(args.stack, args.dry_run, args.set, console)
        view = driver.read()
    except (UsageError, ConfigError) as error:
        console.print(f"error: {error}", markup=False)
        return EXIT_USAGE
    gates: GateSource
    smoke: SmokeCheck
    clock: Clock
    preflight: Optional[Callable[[], Optional[str]]] = None
    if args.dry_run:
        console.print("dry-run: nothing is changed; each up is the program under the SDK monitor, gates assumed")
        gates, smoke, clock = assumed_gates, assumed_smoke, SimulatedClock(time.time())
    else:
        prometheus, source = endpoint_source(args.prometheus_url, view, "prometheusUrl", "PROMETHEUS_URL",
                                             flag="--prometheus-url")
        if prometheus is None:
            console.print(f"error: no Prometheus URL: {HOW_TO_SET_PROMETHEUS}", markup=False)
            return EXIT_USAGE
        api = endpoint(args.api_url, view, "apiUrl", "DOC_RAG_API_URL", f"https://{view.config.domain}")
        clock = SystemClock()
        gates, smoke = prometheus_gates(prometheus, clock), http_smoke(str(api))

        def preflight() -> Optional[str]:
            # A hand-edited weight would be overwritten by the first `up`: refuse, naming it, before touching it.
            drifted = driver.live_drift()
            if drifted:
                return drift_report(args.stack, drifted) + " Then promote again."
            problem = prometheus_problem(prometheus)
            return problem and f"Prometheus at {prometheus} (from {source}) is not usable: {problem}; " \
                               f"{HOW_TO_SET_PROMETHEUS}"
    try:
        result = run_release(driver, gates, smoke, clock, console, preflight=preflight)
    except (UsageError, ConfigError) as error:  # e.g. the stack cannot be read any more (StackAccessError)
        console.print(f"error: {error}", markup=False)
        return EXIT_USAGE
    report(console, result)
    return result.exit_code


def report(console: Console, result: PromoteResult) -> None:
    style = "green" if result.exit_code == 0 else "red"
    console.print(f"[{style}]promote: {escape(result.message)}[/] (exit {result.exit_code})")
    if result.gates:
        console.print(gate_table(result.gates, "gates of the last decision"))

