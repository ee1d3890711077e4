"""`python -m ops check -s STACK`: the seed's pre-deployment check, one report, non-zero on failure.

1. the offline plan tiers (ops.plan: program under the SDK monitor, T3-T6 on what it registers);
2. where reachable: `pulumi preview` (Automation API), node readiness (`kubectl get nodes`), and the
   Prometheus (/-/healthy) and Grafana (/api/health) health endpoints.
A live part whose tool or URL is missing is skipped with the reason (the plan tiers are never skipped);
--offline skips them all. Exit codes: 0 all pass, 1 something failed, 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import httpx
from rich.console import Console
from rich.table import Table

from ops.checks.base import CheckResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[], CheckResult]


def pulumi_preview(stack: str) -> CheckResult:
    if shutil.which("pulumi") is None:
        return CheckResult("skip", "pulumi CLI not on PATH: preview skipped (the offline plan above stands in)")
    from ops.driver import AutomationDriver

    try:
        outcome = AutomationDriver(stack, echo=lambda line: None).preview()
    except Exception as error:  # select_stack fails without a backend login or stack
        return CheckResult("fail", f"pulumi preview could not start: {error}")
    return CheckResult("pass" if outcome.ok else "fail", outcome.summary if outcome.ok else outcome.error)


def node_readiness(kubectl: Optional[str] = None, timeout: float = 30) -> CheckResult:
    kubectl = kubectl or shutil.which("kubectl")
    if kubectl is None:
        return CheckResult("skip", "kubectl not on PATH: node readiness skipped")
    try:
        done = subprocess.run([kubectl, "get", "nodes", "-o", "json", f"--request-timeout={int(timeout)}s"],
                              capture_output=True, text=True, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return CheckResult("fail", "cannot connect to the cluster: kubectl timed out")
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]  # kubectl repeats its error
        return CheckResult("fail", f"cannot connect to the cluster (kubectl exit {done.returncode}): {last_line[:200]}")
    nodes = json.loads(done.stdout).get("items", [])
    ready = [n["metadata"]["name"] for n in nodes if any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in n.get("status", {}).get("conditions", []))]
    not_ready = sorted({n["metadata"]["name"] for n in nodes} - set(ready))
    if not nodes or not_ready:
        return CheckResult("fail", f"{len(ready)}/{len(nodes)} nodes Ready; not ready: {not_ready}")
    return CheckResult("pass", f"{len(ready)}/{len(nodes)} nodes Ready")


def http_health(what: str, url: Optional[str], path: str, timeout: float = 10) -> CheckResult:
    if not url:
        return CheckResult("skip", f"no {what} URL (--{what.lower()}-url, or the stack output): skipped")
    target = url.rstrip("/") + path
    try:
        code = httpx.get(target, timeout=timeout).status_code
    except httpx.HTTPError as error:
        return CheckResult("fail", f"{what} not reachable at {target}: {error}")
    return CheckResult("pass" if code == 200 else "fail", f"{target}: HTTP {code}")


def deployed_outputs(stack: str) -> dict[str, Any]:
    """The stack's outputs when a CLI can read them (the in-cluster URLs observability exports), else {}."""
    if shutil.which("pulumi") is None:
        return {}
    from ops.driver import AutomationDriver

    try:
        return AutomationDriver(stack, echo=lambda line: None).read().outputs
    except Exception:  # no backend login or no such stack: the flags are the only source then
        return {}


def live_probes(args: argparse.Namespace) -> list[Probe]:
    outputs = deployed_outputs(args.stack)
    prometheus = args.prometheus_url or outputs.get("prometheusUrl")
    grafana = args.grafana_url or outputs.get("grafanaUrl")
    return [
        Probe("pulumi preview", lambda: pulumi_preview(args.stack)),
        Probe("node readiness", node_readiness),
        Probe("prometheus health", lambda: http_health("Prometheus", prometheus, "/-/healthy")),
        Probe("grafana health", lambda: http_health("Grafana", grafana, "/api/health")),
    ]


def check(stack: str, sets: list[str], out: Optional[Path], probes: list[Probe], console: Console,
          plan_checks: Optional[list[Any]] = None) -> int:
    from ops.plan import plan

    outcome = plan(stack, sets, out, console=console, checks=plan_checks)
    if outcome.exit_code == EXIT_USAGE:
        return EXIT_USAGE
    rows: list[tuple[str, str, str]] = [
        (f"{check_.tier} {check_.name}", result.status, result.summary) for check_, result in outcome.checks.values()]
    rows.insert(0, ("plan", "pass" if outcome.exit_code == 0 else "fail", f"exit {outcome.exit_code}"))
    for probe in probes:
        result = probe.run()
        rows.append((probe.name, result.status, result.summary))
    table = Table(title=f"pre-deployment check: {stack}")
    for column in ("check", "status", "summary"):
        table.add_column(column, overflow="fold")
    for name, status, summary in rows:
        colour = {"pass": "green", "fail": "red"}.get(status, "yellow")
        table.add_row(name, f"[{colour}]{status}[/]", summary)
    console.print(table)
    failed = [name for name, status, _ in rows if status == "fail"]
    console.print(f"check: {'FAILED: ' + ', '.join(failed) if failed else 'passed'}", markup=False)
    return EXIT_FAILED if failed else EXIT_OK


def check_command(args: argparse.Namespace) -> int:
    from ops.plan import make_console

    return check(args.stack, args.set, args.out, [] if args.offline else live_probes(args), make_console())


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("check", help="pre-deployment check: plan tiers, then preview, nodes, health")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for the plan")
    parser.add_argument("--out", type=Path, default=None, help="plan output directory (default build/plan/STACK)")
    parser.add_argument("--offline", action="store_true", help="only the plan tiers; skip preview, nodes, health")
    parser.add_argument("--prometheus-url", help="Prometheus base URL for /-/healthy (default: output prometheusUrl)")
    parser.add_argument("--grafana-url", help="Grafana base URL for /api/health (default: output grafanaUrl)")
    parser.set_defaults(func=check_command)
