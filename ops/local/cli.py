"""`python -m ops local up|env|status|down|traffic`: runs one action on the local Kubernetes control plane the
`local` stack deploys to (the actions and their arguments: ops/arguments.py)."""

from __future__ import annotations

import argparse
import json
import sys

from components.config import ConfigError
from ops.engine.build import bin_dir
from ops.exit_codes import EXIT_USAGE
from ops.local import lifecycle, stack
from ops.local.cluster import CLUSTER_DIR, TRAFFIC_CONTROL, LocalClusterError
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

