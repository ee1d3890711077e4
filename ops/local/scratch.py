"""A throwaway copy of the project, for a cluster that must not touch the checkout's own (`make bench`, T7).

The copy has no state: its own build/ and Pulumi.local.yaml; the virtualenvs are linked, not copied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ops.stackconfig import PROJECT_DIR

COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".venv-*", "build", "__pycache__", ".pytest_cache",
                                     ".mypy_cache", ".ruff_cache")


def copy_project(target: Path) -> Path:
    shutil.copytree(PROJECT_DIR, target, ignore=COPY_IGNORE)
    for venv in (".venv", ".venv-checkov"):  # the plan's T5 runs checkov from its own virtualenv
        if (PROJECT_DIR / venv).exists():
            (target / venv).symlink_to(PROJECT_DIR / venv)
    return target
