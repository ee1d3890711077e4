"""What the release commands (`ops promote`, `rollback`, `status`, `check`) share: the clocks, the stack
driver they act through, where a URL comes from, the gates asked of Prometheus, and the gate table they print.

The exit codes are in ops/exit_codes.py (the pure state machine below this module decides them too).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from components.config import GatesConfig, GateVerdict
from ops.drift import StackView
from ops.driver import AutomationDriver, Driver, OfflineDriver
from ops.release_state import GateReport, Observe
from ops.stackconfig import UsageError, refuse_plain_secrets

# -- clocks ---------------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class SimulatedClock:
    """Time that moves only when slept: `--dry-run`, the decision bench and tests walk hours of soak instantly."""

    t: float = 1_700_000_000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


# -- the stack driver -----------------------------------------------------------------------------

def pulumi_cli() -> Optional[str]:
    return shutil.which("pulumi")


def make_driver(stack: str, dry_run: bool, sets: list[str], console: Console) -> Driver:
    """The offline driver for --dry-run (from the stack files, with --set applied), else the Automation API."""
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


# -- where a URL comes from -----------------------------------------------------------------------

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


# -- the gates asked of Prometheus ----------------------------------------------------------------

GateSource = Callable[[Observe, GatesConfig], GateReport]


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


# -- reports --------------------------------------------------------------------------------------

def gate_table(gates: tuple[GateVerdict, ...], title: str = "gates") -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("gate", "status", "value", "threshold", "samples", "query", "note"):
        table.add_column(column, overflow="fold")
    for gate in gates:
        table.add_row(gate.gate, gate.status, "no data" if gate.value is None else f"{gate.value:.6g}",
                      "" if gate.threshold is None else f"{gate.threshold:g}",
                      "" if gate.samples is None else f"{gate.samples:g}", gate.query, gate.reason)
    return table
