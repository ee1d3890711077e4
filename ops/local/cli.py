"""`python -m ops local up|env|status|down`: the local Kubernetes control plane the `local` stack deploys to.

  up      start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1
          (idempotent), install CRDs, storage and 3 nodes, and prepare the `local` stack
  env     print the shell exports that point pulumi and kubectl at it: eval "$(python -m ops local env)"
  status  each process, its pid, ports and log
  down    stop exactly what `up` started and remove build/local/cluster
"""

from __future__ import annotations

import argparse
import sys

from ops.engine.build import bin_dir
from ops.local import lifecycle, stack
from ops.local.cluster import LocalClusterError


def _echo(line: str) -> None:
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
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
        else:
            lifecycle.down(_echo)
    except LocalClusterError as error:
        print(f"local: error: {error}", file=sys.stderr)
        return 1
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("local", help="the local Kubernetes control plane (up|env|status|down)",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("up", "env", "status", "down"))
    parser.set_defaults(func=run)
