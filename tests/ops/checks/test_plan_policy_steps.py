"""T4 in the plan judges canary weights against the stack's own release.steps, not the pack's defaults."""

from __future__ import annotations

from ops.checks import policy
from ops.checks.base import Check
from tests.conftest import run_plan

T4 = [Check("T4", "policy-pack", policy.check)]


def test_a_custom_step_passes_t4_in_the_plan(tmp_path):
    outcome, _ = run_plan(tmp_path, "prod", ("release.steps[1]=30", "release.canaryWeight=30"), checks=T4)
    assert outcome.exit_code == 0, outcome.document["checks"]


def test_the_same_weight_fails_against_the_pack_defaults(tmp_path):
    outcome, _ = run_plan(tmp_path, "prod", ("release.steps[1]=30", "release.canaryWeight=30"), checks=[])
    context_result = policy.check(_context(outcome), config={})
    assert context_result.failed
    assert any(finding.rule == "canary-weight-steps" for finding in context_result.findings)


def _context(outcome):
    from ops.checks.base import PlanContext

    run = outcome.run
    return PlanContext(run.stack, run, run.config.model(), outcome.manifests, outcome.out_dir, outcome.out_dir)
