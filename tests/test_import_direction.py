"""Imports go one way: ops → components and policies → the config package; nothing imports upward or sideways.

Every import in a module counts, at the top or inside a function. The one door between peers is named here
with its reason: the policy pack reads router objects through the router seam (components/routers), so the
objects a router renders and the way the pack recognises them are described once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

OURS = ("components", "ops", "policies")
# What each room may import of ours, by the dotted prefix of the imported module.
ALLOWED: dict[str, tuple[str, ...]] = {
    "components.config": ("components.config",),
    "components": ("components",),
    "policies": ("policies", "components.config", "components.routers"),
    "ops": ("ops", "components", "policies"),
    "__main__": ("components",),
}


def room_of(module: str) -> str:
    return "components.config" if module.startswith("components.config") else module.split(".")[0]


def is_module(dotted: str) -> bool:
    path = PROJECT_DIR.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(source: str, module: str) -> set[str]:
    """Every module of ours that `module` (a dotted name) imports, resolving relative imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            # `from package import name`: the submodule when `name` is one, else the package itself.
            found |= {f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base for alias in node.names}
    return {name for name in found if name.split(".")[0] in OURS}


def wrong_imports(source: str, module: str) -> list[str]:
    allowed = ALLOWED[room_of(module)]
    return sorted(name for name in imported_modules(source, module)
                  if not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed))


def our_modules() -> list[tuple[str, Path]]:
    modules = [("__main__", PROJECT_DIR / "__main__.py")]
    for room in OURS:
        for path in sorted((PROJECT_DIR / room).rglob("*.py")):
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            modules.append((".".join(parts), path))
    return modules


@pytest.mark.parametrize("module,path", our_modules(), ids=[name for name, _ in our_modules()])
def test_no_module_imports_upward_or_sideways(module: str, path: Path) -> None:
    assert wrong_imports(path.read_text(), module) == [], f"{module} may import only {ALLOWED[room_of(module)]}"


@pytest.mark.parametrize("module,source,wrong", [
    ("components.config.load", "from components.meta import NS_PROD\n", ["components.meta"]),
    ("components.api", "def later():\n    from ops.plan import plan\n", ["ops.plan"]),
    ("components.traffic", "import policies.rules\n", ["policies.rules"]),
    ("policies.rules", "from components.api import deployment_name\n", ["components.api"]),
    ("policies.rules", "from ops import runner\n", ["ops.runner"]),
    ("components.config.model", "from .. import meta\n", ["components.meta"]),
    ("policies.rules", "from components import api, routers\n", ["components.api"]),
    ("__main__", "from ops.plan import plan\n", ["ops.plan"]),
])
def test_an_upward_or_sideways_import_is_found(module: str, source: str, wrong: list[str]) -> None:
    assert wrong_imports(source, module) == wrong


def test_the_allowed_imports_pass() -> None:
    assert wrong_imports("from components.config import DocRagConfig\nimport json\n", "components.config.load") == []
    assert wrong_imports("from components.routers import REGISTRY\n", "policies.traffic") == []
    assert wrong_imports("from components.api import Api\nfrom policies import rules\n", "ops.plan") == []
