"""One engine build at a time per engine home: concurrent `make engine` runs (two shells, or tests that call
`make plan` on a cold cache) would otherwise copy over and delete each other's work trees mid-build."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def exclusive(lock_path: Path, echo: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on lock_path, saying so when another build holds it first."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo(f"engine: another build holds {lock_path}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
