"""Tier T7 plumbing: the engine `make engine` built, a throwaway copy of the project, and commands run in
it with the environment `python -m ops local env` prints."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.engine.build import bin_dir
from ops.local.scratch import copy_project  # noqa: F401 (re-exported: the tests' copy of the project)
from ops.local.stack import parse_exports

# The tests' cluster listens on its own ports, so a developer's `make up` cluster may keep running;
# DOC_RAG_E2E_PORT_BASE moves them when two checkouts run the tier at once.
PORT_BASE = int(os.environ.get("DOC_RAG_E2E_PORT_BASE", "26379"))
# etcd, etcd peer, kube-apiserver, the traffic source, Prometheus (ops/local/cluster.py)
PORTS = tuple(range(PORT_BASE, PORT_BASE + 5))


def engine_bin() -> Path:
    """The built engine; skip locally when it is missing, fail under CI=true (never skipped there)."""
    path = bin_dir()
    if (path / ".complete").exists():
        return path
    message = f"the engine is not built at {path}: run `make engine`"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Project:
    root: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 900, stdin: str = "",
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(args), cwd=cwd or self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=stdin)
        if check and done.returncode != 0:
            raise AssertionError(f"`{' '.join(args)}` exited {done.returncode}\n--- stdout\n{done.stdout[-6000:]}"
                                 f"\n--- stderr\n{done.stderr[-4000:]}")
        return done

    def ops(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "ops", *args, check=check, timeout=timeout)

    def pulumi(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.run("pulumi", *args, "--non-interactive", check=check, timeout=timeout)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, check=check, timeout=300)  # above any `kubectl wait --timeout`


def test_environ(**extra: str) -> dict[str, str]:
    # COLUMNS: rich renders the reports' tables unwrapped, so a query reads as one string.
    env = {**os.environ, "DOC_RAG_LOCAL_PORT_BASE": str(PORT_BASE), "COLUMNS": "400", **extra}
    env.pop("PULUMI_CONFIG_PASSPHRASE", None)  # the local stack reads its passphrase file only
    return env


def local_up(project_root: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ops", "local", "up"], cwd=project_root, capture_output=True,
                          text=True, env=test_environ(**extra_env), timeout=300)


def local_env(project_root: Path) -> dict[str, str]:
    """The exports of `python -m ops local env`, applied over the tests' environment."""
    env = test_environ()
    printed = subprocess.run([sys.executable, "-m", "ops", "local", "env"], cwd=project_root, capture_output=True,
                             text=True, check=True, env=env).stdout
    return {**env, **parse_exports(printed)}
