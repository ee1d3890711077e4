"""The operator CLI's console: rich on a terminal; in CI logs and pipes wide and unwrapped, so a long line (a
`would run` command, a gate's query) stays one line that grep and copy-paste can use."""

from __future__ import annotations

from rich.console import Console

LOG_WIDTH = 200  # tables are laid out to this width when not on a terminal


def make_console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=LOG_WIDTH, soft_wrap=True)
