"""The command modules of `python -m ops` import the plumbing below them (ops/cli_common.py, ops/exit_codes.py,
the drivers, the state machine), never one another; `ops check` runs the whole plan as its first part, the one
command that builds on another."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT_DIR

OPS = PROJECT_DIR / "ops"
COMMANDS = {"ops.plan", "ops.check", "ops.promote", "ops.rollback", "ops.status", "ops.restore", "ops.local.cli"}
BUILDS_ON = {("ops.check", "ops.plan")}


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_command_module_imports_another():
    for command in sorted(COMMANDS):
        path = OPS.parent / (command.replace(".", "/") + ".py")
        sideways = {other for other in COMMANDS - {command} if other in _imported(path)} - {
            other for importer, other in BUILDS_ON if importer == command}
        assert not sideways, f"{path.relative_to(OPS.parent)} imports the command module(s) {sorted(sideways)}"


def test_the_plumbing_imports_no_command_module():
    for name in ("cli_common", "exit_codes", "drift", "driver", "release_state", "arguments"):
        imported = _imported(OPS / f"{name}.py")
        assert not imported & COMMANDS, f"ops/{name}.py imports {sorted(imported & COMMANDS)}"
