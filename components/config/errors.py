"""How a refused config reads: ConfigError's message names the key path, the value given and what is allowed.

A model validator raises FieldError to blame one field of its object; `problem_lines` turns pydantic's
ValidationError into those messages, one line per problem.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pydantic import ValidationError


class ConfigError(pulumi.RunError):
    """Invalid stack config. The message is what the user sees: key path, value, what is allowed.

    A RunError, so `pulumi up` prints the message alone, without a Python traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "invalid doc-rag stack config:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


class FieldError(ValueError):
    """Raised by a model validator to blame one field rather than the whole object."""

    def __init__(self, field: str, value: Any, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(allowed)


def describe(value: Any) -> str:
    """A value as the message shows it: a string quoted, anything else as JSON."""
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def problem_lines(error: ValidationError) -> list[str]:
    """One `key.path = value: what is allowed` line per error pydantic found."""
    found = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        context_error = (item.get("ctx") or {}).get("error")
        if isinstance(context_error, FieldError):
            loc.append(context_error.field)
            value, message = context_error.value, context_error.allowed
        else:
            value = item.get("input")
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key (check the spelling against the config reference in README.md)"
            elif item["type"] == "missing":
                message = "required key is missing"
                value = None
        path = ".".join(loc)
        shown = "" if value is None or isinstance(value, dict) else f" = {describe(value)}"
        found.append(f"{path}{shown}: {message}")
    return found
