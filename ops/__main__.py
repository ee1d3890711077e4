"""Operator commands: `python -m ops plan|check|promote|rollback|status|restore|engine|local` (see README.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _plan(args: argparse.Namespace) -> int:
    from ops.plan import plan

    return plan(args.stack, args.set, args.out, preview=args.preview, compare=args.compare).exit_code


def _engine(args: argparse.Namespace) -> int:
    from ops.engine.cli import main as engine_main

    return engine_main(["--bin"] if args.bin else [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="run the program offline, render manifests, run checks T3-T6")
    plan.add_argument("-s", "--stack", default="prod", help="stack name (Pulumi.<stack>.yaml); default prod")
    plan.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override config with `pulumi config set --path` semantics, e.g. release.canaryWeight=25")
    plan.add_argument("--out", type=Path, default=None, help="output directory (default build/plan/STACK)")
    plan.add_argument("--preview", action="store_true",
                      help="run as a preview: computed outputs are unknown, as in `pulumi preview`")
    plan.add_argument("--compare", type=Path, default=None, metavar="BASE_PLAN_JSON",
                      help="print the monthly cost change per item against an earlier plan.json "
                           "(also written to DIR/cost-diff.md)")
    plan.set_defaults(func=_plan)

    engine = commands.add_parser("engine", help="build (or reuse) the real engine from Go modules")
    engine.add_argument("--bin", action="store_true", help="print only the engine's bin directory")
    engine.set_defaults(func=_engine)

    # The release and local-cluster commands register their own subparsers (docs/operations.md).
    from ops import check, promote, restore, rollback, status
    from ops.local import cli as local

    for module in (check, promote, rollback, status, restore, local):
        module.add_parser(commands)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, as our contract wants
        return int(exit_.code or 0)
    from components.config import ConfigError
    from ops.stackconfig import UsageError

    try:
        return int(args.func(args))
    except (UsageError, ConfigError) as error:  # every command: bad input is exit 2 with the reason, no traceback
        print(f"error: {error}", flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
