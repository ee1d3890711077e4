"""`python -m ops check -s STACK`: the pre-deployment check, one report, non-zero on failure.

1. the offline plan tiers (ops.plan: program under the SDK monitor, T3-T6 on what it registers);
2. where reachable: `pulumi preview` with the policy pack (Automation API), live drift (objects changed
   outside Pulumi: ops/live_drift.py), node readiness (`kubectl get
   nodes` against the stack's own cluster only: an explicit --kubeconfig/--context, else its `kubeconfig`
   output (eks), else the kubeconfig its config names (existing); with none of them it is not run, never
   against the current context), and the health endpoints of
   the API (/health, /ready), Prometheus (/-/healthy) and Grafana (/api/health). Each URL comes from the
   flag, else the environment (DOC_RAG_API_URL, PROMETHEUS_URL, GRAFANA_URL), else the stack output.
A live part whose tool or URL is missing is skipped with the reason, as is an in-cluster address
(`*.svc`) this machine cannot resolve (the plan tiers are never skipped); --offline skips them all.
Exit codes: 0 all pass, 1 something failed or no live probe ran without --offline, 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.table import Table

from ops.checks.base import CheckResult
from ops.cli_common import url_source
from ops.console import make_console
from ops.exit_codes import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE
from ops.live_drift import remedy
from ops.plan import plan
from ops.stackconfig import PROJECT_DIR, UsageError, load_stack_config

POLICY_PACK = PROJECT_DIR / "policies"


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[], CheckResult]


@dataclass
class LiveStack:
    """The deployed stack as the live probes see it, selected once through the CLI."""

    stack: str
    driver: Optional[Any] = None  # ops.driver.AutomationDriver when the CLI could select the stack
    outputs: dict[str, Any] = field(default_factory=dict)  # masked: secret outputs are not in here
    problem: str = ""  # why there is no driver
    cli_found: bool = True


def open_stack(stack: str) -> LiveStack:
    if shutil.which("pulumi") is None:
        return LiveStack(stack, problem="pulumi CLI not on PATH", cli_found=False)
    from ops.driver import AutomationDriver

    try:
        driver = AutomationDriver(stack, echo=lambda line: None)
        return LiveStack(stack, driver, driver.outputs())
    except UsageError as error:  # StackAccessError: not logged in, no passphrase, no such stack
        return LiveStack(stack, problem=str(error))


def pulumi_preview(live: LiveStack) -> CheckResult:
    if live.driver is None:
        if not live.cli_found:
            return CheckResult("skip", "pulumi CLI not on PATH: preview skipped (the offline plan above stands in)")
        return CheckResult("fail", f"pulumi preview could not start: {live.problem}")
    # The CrossGuard pack judges the engine's own view of every resource, as CI's preview does.
    outcome = live.driver.preview(policy_packs=[str(POLICY_PACK)])
    return CheckResult("pass" if outcome.ok else "fail", outcome.summary if outcome.ok else outcome.error)


@contextlib.contextmanager
def kubeconfig_file(content: Any) -> Iterator[Optional[str]]:
    """The stack's (decrypted) kubeconfig output in a 0600 temporary file for kubectl, deleted afterwards."""
    if not content:
        yield None
        return
    handle, path = tempfile.mkstemp(prefix="doc-rag-kubeconfig-", suffix=".json")  # created 0600
    try:
        with os.fdopen(handle, "w") as out:
            out.write(content if isinstance(content, str) else json.dumps(content))
        os.chmod(path, 0o600)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def live_drift(live: LiveStack) -> CheckResult:
    """Objects changed in the cluster outside Pulumi since the last `up` (refresh-based, changes nothing)."""
    if live.driver is None:
        return CheckResult("skip" if not live.cli_found else "fail",
                           f"live drift not compared: {live.problem}")
    try:
        drifted = live.driver.live_drift()
    except UsageError as error:
        return CheckResult("fail", str(error))
    if not drifted:
        return CheckResult("pass", "the live objects are what the stack deployed")
    return CheckResult("fail", f"{len(drifted)} field(s) changed outside Pulumi: "
                               + "; ".join(field.describe() for field in drifted)
                               + f" ({remedy(live.stack)})")


def configured_kubeconfig(stack: str) -> Optional[str]:
    """What an `existing` cluster's config names as its kubeconfig (contents, or a path from the project
    directory, as the provider reads it); None when it names none."""
    try:
        return load_stack_config(stack).model().cluster.kubeconfig
    except (UsageError, ValueError):
        return None


