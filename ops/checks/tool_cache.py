"""A content-hash cache of a tool's passing runs, under build/cache/ (never a failure: a failure runs again).

A run is keyed by everything its result can depend on: the tool's binary (real path, inode, size, mtime and
ctime: replacing or upgrading it changes the key), its arguments, and every file under its working directory
(relative path and bytes; callers pass relative paths only, so the tool reads nothing else). Equal keys mean
the same binary would read the same bytes, so a hit can never hide a change.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ops.stackconfig import PROJECT_DIR

CACHE_ROOT = PROJECT_DIR / "build" / "cache"
FORMAT = "1"  # bump when what a key covers changes


@dataclass(frozen=True)
class ToolRun:
    ok: bool
    output: str
    cached: bool  # True: a stored pass with this key, the tool not started


def binary_identity(tool: str) -> dict[str, object]:
    real = os.path.realpath(tool)
    info = os.stat(real)
    return {"path": real, "inode": info.st_ino, "size": info.st_size, "mtime_ns": info.st_mtime_ns,
            "ctime_ns": info.st_ctime_ns}


def directory_digest(directory: Path) -> list[tuple[str, str]]:
    """(relative path, sha256) of every file under directory, sorted."""
    return sorted((path.relative_to(directory).as_posix(), hashlib.sha256(path.read_bytes()).hexdigest())
                  for path in directory.rglob("*") if path.is_file())


def run_key(tool: str, args: list[str], cwd: Path) -> str:
    material = {"format": FORMAT, "tool": binary_identity(tool), "args": args, "files": directory_digest(cwd)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def run_cached(tool: str, args: list[str], cwd: Path, *, timeout: float, cache_dir: Optional[Path]) -> ToolRun:
    """The tool's result in cwd, from the cache when an identical run passed before. cache_dir=None: no cache."""
    entry = cache_dir / f"{run_key(tool, args, cwd)}.json" if cache_dir is not None else None
    if entry is not None and entry.is_file():
        return ToolRun(True, json.loads(entry.read_text())["output"], cached=True)
    done = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    output = (done.stdout + done.stderr).strip()
    if done.returncode == 0 and entry is not None:
        _store(entry, output)
    return ToolRun(done.returncode == 0, output, cached=False)


def _store(entry: Path, output: str) -> None:
    """Written aside and renamed: concurrent plans or test workers never read half an entry."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
    with os.fdopen(handle, "w") as stream:
        json.dump({"output": output}, stream)
    os.replace(temporary, entry)
