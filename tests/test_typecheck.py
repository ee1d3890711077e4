"""T1: mypy on components/ and ops/ passes, and rejects a call with a wrong argument type."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import FIXTURES, PROJECT_DIR


def mypy(*targets: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", *targets], cwd=PROJECT_DIR, capture_output=True, text=True)


def test_components_and_ops_typecheck():
    result = mypy("components", "ops")
    assert result.returncode == 0, result.stdout


def test_wrong_argument_type_is_rejected():
    result = mypy(str(FIXTURES / "typecheck" / "wrong_arg_type.py"))
    assert result.returncode == 1
    assert 'Argument "component" to "labels" has incompatible type "int"' in result.stdout
