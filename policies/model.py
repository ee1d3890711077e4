"""What a rule is: a name, a description, an enforcement level, a config schema and a plain function.

Resource rules see one resource (its Pulumi type token and its props, camelCase as registered); stack
rules see every resource of the stack. Both yield messages and never touch pulumi_policy, so the pack
(crossguard.py), the offline plan (engine.py) and the tests run exactly the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence, Union

Level = Literal["mandatory", "advisory"]
Settings = Mapping[str, Any]


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack as a stack rule sees it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    """A stack rule's finding, tied to the resource at fault (urn "" = the stack as a whole)."""

    message: str
    urn: str = ""


ResourceCheck = Callable[[str, Mapping[str, Any], Settings], Iterable[str]]
StackCheck = Callable[[Sequence[StackResource], Settings], Iterable[Violation]]


@dataclass(frozen=True, kw_only=True)
class Rule:
    name: str
    description: str
    level: Level
    # JSON-schema properties, each with a "default": what `--policy-pack-config` may set.
    config: dict[str, dict[str, Any]] = field(default_factory=dict)

    def settings(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Schema defaults overlaid with the configured values (enforcementLevel is not a setting)."""
        values = {key: schema["default"] for key, schema in self.config.items()}
        values.update({k: v for k, v in (given or {}).items() if k in self.config})
        return values


@dataclass(frozen=True, kw_only=True)
class ResourceRule(Rule):
    check: ResourceCheck


@dataclass(frozen=True, kw_only=True)
class StackRule(Rule):
    check: StackCheck


AnyRule = Union[ResourceRule, StackRule]
