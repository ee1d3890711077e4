"""Operator commands: `python -m ops plan|check|promote|rollback|status|restore|engine|local` (see README.md).

The arguments are parsed (ops/arguments.py) before a command's module is imported; bad input is exit 2.
"""

from __future__ import annotations

import sys

from ops.arguments import build_parser
from ops.exit_codes import EXIT_USAGE


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
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
