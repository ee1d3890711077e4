"""The floor `make bench` sets each plan beside: what the plan cannot make faster.

  imports  a fresh interpreter importing every module of the SDKs (pulumi, pulumi_kubernetes, pulumi_aws,
           pulumi_policy) that the plan loads for that stack: the list is read from sys.modules of a fresh
           interpreter after importing ops.plan (its checks) and running the program for the stack under the mocks;
  checkov  checkov's own bare run on the manifests that stack's plan wrote, with the plan's command line.
The floor is their sum; the plan's goal is the floor + 1.5 s (issue 16).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ops.checks.checkov import checkov_command, find_checkov
from ops.stackconfig import PROJECT_DIR

SDK_PACKAGES = ("pulumi", "pulumi_kubernetes", "pulumi_aws", "pulumi_policy")
GOAL_ABOVE_FLOOR_S = 1.5

_LIST_MODULES = """
import sys
import ops.plan
from ops.runner import run_program
run_program(sys.argv[1])
packages = set(sys.argv[2:])
print("\\n".join(sorted(name for name in sys.modules if name.split(".")[0] in packages)))
"""

_IMPORT_ALL = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"


def sdk_modules(stack: str) -> list[str]:
    """Every SDK module the plan of `stack` loads, in import-safe (sorted: parents first) order."""
    done = subprocess.run([sys.executable, "-c", _LIST_MODULES, stack, *SDK_PACKAGES], cwd=PROJECT_DIR,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"listing the SDK modules of {stack} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.split()


def import_command(modules: list[str]) -> list[str]:
    return [sys.executable, "-c", _IMPORT_ALL, *modules]


def bare_checkov_command(manifest_dir: Path) -> list[str]:
    checkov = find_checkov()
    if checkov is None:
        raise RuntimeError("checkov not found: make setup installs it into .venv-checkov")
    return checkov_command(checkov, manifest_dir)
