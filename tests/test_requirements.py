"""README installs requirements.txt and then runs `python -m ops`: every package the program, the policy pack and
the operator CLI import must be pinned there, not only in requirements-dev.txt (issue 21)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys

from tests.conftest import PROJECT_DIR

OUR_PACKAGES = {"ops", "components", "policies", "tests", "__future__"}


def _imported_top_level_modules() -> dict[str, str]:
    """Third-party module -> one file importing it, over ops/, components/, policies/ and __main__.py."""
    files = [PROJECT_DIR / "__main__.py", *(path for root in ("ops", "components", "policies")
                                            for path in (PROJECT_DIR / root).rglob("*.py"))]
    found: dict[str, str] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OUR_PACKAGES:
                    found.setdefault(top, str(path.relative_to(PROJECT_DIR)))
    return found


def _pinned(path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==", line.strip())
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def test_every_imported_package_is_pinned_in_the_runtime_requirements():
    distributions = importlib.metadata.packages_distributions()
    runtime = _pinned(PROJECT_DIR / "requirements.txt")
    missing = {}
    for module, where in _imported_top_level_modules().items():
        names = {re.sub(r"[-_.]+", "-", name).lower() for name in distributions.get(module, [module])}
        if not names & runtime:
            missing[module] = where
    assert missing == {}, f"imported but not pinned in requirements.txt: {missing}"


def test_the_operator_cli_packages_are_in_the_runtime_requirements():
    assert {"rich", "httpx", "pyyaml", "kubernetes-validate"} <= _pinned(PROJECT_DIR / "requirements.txt")


def test_readme_installs_the_requirements_the_operator_cli_needs():
    readme = (PROJECT_DIR / "README.md").read_text()
    assert ".venv/bin/pip install -r requirements.txt" in readme
    assert "-r requirements.txt" in (PROJECT_DIR / "requirements-dev.txt").read_text()
