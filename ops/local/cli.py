"""`python -m ops local up|env|status|down`: the local Kubernetes control plane the `local` stack deploys to.

  up      start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1
          (idempotent), install CRDs, storage and 3 nodes, and prepare the `local` stack
  env     print the shell exports that point pulumi and kubectl at it: eval "$(python -m ops local env)"
  status  each process, its pid, ports and log
  down    stop exactly what `up` started and remove build/local/cluster
  traffic --color C --error-share X [--latency S] | --reset
          change how one colour answers the local traffic source (errors, latency); --reset: all healthy
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from components.config import ConfigError
from ops.engine.build import bin_dir
from ops.local import lifecycle, stack
from ops.local.cluster import CLUSTER_DIR, TRAFFIC_CONTROL, LocalClusterError
from ops.plan import EXIT_USAGE
from ops.stackconfig import UsageError


def _echo(line: str) -> None:
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
            # A broken Pulumi.local.yaml, or a secret in it in clear, stops `up` before any process starts.
            stack.check_stack_file()
            lifecycle.up(bin_dir(), _echo)
            _echo('local: ready. Point your shell at it with: eval "$(python -m ops local env)"')
        elif args.action == "env":
            print(stack.shell_exports(stack.environment(bin_dir())))
        elif args.action == "status":
            rows = lifecycle.status_rows()
            width = max(len(name) for name, *_ in rows)
            for name, pid, ports, log in rows:
                print(f"{name:<{width}}  pid {pid:<8}  ports {ports:<13}  log {log}")
            return 0 if all(pid != "stopped" for _, pid, _, _ in rows) else 1
        elif args.action == "traffic":
            return traffic(args)
        else:
            lifecycle.down(_echo)
    except LocalClusterError as error:
        print(f"local: error: {error}", file=sys.stderr)
        return 1
    except (UsageError, ConfigError) as error:
        print(f"local: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def traffic(args: argparse.Namespace) -> int:
    """Write the traffic source's control file (it reads it on every tick)."""
    if not CLUSTER_DIR.exists():
        print("local: error: the local cluster is not up (python -m ops local up)", file=sys.stderr)
        return 1
    if args.reset:
        TRAFFIC_CONTROL.unlink(missing_ok=True)
        _echo("local: traffic: every colour healthy")
        return 0
    if args.color is None or args.error_share is None:
        print("local: error: traffic needs --color and --error-share (or --reset)", file=sys.stderr)
        return 2
    settings = json.loads(TRAFFIC_CONTROL.read_text()) if TRAFFIC_CONTROL.exists() else {}
    settings[args.color] = {"errorShare": args.error_share, **({"latency": args.latency} if args.latency else {})}
    TRAFFIC_CONTROL.write_text(json.dumps(settings))
    _echo(f"local: traffic: {args.color} answers {args.error_share:.0%} of its requests with 500"
          + (f", in {args.latency}s" if args.latency else ""))
    return 0


def _fraction(text: str) -> float:
    value = float(text) if text.replace(".", "", 1).isdigit() else math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: a share from 0 to 1 (0.2 = 20 % of requests fail)")
    return value


def _seconds(text: str) -> float:
    value = float(text) if text.replace(".", "", 1).isdigit() else math.nan
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: seconds, more than 0 and at most 60")
    return value


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("local", help="the local Kubernetes control plane (up|env|status|down)",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("up", "env", "status", "down", "traffic"))
    parser.add_argument("--color", choices=("blue", "green"), help="traffic: the colour to change")
    parser.add_argument("--error-share", type=_fraction, help="traffic: share of that colour's requests that fail")
    parser.add_argument("--latency", type=_seconds, help="traffic: that colour's response time in seconds")
    parser.add_argument("--reset", action="store_true", help="traffic: every colour healthy again")
    parser.set_defaults(func=run)
