"""Every policy rule against its passing and failing fixtures, applied offline as the Analyzer would.

Fixtures: tests/fixtures/policies/bases.yaml holds known-good objects as Pulumi registers them;
tests/fixtures/policies/rules/<rule>.yaml derives each rule's passing and failing cases from them.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.output import Unknown
from pulumi.runtime import rpc

from ops.checks import policy as policy_check
from ops.checks.base import PlanContext
from ops.runner import Registered, RunResult
from policies.engine import analyze, analyze_all, analyze_stack
from policies.model import ResourceRule, StackResource
from policies.rules import ALL_RULES, BY_NAME
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.conftest import PROJECT_DIR

FIXTURES = ALL_FIXTURES / "policies"
BASES: dict[str, dict[str, Any]] = yaml.safe_load((FIXTURES / "bases.yaml").read_text())
SECRET_SIG = {rpc._special_sig_key: rpc._special_secret_sig}


def _path(dotted: str) -> list[str]:
    """Dotted path; a label or annotation key (which holds dots itself) is the single last part."""
    parts = dotted.split(".")
    if parts[:2] in (["metadata", "annotations"], ["metadata", "labels"]) and len(parts) > 2:
        return parts[:2] + [".".join(parts[2:])]
    return parts


def _set(target: Any, dotted: str, value: Any) -> None:
    parts = _path(dotted)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(target, list):
            position = int(part)
            if position == len(target):
                target.append(value if last else {})
            elif last:
                target[position] = value
            target = target[position]
        else:
            if last:
                target[part] = value
            else:
                target = target.setdefault(part, [] if parts[index + 1].isdigit() else {})


def _delete(target: Any, dotted: str) -> None:
    *parents, last = _path(dotted)
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    del target[last]


def build(spec: dict[str, Any]) -> StackResource:
    """One resource from a case: a base (or type/name/props) with `set` and `delete` applied."""
    base = copy.deepcopy(BASES[spec["base"]]) if "base" in spec else {}
    props = copy.deepcopy(spec.get("props", base.get("props", {})))
    for dotted, value in (spec.get("set") or {}).items():
        _set(props, dotted, value)
    for dotted in spec.get("delete") or []:
        _delete(props, dotted)
    type_ = spec.get("type", base.get("type"))
    name = spec.get("name", base.get("name", "fixture"))
    return StackResource(type_, name, f"urn:pulumi:test::doc-rag::{type_}::{name}", props)


def build_stack(case: dict[str, Any]) -> list[StackResource]:
    patches = case.get("patch") or {}
    unknown = set(patches) - set(BASES)
    assert not unknown, f"patch names unknown bases {unknown}"
    resources = [
        build({"base": name, **patches.get(name, {})}) for name in BASES if name not in (case.get("without") or [])
    ]
    return resources + [build(spec) for spec in case.get("add") or []]


def load_cases() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for path in sorted((FIXTURES / "rules").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for outcome in ("pass", "fail"):
            for case in document.get(outcome) or []:
                cases.append((document["rule"], outcome, case))
    return cases


CASES = load_cases()


def diagnostics_for(rule_name: str, case: dict[str, Any]):
    rule = BY_NAME[rule_name]
    config = {rule_name: case["config"]} if "config" in case else None
    if isinstance(rule, ResourceRule):
        resource = build(case)
        return analyze(resource.type, resource.props, resource.urn, config, rules=[rule])
    return analyze_stack(build_stack(case), config, rules=[rule])


def test_every_rule_has_a_passing_and_a_failing_fixture():
    files = {path.stem for path in (FIXTURES / "rules").glob("*.yaml")}
    assert files == set(BY_NAME), "one fixture file per rule, named after it"
    for rule in ALL_RULES:
        outcomes = {outcome for name, outcome, _ in CASES if name == rule.name}
        assert outcomes == {"pass", "fail"}, rule.name


@pytest.mark.parametrize("rule_name,outcome,case", CASES,
                         ids=[f"{rule}-{outcome}-{case['case']}" for rule, outcome, case in CASES])
def test_rule_fixture(rule_name: str, outcome: str, case: dict[str, Any]):
    found = diagnostics_for(rule_name, case)
    assert not [d for d in found if d.could_not_run], found
    if outcome == "pass":
        assert found == [], f"{rule_name} should pass {case['case']!r}: {[d.message for d in found]}"
    else:
        assert found, f"{rule_name} should reject {case['case']!r}"
        assert {d.level for d in found} == {BY_NAME[rule_name].level}
        assert any(case["expect"] in d.message for d in found), (case["expect"], [d.message for d in found])


def test_known_good_objects_pass_every_rule():
    stack = build_stack({})
    assert analyze_all(stack) == []


def test_enforcement_level_and_settings_come_from_pack_config():
    bad = build({"base": "deployment-blue", "set": {"spec.template.spec.containers.0.image": "doc-rag/api:latest"}})
    assert {d.level for d in analyze(bad.type, bad.props, rules=ALL_RULES) if d.rule == "images-pinned"} == {
        "mandatory"}
    advisory = analyze(bad.type, bad.props, config={"images-pinned": "advisory"})
    assert [d.level for d in advisory if d.rule == "images-pinned"] == ["advisory"]
    nested = analyze(bad.type, bad.props, config={"images-pinned": {"enforcementLevel": "disabled"}})
    assert [d for d in nested if d.rule == "images-pinned"] == []
    # Config values arrive from JSON as floats, like the Analyzer's Configure call delivers them.
    lowered = build({"base": "nodegroup", "set": {"scalingConfig.minSize": 2.0}})
    assert analyze(lowered.type, lowered.props, config={"node-group-min-size": {"minSize": 2.0}}) == []


def test_unknown_input_reports_could_not_run_instead_of_passing():
    resource = build({"base": "deployment-blue", "set": {"spec.template.spec.containers.0.image": Unknown()}})
    found = analyze(resource.type, resource.props)
    by_rule = {d.rule: d for d in found}
    assert by_rule["images-pinned"].could_not_run and by_rule["images-pinned"].level == "advisory"
    assert "containers.0.image" in by_rule["images-pinned"].message
    assert "can't be known during preview" in by_rule["images-pinned"].message
    # Rules that never read the unknown field still run and pass.
    assert "container-resources" not in by_rule and "workload-probes" not in by_rule

    stack = build_stack({"patch": {"ingress-canary": {"set": {
        "metadata.annotations.nginx.ingress.kubernetes.io/canary-weight": rpc.UNKNOWN}}}})
    weights = [d for d in analyze_stack(stack) if d.rule == "canary-weight-steps"]
    assert len(weights) == 1 and weights[0].could_not_run and weights[0].level == "advisory"


def test_secret_values_are_unwrapped_for_rules_and_scrubbed_from_messages():
    image = "s3cret-registry.example.com/api:latest"
    resource = build({"base": "deployment-blue",
                      "set": {"spec.template.spec.containers.0.image": {**SECRET_SIG, "value": image}}})
    found = analyze(resource.type, resource.props)
    pinned = [d for d in found if d.rule == "images-pinned"]
    assert pinned, "the rule sees the unwrapped value and rejects latest"
    assert all(image not in d.message for d in found)
    assert any("[secret]" in d.message for d in pinned)


# -- the plan's T4 check -----------------------------------------------------------------------------------------

def _context(run: RunResult) -> PlanContext:
    return PlanContext(run.stack, run, run.config.model(), [], Path("."), Path("."))


def _run_of(template: RunResult, resources: list[StackResource]) -> RunResult:
    registered = [Registered(r.type, r.name, r.urn, "", "", True, r.props) for r in resources]
    return RunResult(template.stack, False, template.config, registered, {})


def test_plan_check_passes_on_the_prod_program(prod_run: RunResult):
    result = policy_check.check(_context(prod_run))
    assert result.status == "pass", [f.as_dict() for f in result.findings]
    assert [f for f in result.findings if f.level == "mandatory"] == []
    assert f"{len(ALL_RULES)} rules on {len(prod_run.resources)} resources" in result.summary


def test_plan_check_fails_on_a_mandatory_violation_and_lists_levels(dev_run: RunResult):
    stack = build_stack({"patch": {"deployment-blue": {"set": {
        "spec.template.spec.containers.0.image": "doc-rag/api:latest"}}, "deployment-green": {"set": {
            "spec.replicas": 0.0}}}})
    result = policy_check.check(_context(_run_of(dev_run, stack)))
    assert result.status == "fail"
    assert {(f.rule, f.level, f.subject) for f in result.findings} == {
        ("images-pinned", "mandatory", "Deployment/doc-rag-prod/api-deployment-blue"),
        ("idle-colour-replicas", "advisory", "Deployment/doc-rag-prod/api-deployment-green"),
    }
    assert "1 mandatory, 1 advisory" in result.summary


def test_plan_check_with_only_advisories_passes(dev_run: RunResult):
    stack = build_stack({"patch": {"deployment-green": {"set": {"spec.replicas": 0.0}}}})
    result = policy_check.check(_context(_run_of(dev_run, stack)))
    assert result.status == "pass"
    assert [(f.rule, f.level) for f in result.findings] == [("idle-colour-replicas", "advisory")]


def test_plan_check_reports_unknowns_in_a_preview_without_failing(dev_run: RunResult):
    stack = build_stack({"patch": {"ingress-main": {"set": {"metadata.namespace": Unknown()}}}})
    result = policy_check.check(_context(_run_of(dev_run, stack)))
    assert result.status == "pass", [f.as_dict() for f in result.findings]
    assert result.findings and all(f.level == "advisory" for f in result.findings)
    assert any("could not run during preview" in f.message for f in result.findings)
    assert "could not complete" in result.summary


# -- docs/policies.md stays true -----------------------------------------------------------------------------------

DOCS = PROJECT_DIR / "docs" / "policies.md"


def test_docs_table_lists_every_rule_with_its_level():
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[3].strip().strip("*")
            for line in DOCS.read_text().splitlines() if line.startswith("| `")}
    assert rows == {rule.name: rule.level for rule in ALL_RULES}


def test_docs_pack_config_example_is_valid():
    example = json.loads(re.search(r"```json\n(.*?)```", DOCS.read_text(), re.DOTALL).group(1))
    for name, value in example.items():
        rule = BY_NAME[name]
        settings = value if isinstance(value, dict) else {"enforcementLevel": value}
        assert settings.get("enforcementLevel", "mandatory") in ("mandatory", "advisory", "disabled")
        assert set(settings) - {"enforcementLevel"} <= set(rule.config), name


@pytest.mark.parametrize("weight", ["sixty", 37.5])
def test_a_non_integer_istio_weight_is_a_violation_not_a_zero(weight):
    virtual_service = StackResource(
        "kubernetes:networking.istio.io/v1:VirtualService", "vs", "urn:vs",
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "vs"},
         "spec": {"http": [{"route": [{"destination": {"host": "a", "subset": "blue"}, "weight": weight},
                                      {"destination": {"host": "a", "subset": "green"}, "weight": 40}]}]}})
    messages = [d.message for d in analyze_stack([virtual_service]) if d.rule == "canary-weight-steps"]
    assert any("non-integer route weight" in message for message in messages), messages


def test_an_unknown_selector_operator_matches_nothing():
    from policies.k8s import selector_matches

    assert selector_matches({"matchExpressions": [{"key": "version", "operator": "Exits"}]}, {}) is False
    assert selector_matches({"matchExpressions": [{"key": "version", "operator": "Exists"}]}, {"version": "x"})
