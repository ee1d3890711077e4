"""`ops plan --compare BASE_PLAN_JSON`: the monthly difference per item, by hand to the cent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.arguments import build_parser
from ops.cost.compare import compare_costs
from tests.cost_helpers import PROD_TOTAL, cost_of, plan_with, prod_document


@pytest.fixture(scope="module")
def prod_plan(tmp_path_factory) -> dict:
    return prod_document(tmp_path_factory.mktemp("prod"))


def test_the_cli_takes_a_base_plan_to_compare_with():
    assert build_parser().parse_args(["plan", "--compare", "base/plan.json"]).compare == Path("base/plan.json")


def test_compare_prints_the_monthly_difference_per_item(tmp_path, prod_plan):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(prod_plan))
    out = tmp_path / "head"
    outcome, printed = plan_with(out, ("cluster.desiredNodes=4",), compare=base)
    assert outcome.exit_code == 0, printed
    assert f"monthly cost change against {base}" in printed and "+$140.16" in printed
    diff = (out / "cost-diff.md").read_text()
    # One more m6i.xlarge: 730 h × $0.192 = 140.16; one more 50 GiB root volume: 50 × $0.08 = 4.00.
    assert "| `aws:eks/nodeGroup:NodeGroup` eks-nodes | m6i.xlarge nodes | $420.48 | $560.64 | +$140.16 |" in diff
    assert ("| `aws:ec2/launchTemplate:LaunchTemplate` eks-nodes | root volume /dev/xvda: gp3 storage | $12.00 | "
            "$16.00 | +$4.00 |") in diff
    assert "#### Monthly cost: $840.10 (+$144.16 against the base branch)" in diff


def test_compare_matches_items_and_totals(tmp_path, prod_plan):
    single = cost_of(tmp_path, "cluster.natGateways=single")
    change = compare_costs(prod_plan["cost"], single)
    assert change["change"] == -73.00  # 2 × (32.85 + 3.65)
    assert {(row["name"], row["item"], row["base"], row["current"], row["change"]) for row in change["rows"]} == {
        ("network-nat-1", "NAT gateway hours", 32.85, None, -32.85),
        ("network-nat-2", "NAT gateway hours", 32.85, None, -32.85),
        ("network-nat-1", "public IPv4 address", 3.65, None, -3.65),
        ("network-nat-2", "public IPv4 address", 3.65, None, -3.65),
    }
    assert change["notes"] == []


def test_a_base_plan_without_cost_counts_every_item_as_added(prod_plan):
    change = compare_costs(None, prod_plan["cost"])
    assert change["change"] == PROD_TOTAL and change["baseTotal"] is None
    assert all(row["base"] is None for row in change["rows"])
    assert "the base plan has no cost" in change["notes"][0]


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read the base plan"),
    ("{not json", "not JSON"),
    ('{"stack": "prod"}', "allowed: a plan.json written by `ops plan`"),
])
def test_a_bad_base_plan_is_a_usage_error_before_anything_is_written(tmp_path, content, message):
    base = tmp_path / "base.json"
    if content is not None:
        base.write_text(content)
    out = tmp_path / "out"
    outcome, printed = plan_with(out, compare=base)
    assert outcome.exit_code == 2
    assert f"--compare {base}: {message}" in printed
    assert not (out / "plan.json").exists() and not (out / "cost-diff.md").exists()
