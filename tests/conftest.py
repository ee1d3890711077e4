"""Shared fixtures: the program run under the SDK monitor, and plan runs into temporary directories.

A test that only reads what the program registered (no monkeypatching, no stack_config of its own) calls
`program(...)`: the program runs once per distinct (stack, overrides, preview) in a test process and each
caller gets its own deep copy. A test that only reads a finished plan uses the `plans` fixture the same way.
checkov runs once per distinct set of manifest bytes in a test process (`checkov_once_per_input`).
"""

from __future__ import annotations

import copy
import io
import os
import shutil
from pathlib import Path
from typing import Any, Optional

import pytest
from rich.console import Console

from ops.checks import checkov as checkov_check
from ops.checks import tool_cache
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


_PROGRAMS: dict[tuple[str, tuple[str, ...], bool], RunResult] = {}


def program(stack: str, overrides: tuple[str, ...] | list[str] = (), *, preview: bool = False) -> RunResult:
    """run_program's result for this config, run once per test process; a copy, so no test sees another's edits.
    An error (bad config) is raised each time, never stored."""
    key = (stack, tuple(overrides), preview)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = run_program(stack, overrides, preview=preview)
    return copy.deepcopy(_PROGRAMS[key])


class SharedPlans:
    """Plans by (stack, overrides, preview, checks), each run once per test process into its own directory.
    For tests that read a plan's outcome, output and files; a test that edits the output directory runs its own."""

    def __init__(self, root: Path):
        self.root = root
        self.done: dict[tuple[Any, ...], tuple[PlanOutcome, str]] = {}

    def get(self, stack: str = "prod", overrides: tuple[str, ...] = (), *, preview: bool = False,
            checks: Optional[list] = None) -> tuple[PlanOutcome, str]:
        key = (stack, tuple(overrides), preview, None if checks is None else tuple(check.name for check in checks))
        if key not in self.done:
            self.done[key] = run_plan(self.root / str(len(self.done)), stack, tuple(overrides), preview=preview,
                                      checks=checks)
        outcome, printed = self.done[key]
        return copy.deepcopy(outcome), printed


@pytest.fixture(scope="session")
def plans(tmp_path_factory: pytest.TempPathFactory) -> SharedPlans:
    return SharedPlans(tmp_path_factory.mktemp("shared-plans"))


@pytest.fixture(scope="session")
def prod_run() -> RunResult:
    return program("prod")


@pytest.fixture(scope="session")
def dev_run() -> RunResult:
    return program("dev")


@pytest.fixture(scope="session", autouse=True)
def checkov_once_per_input():
    """The same checkov on the same manifest bytes gives the same report: each distinct input is scanned once
    per test process (its report's paths are relative to the scanned directory), each caller gets a copy."""
    scan = checkov_check.run_checkov
    reports: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}

    def once(checkov: str, manifest_dir: Path) -> dict[str, Any]:
        key = (checkov, tuple(tool_cache.directory_digest(Path(manifest_dir))))
        if key not in reports:
            reports[key] = scan(checkov, manifest_dir)
        return copy.deepcopy(reports[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkov_check, "run_checkov", once)
        yield
