"""`python -m ops status -s STACK [--watch] [--prometheus-url URL]`: where the release stands.

Colours with their images and replicas, the canary weight and phase, whether config is deployed, the
last verdicts from the stack's own history and, when Prometheus is reachable, the live gate values.
Without the `pulumi` CLI it shows Pulumi.<stack>.yaml alone: the deployed state is then unknown, and
Prometheus is asked only at a URL given by flag or environment; one that does not answer is named with its URL
and the error. `--watch` re-reads everything each time and stamps each refresh with the time.
Exit codes: 0 shown, 2 usage/config.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Optional

from rich.console import Console
from rich.table import Table

from components.config import ConfigError
from ops.cli_common import (
    GateSource,
    SystemClock,
    endpoint_source,
    gate_table,
    make_driver,
    prometheus_gates,
    prometheus_problem,
    pulumi_cli,
)
from ops.console import make_console
from ops.drift import StackView
from ops.driver import Driver
from ops.exit_codes import EXIT_OK, EXIT_USAGE
from ops.live_drift import remedy
from ops.release_state import Observe, epoch
from ops.stackconfig import UsageError, load_stack_config

LAST_VERDICTS = 8
sleep = time.sleep  # the --watch pause (tests replace it)
Reader = Callable[[], StackView]


def release_table(view: StackView) -> Table:
    release, state = view.release, view.state()
    table = Table(title=f"release ({state.phase})")
    for column in ("colour", "role", "image", "replicas", "traffic"):
        table.add_column(column)
    for color in ("blue", "green"):
        active = color == release.activeColor
        share = 100 - release.canaryWeight if active else release.canaryWeight
        retired = not active and release.color(color).replicas == 0
        table.add_row(color, "active" if active else "retired" if retired else "canary", release.color(color).image,
                      str(release.color(color).replicas), f"{share}%")
    return table


def verdict_table(view: StackView, limit: int = LAST_VERDICTS) -> Table:
    table = Table(title="last verdicts (stack config release.history)")
    for column in ("time", "weight", "decision", "image", "ext", "reason"):
        table.add_column(column, overflow="fold")
    for verdict in view.release.history[-limit:]:
        table.add_row(verdict.time, f"{verdict.weight}%", verdict.decision, verdict.image, str(verdict.extensions),
                      verdict.reason)
    return table


def sync_text(view: StackView, offline: bool = False) -> str:
    if offline:
        return f"deployed state unknown: no pulumi CLI, showing Pulumi.{view.stack}.yaml only"
    drift = view.drift
    if drift.kind == "undeployed":
        return "not deployed: the stack has no outputs"
    if view.in_sync:
        return "deployed"
    what = {"in_sync": "", "interrupted": f"{drift.detail} (promote or rollback re-applies it)",
            "diverged": drift.message}[drift.kind]
    return "NOT deployed: " + "; ".join(part for part in (what, *view.image_drift) if part)


def show_status(view: StackView, console: Console, gates: Optional[GateSource] = None, offline: bool = False) -> None:
    state = view.state()
    console.print(f"stack config: {state.active_color} active, canary weight {state.weight}%, steps "
                  f"{list(state.steps)}; {sync_text(view, offline)}", markup=False)
    console.print(release_table(view))
    if view.release.history:
        console.print(verdict_table(view))
    if gates is not None:
        baseline = state.stable_color if state.phase == "canary" else None
        last = state.last_decision
        since = epoch(last.time) if state.phase != "idle" and last is not None else None  # the step's own traffic
        report = gates(Observe(0, state.candidate_color, baseline, "status", since), view.release.gates)
        console.print(gate_table(report.gates, f"live gates for {state.candidate_color}: {report.verdict}"))


def show_live_drift(stack: str, driver: Driver, console: Console) -> None:
    """What changed in the cluster outside Pulumi (refresh-based: the stack's objects against the live ones)."""
    try:
        drifted = driver.live_drift()
    except UsageError as error:
        console.print(f"live drift: unknown ({error})", markup=False)
        return
    if not drifted:
        console.print("live drift: none (the live objects are what the stack deployed)")
        return
    console.print(f"[red]live drift: {len(drifted)} field(s) changed outside Pulumi[/]")
    for field in drifted:
        console.print(f"  {field.describe()}", markup=False)
    console.print(f"  {remedy(stack)}", markup=False)


def stack_reader(stack: str, console: Console) -> tuple[Reader, Optional[Driver]]:
    """How status reads the stack, and the driver when the deployed state is known: through the CLI (config
    and outputs), else the stack files alone. Never a local program run: its outputs are not what is deployed."""
    if pulumi_cli() is None:
        return (lambda: StackView(load_stack_config(stack).model(), {}, stack)), None
    driver = make_driver(stack, False, [], console)
    return driver.read, driver


def status_command(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        read, driver = stack_reader(args.stack, console)
        view = read()
    except (UsageError, ConfigError) as error:
        console.print(f"error: {error}", markup=False)
        return EXIT_USAGE
    # Offline there are no outputs, so only a URL from the flag or the environment is asked.
    url, source = endpoint_source(args.prometheus_url, view, "prometheusUrl", "PROMETHEUS_URL",
                                  flag="--prometheus-url")
    gates = prometheus_gates(url, SystemClock()) if url else None
    if gates is None:
        console.print("live gates: no Prometheus URL (--prometheus-url or PROMETHEUS_URL)")
    while True:
        if args.watch:  # each refresh says when it was taken
            console.print(f"status of {args.stack} at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC "
                          f"(every {args.watch:g}s; Ctrl-C stops)", markup=False)
        problem = prometheus_problem(url) if url else None
        if problem:  # say why there are no values, rather than a table of nodata
            console.print(f"live gates: Prometheus at {url} (from {source}) is not usable: {problem}", markup=False)
        show_status(view, console, None if problem else gates, offline=driver is None)
        if driver is not None:
            show_live_drift(args.stack, driver, console)
        if not args.watch:
            return EXIT_OK
        try:
            sleep(args.watch)
            view = read()
        except KeyboardInterrupt:
            return EXIT_OK
        except (UsageError, ConfigError) as error:
            console.print(f"error: {error}", markup=False)
            return EXIT_USAGE

