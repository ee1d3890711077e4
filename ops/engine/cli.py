"""`python -m ops engine [--bin]`: build.main under the engine home's lock (--bin only reads, so it never waits).

The lock lives outside build.py because build.py is part of the recipe hash: changing it means a cold build."""

from __future__ import annotations

from ops.engine.build import engine_home
from ops.engine.build import main as build_main
from ops.engine.lock import exclusive


def main(argv: list[str]) -> int:
    if argv == ["--bin"]:
        return build_main(argv)
    with exclusive(engine_home() / "build.lock", lambda line: print(line, flush=True)):
        return build_main(argv)
