"""Apply the rules without a server, as the Analyzer would: the offline plan (T4) and the tests use this.

Values are prepared the way the pack sees them over gRPC: secret envelopes unwrapped (their values are
collected and scrubbed from every message), integral floats read as ints, unknowns (the SDK's Unknown
or a preview sentinel) kept as sentinels behind pulumi_policy's unknown-checking proxy. A rule that
reads an unknown value yields one advisory "could not run" diagnostic, never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence

from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policies.model import AnyRule, ResourceRule, StackResource, StackRule
from policies.rules import ALL_RULES

Level = Literal["mandatory", "advisory"]
REDACTED = "[secret]"


@dataclass(frozen=True)
class Diagnostic:
    rule: str
    level: Level
    message: str
    urn: str = ""
    could_not_run: bool = False


def prepare(value: Any, secrets: Optional[set[str]] = None) -> Any:
    """Normalise one value (see module doc); secret scalars are added to `secrets`."""
    secrets = secrets if secrets is not None else set()

    def walk(item: Any, secret: bool) -> Any:
        if isinstance(item, Mapping) and item.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return walk(item.get("value"), True)
        if isinstance(item, Unknown) or item == rpc.UNKNOWN:
            return UNKNOWN_STRING_VALUE
        if isinstance(item, Mapping):
            return {str(key): walk(item[key], secret) for key in item}
        if isinstance(item, (list, tuple)):
            return [walk(element, secret) for element in item]
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        if secret and item is not None and str(item) != "":
            secrets.add(str(item))
        return item

    return walk(value, False)


def scrub(message: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, REDACTED)
    return message


def _level(rule: AnyRule, given: Any) -> Optional[Level]:
    """The enforcement level after `--policy-pack-config` (a level, or an object with enforcementLevel)."""
    configured = given.get("enforcementLevel") if isinstance(given, Mapping) else given
    if configured == "disabled":
        return None
    if configured in ("mandatory", "advisory"):
        return configured  # type: ignore[return-value]
    if configured == "remediate":
        return "mandatory"  # as the Analyzer does for a violation that remediation did not fix
    return rule.level


def _settings(rule: AnyRule, config: Mapping[str, Any]) -> dict[str, Any]:
    given = config.get(rule.name)
    return rule.settings(prepare(given) if isinstance(given, Mapping) else None)


def _could_not_run(rule: AnyRule, error: UnknownValueError, urn: str) -> Diagnostic:
    return Diagnostic(rule.name, "advisory", f"could not run during preview: {error.message}", urn, True)


def analyze(type_: str, props: Mapping[str, Any], urn: str = "", config: Optional[Mapping[str, Any]] = None,
            rules: Sequence[AnyRule] = ALL_RULES) -> list[Diagnostic]:
    """Every resource rule on one resource (what the Analyzer's Analyze call does)."""
    config = config or {}
    secrets: set[str] = set()
    prepared = prepare(props, secrets)
    found: list[Diagnostic] = []
    for rule in rules:
        level = _level(rule, config.get(rule.name))
        if not isinstance(rule, ResourceRule) or level is None:
            continue
        try:
            for message in rule.check(type_, unknown_checking_proxy(prepared), _settings(rule, config)):
                found.append(Diagnostic(rule.name, level, scrub(message, secrets), urn))
        except UnknownValueError as error:
            found.append(_could_not_run(rule, error, urn))
    return found


def analyze_stack(resources: Iterable[StackResource], config: Optional[Mapping[str, Any]] = None,
                  rules: Sequence[AnyRule] = ALL_RULES) -> list[Diagnostic]:
    """Every stack rule on the whole stack (what the Analyzer's AnalyzeStack call does)."""
    config = config or {}
    secrets: set[str] = set()
    stack = [StackResource(r.type, r.name, r.urn, unknown_checking_proxy(prepare(r.props, secrets)))
             for r in resources]
    found: list[Diagnostic] = []
    for rule in rules:
        level = _level(rule, config.get(rule.name))
        if not isinstance(rule, StackRule) or level is None:
            continue
        try:
            for violation in rule.check(stack, _settings(rule, config)):
                found.append(Diagnostic(rule.name, level, scrub(violation.message, secrets), violation.urn))
        except UnknownValueError as error:
            found.append(_could_not_run(rule, error, ""))
    return found


def analyze_all(resources: Sequence[StackResource], config: Optional[Mapping[str, Any]] = None,
                rules: Sequence[AnyRule] = ALL_RULES) -> list[Diagnostic]:
    """What a `pulumi preview --policy-pack` reports: Analyze per resource, then AnalyzeStack once."""
    found = [d for r in resources for d in analyze(r.type, r.props, r.urn, config, rules)]
    # Secrets seen anywhere in the stack are scrubbed from stack-rule messages too.
    return found + analyze_stack(resources, config, rules)
