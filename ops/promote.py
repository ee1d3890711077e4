"""`python -m ops promote -s STACK [--dry-run]`: walk the canary steps with metric gates, roll back on failure.

The loop only performs what ops/release_state.py decides: an `up` (driver), a wait then a gate
evaluation (clock + Prometheus), a smoke check (httpx). Everything it touches is injected, so tests
run it with a fake clock, a fake or offline driver and a real or scripted Prometheus.
Exit codes: 0 released, 1 rolled back (report names the gate), 2 nothing changed (usage/config, nothing to
promote, a release that cannot start), 3 the rollback itself failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from components.config import ConfigError, GatesConfig, GateVerdict, ReleaseConfig, duration_seconds
from components.preflight import check_receiving_colours
from ops.console import make_console
from ops.driver import AutomationDriver, Driver, OfflineDriver, StackView
from ops.live_drift import drift_report
from ops.plan import EXIT_USAGE
from ops.release_state import (
    EXIT_ROLLBACK_FAILED,
    EXIT_ROLLED_BACK,
    Action,
    Finish,
    GateReport,
    GatesObserved,
    Observe,
    Policy,
    ReleaseState,
    Smoke,
    SmokeDone,
    Started,
    Up,
    UpDone,
    action_budget,
    give_up,
    step,
    watch_window,
)
from ops.stackconfig import UsageError, refuse_plain_secrets

HOW_TO_SET_PROMETHEUS = ("pass --prometheus-url or set PROMETHEUS_URL (from a laptop: `kubectl -n doc-rag-monitoring "
                         "port-forward svc/prometheus 9090`, then PROMETHEUS_URL=http://127.0.0.1:9090)")


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class FakeClock:
    """Time that moves only when slept: tests and --dry-run walk hours of soak instantly."""

    t: float = 1_700_000_000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


GateSource = Callable[[Observe, GatesConfig], GateReport]
SmokeCheck = Callable[[], tuple[bool, tuple[GateVerdict, ...]]]


def policy_of(release: ReleaseConfig) -> Policy:
    return Policy(soak=duration_seconds(release.soak), stabilization=duration_seconds(release.stabilization),
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
    policy, thresholds = policy_of(view.release), view.release.gates
    state, action = step(view.state(), policy, Started(clock.now()))
    budget = max_actions if max_actions is not None else action_budget(policy, len(state.steps))
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
            state, action = step(state, policy, UpDone(action, outcome.ok, clock.now(), outcome.error,
                                                     outcome.locked))
        elif isinstance(action, Observe):
            clock.sleep(action.after)
            report = gates(action, thresholds)
            result.reports.append(report)
            console.print(heartbeat(state, policy, action, report, clock.now()), markup=False)
            state, action = step(state, policy, GatesObserved(report, clock.now()))
        elif isinstance(action, Smoke):
            ok, checks = smoke()
            console.print("  smoke: " + ", ".join(f"{check.query} {check.status}" for check in checks), markup=False)
            state, action = step(state, policy, SmokeDone(ok, checks, clock.now()))
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


def heartbeat(state: ReleaseState, policy: Policy, observe: Observe, report: GateReport, now: float) -> str:
    """One line per gate evaluation, so a long soak or stabilization shows it is alive: the time, how much of
    the window has passed and is left, the verdict and the values (requests = the canary's request count)."""
    watched, window = watch_window(state, policy, now)
    routine = "stabilizing" if state.phase == "stabilizing" else f"soaking at {state.weight}%"
    what = routine if observe.reason == "watching" else observe.reason
    return (f"  {_stamp(now)} gates for {observe.color} ({what}; {_minutes(watched)} of {_minutes(window)}, "
            f"{_minutes(max(0.0, window - watched))} left): {report.verdict} {_values(report.gates)}")


def gate_table(gates: tuple[GateVerdict, ...], title: str = "gates") -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("gate", "status", "value", "threshold", "samples", "query", "note"):
        table.add_column(column, overflow="fold")
    for gate in gates:
        table.add_row(gate.gate, gate.status, "no data" if gate.value is None else f"{gate.value:.6g}",
                      "" if gate.threshold is None else f"{gate.threshold:g}",
                      "" if gate.samples is None else f"{gate.samples:g}", gate.query, gate.reason)
    return table


# -- real I/O -------------------------------------------------------------------------------------

def prometheus_problem(base_url: str, timeout: float = 10.0) -> Optional[str]:
    """None when Prometheus is ready and answers an instant query; else what failed."""
    from ops.prometheus import PrometheusClient, PrometheusError

    with PrometheusClient(base_url, timeout=timeout) as client:
        ready, detail = client.ready()
        if not ready:
            return f"not ready ({detail})"
        try:
            client.query("vector(1)")
        except PrometheusError as error:
            return f"an instant query failed ({error})"
    return None


def prometheus_gates(base_url: str, clock: Clock) -> GateSource:
    """Gates asked of Prometheus over the current step's traffic (its age by `clock`)."""
    from ops.gates import evaluate, step_window
    from ops.prometheus import PrometheusClient

    client = PrometheusClient(base_url)

    def gates(observe: Observe, thresholds: GatesConfig) -> GateReport:
        age = None if observe.since is None else clock.now() - observe.since
        return evaluate(client, thresholds, observe.color, observe.baseline, window=step_window(age))
    return gates


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


def url_source(explicit: Optional[str], env: str, outputs: Mapping[str, Any], output: str,
               default: Optional[str] = None, flag: str = "flag") -> tuple[Optional[str], str]:
    """A URL from the flag, else the environment, else the stack output, else the default; and where it came
    from. The outputs are in-cluster addresses: right for a runner inside the cluster; from a laptop,
    port-forward and set the env."""
    for value, source in ((explicit, flag), (os.environ.get(env), f"${env}"),
                          (outputs.get(output), f"stack output {output}"), (default, "default")):
        if value:
            return checked_url(str(value), source), source
    return None, ""


def checked_url(url: str, source: str) -> str:
    """An http(s) URL with a host, else a usage error naming where it came from (never a ValueError later)."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # e.g. an unclosed IPv6 bracket, a port out of range
        valid = False
    if not valid:
        raise UsageError(f"{source} = {url!r}: allowed: an http:// or https:// URL with a host, such as "
                         f"http://127.0.0.1:9090")
    return url


def endpoint_source(explicit: Optional[str], view: StackView, output: str, env: str, default: Optional[str] = None,
                    flag: str = "flag") -> tuple[Optional[str], str]:
    return url_source(explicit, env, view.outputs, output, default, flag)


def endpoint(explicit: Optional[str], view: StackView, output: str, env: str, default: Optional[str] = None
             ) -> Optional[str]:
    return endpoint_source(explicit, view, output, env, default)[0]


def pulumi_cli() -> Optional[str]:
    return shutil.which("pulumi")


def make_driver(stack: str, dry_run: bool, sets: list[str], console: Console) -> Driver:
    refuse_plain_secrets(stack, sets)  # first: whatever else is wrong, a secret in clear is named with its fix
    if sets and not dry_run:
        raise UsageError("--set applies only with --dry-run (it starts the offline walk from other config); to "
                         f"change the stack itself run `pulumi config set --path KEY VALUE -s {stack}` and commit "
                         f"Pulumi.{stack}.yaml")
    if dry_run:
        return OfflineDriver(stack, tuple(sets), echo=lambda line: console.print(line, markup=False))
    if pulumi_cli() is None:
        raise UsageError("the `pulumi` CLI is not on PATH: install it, or use --dry-run to walk the offline plan")
    return AutomationDriver(stack, echo=lambda line: console.print(line.rstrip(), markup=False))


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
        gates, smoke, clock = assumed_gates, assumed_smoke, FakeClock(time.time())
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


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("promote", help="walk the canary steps with metric gates; roll back on failure")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--dry-run", action="store_true",
                        help="walk the steps against the offline plan and print what each up would change")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="--dry-run only: start from overridden config (pulumi config set --path semantics)")
    parser.add_argument("--prometheus-url", help="Prometheus base URL (default: $PROMETHEUS_URL, output prometheusUrl)")
    parser.add_argument("--api-url", help="API base URL for the smoke check (default: $DOC_RAG_API_URL, output apiUrl)")
    parser.set_defaults(func=promote_command)
