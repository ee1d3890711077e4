"""Shared fixtures: the program run under the SDK monitor, and plan runs into temporary directories."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Optional

import pytest
from rich.console import Console

from ops.plan import PlanOutcome, plan
from ops.runner import RunResult, run_program
from ops.stackconfig import StackConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_plan(tmp_path: Path, stack: str = "prod", overrides: tuple[str, ...] = (), *,
             preview: bool = False, checks: Optional[list] = None) -> tuple[PlanOutcome, str]:
    """Run the plan in-process; returns the outcome and everything it printed."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, highlight=False, force_terminal=False)
    outcome = plan(stack, overrides, tmp_path / "plan", preview=preview, checks=checks, console=console)
    return outcome, buffer.getvalue()


def with_secrets(config: StackConfig, **values: str) -> StackConfig:
    """The stack config as the engine hands it after decrypting: each value in its placeholder's place, still
    among the secret keys (a plain value never gets this far: see tests/test_secrets.py)."""
    for key, value in values.items():
        assert key in config.secret_keys and key in config.placeholders, key
        config.values[key] = value
        config.placeholders.remove(key)
    return config


def require_tool(name: str, reason: str) -> str:
    """Path of a tool; skip with the reason when absent, but under CI=true a missing tool fails."""
    path = shutil.which(name) or next(
        (str(p) for p in (PROJECT_DIR / ".venv/bin" / name, PROJECT_DIR / ".venv-checkov/bin" / name) if p.exists()),
        None,
    )
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{name} is required under CI=true ({reason})")
    pytest.skip(f"{name} not installed: {reason}")


@pytest.fixture(scope="session")
def prod_run() -> RunResult:
    return run_program("prod")


@pytest.fixture(scope="session")
def dev_run() -> RunResult:
    return run_program("dev")
