"""The operator CLI's console: rich on a terminal; in CI logs and pipes wide and unwrapped, so a long line (a
`would run` command, a gate's query) stays one line that grep and copy-paste can use."""

from __future__ import annotations

import os

from rich.console import Console

LOG_WIDTH = 200  # tables are laid out to this width when not on a terminal and COLUMNS does not say


def make_console() -> Console:
    console = Console(highlight=False)
    if console.is_terminal:
        return console
    return Console(highlight=False, width=None if os.environ.get("COLUMNS") else LOG_WIDTH, soft_wrap=True)
