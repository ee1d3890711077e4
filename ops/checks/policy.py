"""T4: the policy pack's rules applied to what the program registered, as `pulumi preview --policy-pack` would.

Each custom resource goes through every resource rule (the Analyzer's Analyze), then the whole stack
through every stack rule (AnalyzeStack), with the pack's default config except the allowed canary
steps, which come from the stack's own `release.steps` (what `--policy-pack-config` would pass).
Inputs are taken as registered: numbers as floats, secrets in their envelope (unwrapped for the rules,
scrubbed from messages), unknowns during a preview (reported as advisory "could not run").
Any mandatory violation fails the check.
"""

from __future__ import annotations

from typing import Any, Mapping

from ops.checks.base import CheckResult, Finding, PlanContext
from ops.runner import Registered
from policies.engine import Diagnostic, analyze, analyze_stack
from policies.k8s import kind_of, kubernetes_kind
from policies.model import StackResource
from policies.rules import ALL_RULES


def _subject(resource: Registered) -> str:
    """`Kind/namespace/name` for a Kubernetes object (as the other tiers name it), else the resource name."""
    if kubernetes_kind(resource.type) is None:
        return f"{resource.type.rsplit(':', 1)[-1]} {resource.name}"
    metadata: Mapping[str, Any] = resource.inputs.get("metadata") or {}
    parts = [kind_of(resource.type), metadata.get("namespace"), metadata.get("name") or resource.name]
    return "/".join(str(part) for part in parts if isinstance(part, str) and part)


def check(context: PlanContext, config: Mapping[str, Any] | None = None) -> CheckResult:
    if config is None:
        config = {"canary-weight-steps": {"allowedSteps": list(context.config.release.steps)}}
    resources = context.run.resources
    by_urn = {resource.urn: resource for resource in resources}
    stack = [StackResource(r.type, r.name, r.urn, r.inputs) for r in resources]
    diagnostics: list[Diagnostic] = []
    for resource in resources:
        if resource.custom:  # the engine analyzes custom resources; components have no props of their own
            diagnostics += analyze(resource.type, resource.inputs, resource.urn, config)
    diagnostics += analyze_stack(stack, config)

    findings = [
        Finding(_subject(by_urn[d.urn]) if d.urn in by_urn else "stack", d.message, d.rule, d.level)
        for d in diagnostics
    ]
    # Resources register in no fixed order: sorted, so two plans of the same config read the same.
    order = {rule.name: index for index, rule in enumerate(ALL_RULES)}
    findings.sort(key=lambda f: (f.level != "mandatory", order.get(f.rule, len(order)), f.subject, f.message))
    mandatory = sum(1 for d in diagnostics if d.level == "mandatory")
    could_not_run = sum(1 for d in diagnostics if d.could_not_run)
    advisory = len(diagnostics) - mandatory - could_not_run
    summary = (f"{len(ALL_RULES)} rules on {len(resources)} resources: {mandatory} mandatory, "
               f"{advisory} advisory violations")
    if could_not_run:
        summary += f", {could_not_run} rule runs could not complete (unknown during preview)"
    return CheckResult("fail" if mandatory else "pass", summary, findings)
