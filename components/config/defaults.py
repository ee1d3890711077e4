"""Pulumi.yaml's declared config defaults against the model's: the one place they are compared.

Pulumi.yaml declares defaults so the Pulumi CLI shows and applies them; the model (DocRagConfig) holds the
defaults the program validates with. `default_mismatches` lists every declared default the model does not
share, each naming its key path, so the two never disagree unseen (tests/components/config/test_config.py runs it on
Pulumi.yaml).
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel

from components.config.errors import describe
from components.config.model import DocRagConfig


def model_defaults() -> dict[str, Any]:
    """Every top-level key of DocRagConfig that has a default, a section as its plain dict."""
    found: dict[str, Any] = {}
    for key, field in DocRagConfig.model_fields.items():
        if field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        found[key] = default.model_dump() if isinstance(default, BaseModel) else default
    return found


def _mismatches(path: str, declared: Any, model: Any) -> list[str]:
    if isinstance(declared, dict) and isinstance(model, dict):
        problems = []
        for key, value in declared.items():
            if key not in model:
                problems.append(f"{path}.{key}: Pulumi.yaml declares a default for a key the model does not have")
            else:
                problems.extend(_mismatches(f"{path}.{key}", value, model[key]))
        return problems
    if declared != model or isinstance(declared, bool) != isinstance(model, bool):  # YAML true is not 1
        return [f"{path}: Pulumi.yaml declares {describe(declared)}, the model's default is {describe(model)}"]
    return []


def default_mismatches(declared: Mapping[str, Any]) -> list[str]:
    """Each default in `declared` (short key -> Pulumi.yaml's default) that differs from the model's, by key path.

    A section's default may name a subset of its keys; each one it names must equal the model's."""
    model = model_defaults()
    problems = []
    for key, value in declared.items():
        if key not in model:
            problems.append(f"{key}: Pulumi.yaml declares a default for a key the model has no default for")
        else:
            problems.extend(_mismatches(key, value, model[key]))
    return problems
