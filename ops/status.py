"""`python -m ops status -s STACK [--watch] [--prometheus-url URL]`: where the release stands.

Colours with their images and replicas, the canary weight and phase, whether config is deployed, the
last verdicts from the stack's own history and, when Prometheus is reachable, the live gate values.
Without the `pulumi` CLI it reads the stack files offline (the deployed state is then unknown).
Exit codes: 0 shown, 2 usage/config.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

from components.config import ConfigError
from ops.driver import Driver, StackView
from ops.promote import EXIT_USAGE, GateSource, endpoint, gate_table, make_driver, prometheus_gates, pulumi_cli
from ops.release_state import Observe
from ops.stackconfig import UsageError

LAST_VERDICTS = 8


def release_table(view: StackView) -> Table:
    release, state = view.release, view.state()
    table = Table(title=f"release ({state.phase})")
    for column in ("colour", "role", "image", "replicas", "traffic"):
        table.add_column(column)
    for color in ("blue", "green"):
        active = color == release.activeColor
        share = 100 - release.canaryWeight if active else release.canaryWeight
        table.add_row(color, "active" if active else "canary", release.color(color).image,
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


def show_status(view: StackView, console: Console, gates: Optional[GateSource] = None) -> None:
    state = view.state()
    deployed = view.deployed
    sync = ("deployed" if view.in_sync else "NOT deployed: config differs from the last up (promote reconciles it)"
            ) if deployed is not None else "deployed state unknown (no stack outputs)"
    console.print(f"stack config: {state.active_color} active, canary weight {state.weight}%, steps "
                  f"{list(state.steps)}; {sync}")
    console.print(release_table(view))
    if view.release.history:
        console.print(verdict_table(view))
    if gates is not None:
        baseline = state.stable_color if state.phase == "canary" else None
        report = gates(Observe(0, state.candidate_color, baseline, "status"), view.release.gates)
        console.print(gate_table(report.gates, f"live gates for {state.candidate_color}: {report.verdict}"))


def status_command(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    offline = pulumi_cli() is None
    try:
        driver: Driver = make_driver(args.stack, offline, [], console)
        view = driver.read()
    except (UsageError, ConfigError) as error:
        console.print(f"error: {error}", markup=False)
        return EXIT_USAGE
    if offline:
        console.print("pulumi CLI not on PATH: showing the stack files (offline); the deployed state is unknown")
    url = endpoint(args.prometheus_url, view, "prometheusUrl", "PROMETHEUS_URL")
    gates = prometheus_gates(url) if url else None
    if gates is None:
        console.print("live gates: no Prometheus URL (--prometheus-url or PROMETHEUS_URL)")
    while True:
        show_status(view, console, gates)
        if not args.watch:
            return 0
        time.sleep(args.watch)
        view = driver.read()


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("status", help="colours, images, weight, last verdicts, live gate values")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--watch", type=float, nargs="?", const=30.0, default=None, metavar="SECONDS",
                        help="refresh every SECONDS (default 30) until interrupted")
    parser.add_argument("--prometheus-url", help="Prometheus base URL (default: $PROMETHEUS_URL, output prometheusUrl)")
    parser.set_defaults(func=status_command)