def stack_node_readiness(live: LiveStack, kubeconfig: Optional[str] = None, context: Optional[str] = None
                         ) -> CheckResult:
    """Nodes of the stack's own cluster, never whatever cluster the current context happens to be: an explicit
    --kubeconfig/--context, else the stack's `kubeconfig` output (eks), else the kubeconfig its config names
    (existing); with none of them kubectl is not run."""
    if kubeconfig or context:
        if kubeconfig and not Path(kubeconfig).is_file():
            return CheckResult("fail", f"--kubeconfig {kubeconfig} does not exist")
        chosen = " ".join(part for part in (kubeconfig and f"--kubeconfig {kubeconfig}",
                                            context and f"--context {context}") if part)
        result = node_readiness(kubeconfig=kubeconfig, context=context)
        return CheckResult(result.status, f"{result.summary}; via {chosen}", result.findings)
    content = live.driver.secret_output("kubeconfig") if live.driver is not None else None
    where = "via the stack's kubeconfig output"
    named = None if content else configured_kubeconfig(live.stack)
    if named and "\n" not in named:
        if not (PROJECT_DIR / named).is_file():
            return CheckResult("fail", f"cluster.kubeconfig names {PROJECT_DIR / named}, which does not exist")
        content, where = (PROJECT_DIR / named).read_text(), f"via cluster.kubeconfig ({named})"
    elif named:
        content, where = named, "via the kubeconfig in cluster.kubeconfig"
    if not content:
        why = "the stack has no kubeconfig output" if live.driver is not None else live.problem
        return CheckResult("skip", f"not run: nothing names the stack's cluster ({why}, and Pulumi.{live.stack}.yaml "
                                   f"sets no cluster.kubeconfig); pass --kubeconfig PATH or --context NAME")
    with kubeconfig_file(content) as path:
        result = node_readiness(kubeconfig=path)
    return CheckResult(result.status, f"{result.summary}; {where}", result.findings)


def node_readiness(kubectl: Optional[str] = None, timeout: float = 30, kubeconfig: Optional[str] = None,
                   context: Optional[str] = None) -> CheckResult:
    kubectl = kubectl or shutil.which("kubectl")
    if kubectl is None:
        return CheckResult("skip", "kubectl not on PATH: node readiness skipped")
    command = [kubectl, "get", "nodes", "-o", "json", f"--request-timeout={int(timeout)}s"]
    if kubeconfig:
        command += ["--kubeconfig", kubeconfig]
    if context:
        command += ["--context", context]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 5)
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


def resolvable(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return True


def http_health(what: str, url: Optional[str], paths: tuple[str, ...], env: str, timeout: float = 10) -> CheckResult:
    flag = f"--{what.lower()}-url"
    if not url:
        return CheckResult("skip", f"no {what} URL ({flag}, ${env}, or the stack output): skipped")
    host = urlsplit(url).hostname or ""
    if ".svc" in host and not resolvable(host):
        return CheckResult("skip", f"{url} is an in-cluster address this machine cannot resolve: port-forward and "
                                   f"pass {flag} or set ${env}")
    answers, failed = [], False
    for path in paths:
        target = url.rstrip("/") + path
        try:
            code = httpx.get(target, timeout=timeout).status_code
        except httpx.HTTPError as error:
            return CheckResult("fail", f"{what} not reachable at {target}: {error}")
        answers.append(f"{target}: HTTP {code}")
        failed = failed or code != 200
    return CheckResult("fail" if failed else "pass", "; ".join(answers))


def live_probes(args: argparse.Namespace) -> list[Probe]:
    live = open_stack(args.stack)  # outputs: the in-cluster URLs observability exports ({} without a CLI)
    api = url_source(args.api_url, "DOC_RAG_API_URL", live.outputs, "apiUrl", flag="--api-url")[0]
    prometheus = url_source(args.prometheus_url, "PROMETHEUS_URL", live.outputs, "prometheusUrl",
                            flag="--prometheus-url")[0]
    grafana = url_source(args.grafana_url, "GRAFANA_URL", live.outputs, "grafanaUrl", flag="--grafana-url")[0]
    return [
        Probe("pulumi preview", lambda: pulumi_preview(live)),
        Probe("live drift", lambda: live_drift(live)),
        Probe("node readiness", lambda: stack_node_readiness(live, args.kubeconfig, args.context)),
        Probe("api health", lambda: http_health("API", api, ("/health", "/ready"), "DOC_RAG_API_URL")),
        Probe("prometheus health", lambda: http_health("Prometheus", prometheus, ("/-/healthy",), "PROMETHEUS_URL")),
        Probe("grafana health", lambda: http_health("Grafana", grafana, ("/api/health",), "GRAFANA_URL")),
    ]


def check(stack: str, sets: list[str], out: Optional[Path], probes: list[Probe], console: Console,
          plan_checks: Optional[list[Any]] = None) -> int:
    outcome = plan(stack, sets, out, console=console, checks=plan_checks)
    if outcome.exit_code == EXIT_USAGE:
        return EXIT_USAGE
    rows: list[tuple[str, str, str]] = [
        (f"{check_.tier} {check_.name}", result.status, result.summary) for check_, result in outcome.checks.values()]
    rows.insert(0, ("plan", "pass" if outcome.exit_code == 0 else "fail", f"exit {outcome.exit_code}"))
    if probes:
        console.print(f"running {len(probes)} live probes against stack {stack} …", highlight=False)
    for probe in probes:
        started = time.monotonic()
        result = probe.run()
        console.print(f"  {probe.name}: {result.status} ({time.monotonic() - started:.1f}s)", highlight=False)
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
    if probes and all(status == "skip" for name, status, _ in rows[-len(probes):]):
        # A pass of the plan alone must not read as a pass of the live stack.
        console.print("check: no live probe ran (see the reasons above): the live stack was not checked; "
                      "run with --offline to check the plan tiers only", markup=False)
        return EXIT_CHECK_FAILED
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def check_command(args: argparse.Namespace) -> int:
    return check(args.stack, args.set, args.out, [] if args.offline else live_probes(args), make_console())

