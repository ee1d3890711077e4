"""The command line of `python -m ops`: every command's arguments, and the function that runs it.

Standard library only: a usage error or `--help` is answered before anything else is imported. A
command's module (and with it the SDKs, the checks, the HTTP client) is imported when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import math
from dataclasses import dataclass
from pathlib import Path

LOCAL_DESCRIPTION = """\
`python -m ops local up|env|status|down`: the local Kubernetes control plane the `local` stack deploys to.

  up      start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1
          (idempotent), install CRDs, storage and 3 nodes, and prepare the `local` stack
  env     print the shell exports that point pulumi and kubectl at it: eval "$(python -m ops local env)"
  status  each process, its pid, ports and log
  down    stop exactly what `up` started and remove build/local/cluster
  traffic --color C --error-share X [--latency S] | --reset
          change how one colour answers the local traffic source (errors, latency); --reset: all healthy
"""


@dataclass(frozen=True)
class Command:
    """The function that runs a command, as `module:function`; the module is imported on the call."""

    target: str

    def __call__(self, args: argparse.Namespace) -> int:
        module, _, function = self.target.partition(":")
        return int(getattr(importlib.import_module(module), function)(args))


# -- argument types: each refuses a bad value with the reason (argparse exits 2) --------------------

def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: a positive number of seconds")
    return value


def share(text: str) -> float:
    value = float(text) if text.replace(".", "", 1).isdigit() else math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: a share from 0 to 1 (0.2 = 20 % of requests fail)")
    return value


def latency_seconds(text: str) -> float:
    value = float(text) if text.replace(".", "", 1).isdigit() else math.nan
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: seconds, more than 0 and at most 60")
    return value


# -- the commands ---------------------------------------------------------------------------------

def _plan(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("plan", help="run the program offline, render manifests, run checks T3-T6")
    parser.add_argument("-s", "--stack", default="prod", help="stack name (Pulumi.<stack>.yaml); default prod")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override config with `pulumi config set --path` semantics, e.g. "
                             "release.canaryWeight=25")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default build/plan/STACK)")
    parser.add_argument("--preview", action="store_true",
                        help="run as a preview: computed outputs are unknown, as in `pulumi preview`")
    parser.add_argument("--compare", type=Path, default=None, metavar="BASE_PLAN_JSON",
                        help="print the monthly cost change per item against an earlier plan.json "
                             "(also written to DIR/cost-diff.md)")
    parser.set_defaults(func=Command("ops.plan:plan_command"))


def _engine(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("engine", help="build (or reuse) the real engine from Go modules")
    parser.add_argument("--bin", action="store_true", help="print only the engine's bin directory")
    parser.set_defaults(func=_run_engine)


def _run_engine(args: argparse.Namespace) -> int:
    from ops.engine.cli import main as engine_main

    return engine_main(["--bin"] if args.bin else [])


def _check(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("check", help="pre-deployment check: plan tiers, then preview, nodes, health")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for the plan")
    parser.add_argument("--out", type=Path, default=None, help="plan output directory (default build/plan/STACK)")
    parser.add_argument("--offline", action="store_true",
                        help="only the plan tiers; skip preview, nodes, health (without it, a check in which no "
                             "live probe ran exits 1)")
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="kubeconfig of the stack's cluster for node readiness (default: the stack's kubeconfig "
                             "output, else cluster.kubeconfig; with neither, node readiness is not run)")
    parser.add_argument("--context", metavar="NAME", help="kubectl context of the stack's cluster for node readiness")
    parser.add_argument("--api-url",
                        help="API base URL for /health and /ready (default: $DOC_RAG_API_URL, output apiUrl)")
    parser.add_argument("--prometheus-url",
                        help="Prometheus base URL for /-/healthy (default: $PROMETHEUS_URL, output prometheusUrl)")
    parser.add_argument("--grafana-url",
                        help="Grafana base URL for /api/health (default: $GRAFANA_URL, output grafanaUrl)")
    parser.set_defaults(func=Command("ops.check:check_command"))


def _promote(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("promote", help="walk the canary steps with metric gates; roll back on failure")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--dry-run", action="store_true",
                        help="walk the steps against the offline plan and print what each up would change")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="--dry-run only: start from overridden config (pulumi config set --path semantics)")
    parser.add_argument("--prometheus-url", help="Prometheus base URL (default: $PROMETHEUS_URL, output prometheusUrl)")
    parser.add_argument("--api-url", help="API base URL for the smoke check (default: $DOC_RAG_API_URL, output apiUrl)")
    parser.set_defaults(func=Command("ops.promote:promote_command"))


def _rollback(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("rollback", help="all traffic back to the stable colour with one up")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--dry-run", action="store_true", help="show what the up would change, offline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="--dry-run only: start from overridden config")
    parser.add_argument("--reason", default="manual rollback (ops rollback)", help="recorded in the verdict history")
    parser.set_defaults(func=Command("ops.rollback:rollback_command"))


def _status(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("status", help="colours, images, weight, last verdicts, live gate values")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--watch", type=positive_seconds, nargs="?", const=30.0, default=None, metavar="SECONDS",
                        help="refresh every SECONDS (default 30, a positive number) until interrupted")
    parser.add_argument("--prometheus-url", help="Prometheus base URL (default: $PROMETHEUS_URL, output prometheusUrl)")
    parser.set_defaults(func=Command("ops.status:status_command"))


def _restore(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("restore", help="the Postgres restore procedure (PITR from pgBackRest), step by step")
    parser.add_argument("-s", "--stack", required=True, help="stack name")
    parser.add_argument("--to", required=True, metavar="TIME|latest",
                        help="an ISO 8601 time with its offset (2026-12-03T19:30:00Z), or latest")
    parser.add_argument("--dry-run", action="store_true", help="print the steps only; contact no cluster")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig for the read-only repository check")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="--dry-run only: start from overridden config")
    parser.set_defaults(func=Command("ops.restore:restore_command"))


def _local(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("local", help="the local Kubernetes control plane (up|env|status|down)",
                                 description=LOCAL_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("up", "env", "status", "down", "traffic"))
    parser.add_argument("--color", choices=("blue", "green"), help="traffic: the colour to change")
    parser.add_argument("--error-share", type=share, help="traffic: share of that colour's requests that fail")
    parser.add_argument("--latency", type=latency_seconds, help="traffic: that colour's response time in seconds")
    parser.add_argument("--reset", action="store_true", help="traffic: every colour healthy again")
    parser.set_defaults(func=Command("ops.local.cli:run"))


COMMANDS = (_plan, _engine, _check, _promote, _rollback, _status, _restore, _local)  # the order --help lists


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops",
        description="Operator commands: `python -m ops plan|check|promote|rollback|status|restore|engine|local` "
                    "(see README.md).")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(commands)
    return parser
