"""The rules as pulumi_policy policies, for the pack served over the Analyzer protocol (__main__.py).

Each validation unwraps the SDK's unknown-checking proxy, prepares the values exactly as the offline
engine does (integral floats as ints, unknowns as sentinels) and re-wraps them, so an unknown value
raises UnknownValueError and the Analyzer reports "can't run policy ... during preview" (advisory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policies.engine import prepare
from policies.model import AnyRule, ResourceRule, StackResource

_LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def plain(value: Any) -> Any:
    """The raw values behind pulumi_policy's proxies (unknown sentinels included, nothing raised)."""
    if type(value).__module__ == "pulumi_policy.proxy":
        value = value["__target"]  # the proxies' documented escape hatch: the wrapped dict or list
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(item) for item in value]
    return value


def _prepared(props: Any) -> Any:
    return unknown_checking_proxy(prepare(plain(props)))


def to_policy(rule: AnyRule) -> Policy:
    schema = PolicyConfigSchema(properties=rule.config) if rule.config else None
    if isinstance(rule, ResourceRule):
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            settings = rule.settings(prepare(dict(args.get_config())))
            for message in rule.check(args.resource_type, _prepared(args.props), settings):
                report(message, None)

        return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                        enforcement_level=_LEVELS[rule.level], config_schema=schema)

    def validate_stack(args: StackValidationArgs, report: ReportViolation) -> None:
        settings = rule.settings(prepare(dict(args.get_config())))
        resources = [StackResource(r.resource_type, r.name, r.urn, _prepared(r.props)) for r in args.resources]
        for violation in rule.check(resources, settings):
            report(violation.message, violation.urn or None)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate_stack,
                                 enforcement_level=_LEVELS[rule.level], config_schema=schema)
