"""The plan's monthly cost: known configurations priced to the cent by hand, what is not priced, an unknown
region, a stack without one, bad assumptions.

Every expected amount is worked out by hand from ops/cost/prices.yaml (us-east-1 unless said) and 730 hours
per month (tests/cost_helpers.py has the prod stack's sum); none is read from the module under test.
"""

from __future__ import annotations

import json

import pytest

from components.config import CostAssumptionsConfig
from ops.cost.estimate import estimate, gibibytes
from ops.cost.price_table import load_price_table
from tests.conftest import run_plan
from tests.cost_helpers import PROD_TOTAL, cost_of, monthly, prod_document


@pytest.fixture(scope="module")
def prod_plan(tmp_path_factory) -> dict:
    return prod_document(tmp_path_factory.mktemp("prod"))


def test_the_prod_stack_file_is_priced_to_the_cent(prod_plan):
    cost = prod_plan["cost"]
    assert (cost["currency"], cost["region"], cost["hoursPerMonth"]) == ("USD", "us-east-1", 730)
    assert cost["priceListDate"] == "2026-12-03"
    assert cost["monthlyTotal"] == PROD_TOTAL
    # The backups' bucket and vault cost by the GB stored, which the plan cannot know: said, not guessed.
    assert [(item["type"], item["name"]) for item in cost["notPriced"]] == [
        ("aws:backup/vault:Vault", "postgres-backup-storage-vault"),
        ("aws:s3/bucket:Bucket", "postgres-backup-storage-bucket")]
    assert cost["notes"] == ["2 item(s) not priced: the total leaves them out"]
    assert monthly(cost, "aws:eks/cluster:Cluster", "eks-cluster", "control plane (standard support)") == 73.00
    nodes = next(line for line in cost["lines"] if line["type"] == "aws:eks/nodeGroup:NodeGroup")
    assert nodes == {"type": "aws:eks/nodeGroup:NodeGroup", "name": "eks-nodes", "item": "m6i.xlarge nodes",
                     "quantity": 2190, "unit": "instance-hour", "unitPrice": 0.192, "monthly": 420.48}
    assert monthly(cost, "kubernetes:core/v1:Service", "api-service-alb", "NLB hours") == 16.43
    assert monthly(cost, "aws:ec2/natGateway:NatGateway", "network-nat-2", "NAT gateway hours") == 32.85
    assert monthly(cost, "kubernetes:apps/v1:StatefulSet", "postgres",
                   "postgres-storage: gp3 throughput above 125 MB/s") == 5.00
    # The data-dependent lines name the assumption they rest on.
    assumed = {line["assumption"] for line in cost["lines"] if "assumption" in line}
    assert assumed == {"costAssumptions.natDataProcessedGb", "costAssumptions.nlbLcuPerHour",
                       "costAssumptions.internetEgressGb", "costAssumptions.controlPlaneLogGb"}
    assert cost["assumptions"] == {"natDataProcessedGb": 100, "nlbLcuPerHour": 1, "internetEgressGb": 100,
                                   "controlPlaneLogGb": 10}


def test_the_summary_shows_the_cost_table(tmp_path):
    outcome, printed = run_plan(tmp_path, "prod", checks=[])
    assert "monthly cost (us-east-1" in printed and "$695.94" in printed
    assert json.loads((outcome.out_dir / "plan.json").read_text())["cost"]["monthlyTotal"] == PROD_TOTAL


def test_one_more_node(tmp_path):
    cost = cost_of(tmp_path, "cluster.desiredNodes=4")
    # 4 × 730 h × $0.192 = 560.64; root volumes 4 × 50 GiB × $0.08 = 16.00
    assert monthly(cost, "aws:eks/nodeGroup:NodeGroup", "eks-nodes", "m6i.xlarge nodes") == 560.64
    assert monthly(cost, "aws:ec2/launchTemplate:LaunchTemplate", "eks-nodes",
                   "root volume /dev/xvda: gp3 storage") == 16.00
    assert cost["monthlyTotal"] == 840.10  # 695.94 + 140.16 + 4.00


def test_a_single_nat_gateway(tmp_path):
    cost = cost_of(tmp_path, "cluster.natGateways=single")
    nat_hours = [line for line in cost["lines"] if line["item"] == "NAT gateway hours"]
    assert [(line["name"], line["monthly"]) for line in nat_hours] == [("network-nat-0", 32.85)]
    assert [line["name"] for line in cost["lines"] if line["type"] == "aws:ec2/eip:Eip"] == ["network-nat-0"]
    # The data processed does not depend on how many gateways carry it: 100 GB × $0.045.
    assert monthly(cost, "aws:ec2/natGateway:NatGateway", "(all)", "data processed by the NAT gateways") == 4.50
    assert cost["monthlyTotal"] == 622.94  # 695.94 − 2 × 32.85 − 2 × 3.65


def test_larger_iops(tmp_path):
    cost = cost_of(tmp_path, "cluster.volumeIops=6000")
    # Each claimed gp3 volume pays for 6000 − 3000 IOPS: 3000 × $0.005 = 15.00; three volumes.
    for workload, claim in (("postgres", "postgres-storage"), ("redis", "redis-storage"), ("prometheus", "data")):
        assert monthly(cost, "kubernetes:apps/v1:StatefulSet", workload, f"{claim}: gp3 IOPS above 3000") == 15.00
    assert cost["monthlyTotal"] == 740.94  # 695.94 + 3 × 15.00


def test_a_preview_prices_the_same(tmp_path):
    outcome, printed = run_plan(tmp_path, "prod", preview=True, checks=[])
    assert outcome.exit_code == 0, printed
    assert outcome.document["cost"]["monthlyTotal"] == PROD_TOTAL


def test_the_same_stack_in_eu_west_1(prod_plan):
    cost = estimate(prod_plan["resources"], "eu-west-1", load_price_table(), CostAssumptionsConfig())
    # 73.00 + 3×730×0.214 (468.66) + 150×0.088 (13.20) + 3×730×0.048 (105.12) + 100×0.048 (4.80)
    # + 3×730×0.005 (10.95) + 730×0.0252 (18.396 -> 18.40) + 730×0.006 (4.38) + 10.95 + 9.00 + 2 keys × 1.00
    # + 10×0.57 (5.70) + 30×0.03 (0.90) + 160 GiB×0.088 (14.08) + 3×125×0.044 (16.50)
    assert cost["monthlyTotal"] == 757.64


def test_an_instance_type_without_a_price_is_listed_not_priced(tmp_path):
    cost = cost_of(tmp_path, "cluster.nodeInstanceType=m5n.xlarge")
    (nodes,) = [item for item in cost["notPriced"] if item["type"] == "aws:eks/nodeGroup:NodeGroup"]
    assert nodes["name"] == "eks-nodes" and len(cost["notPriced"]) == 3  # with the backups' bucket and vault
    assert "m5n.xlarge" in nodes["reason"] and "prices.yaml" in nodes["reason"]
    assert cost["monthlyTotal"] == 275.46  # 695.94 − 420.48: the rest is still priced
    assert any("not priced" in note for note in cost["notes"])


def test_a_resource_type_the_table_does_not_know_is_not_priced():
    resources = [
        {"type": "aws:rds/instance:Instance", "name": "db", "inputs": {"instanceClass": "db.m6i.large"}},
        {"type": "aws:ec2/vpc:Vpc", "name": "vpc", "inputs": {}},
        {"type": "kubernetes:core/v1:Service", "name": "lb", "inputs": {"spec": {"type": "LoadBalancer"}}},
        {"type": "aws:kms/key:Key", "name": "key", "inputs": {}},
    ]
    cost = estimate(resources, "us-east-1", load_price_table(), CostAssumptionsConfig())
    assert [(item["type"], item["name"]) for item in cost["notPriced"]] == [
        ("aws:rds/instance:Instance", "db"), ("kubernetes:core/v1:Service", "lb")]
    assert "no price for this resource type" in cost["notPriced"][0]["reason"]
    assert "AWS NLB" in cost["notPriced"][1]["reason"]
    assert cost["noCharge"] == {"aws:ec2/vpc:Vpc": 1}
    assert cost["monthlyTotal"] == 1.00  # the KMS key alone


def test_a_claim_on_a_storage_class_the_stack_does_not_register_is_not_priced():
    resources = [{"type": "kubernetes:apps/v1:StatefulSet", "name": "db", "inputs": {"spec": {
        "replicas": 2, "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "storageClassName": "fast", "resources": {"requests": {"storage": "10Gi"}}}}]}}}]
    cost = estimate(resources, "us-east-1", load_price_table(), CostAssumptionsConfig())
    assert cost["notPriced"] == [{"type": "kubernetes:apps/v1:StatefulSet", "name": "db", "item": "data",
                                  "reason": "storage class fast is not registered by this stack, so its volume "
                                            "type is unknown"}]


def test_an_unknown_region_is_a_note_not_an_error(prod_plan):
    cost = estimate(prod_plan["resources"], "ap-south-2", load_price_table(), CostAssumptionsConfig())
    assert cost["monthlyTotal"] is None and cost["lines"] == []
    assert len(cost["notes"]) == 1
    assert "no prices for region ap-south-2" in cost["notes"][0]
    assert "eu-west-1, us-east-1, us-west-2" in cost["notes"][0]


def test_a_stack_without_a_region_plans_with_a_note(tmp_path):
    outcome, printed = run_plan(tmp_path, "dev", checks=[])
    assert outcome.exit_code == 0, printed
    cost = outcome.document["cost"]
    assert cost["region"] is None and cost["monthlyTotal"] is None
    assert cost["notes"] == ["not priced: the stack sets no aws:region (a stack without AWS resources)"]
    assert "cost note: not priced: the stack sets no aws:region" in printed


@pytest.mark.parametrize(("quantity", "gib"), [("100Gi", 100), ("1Ti", 1024), ("500Mi", 1), ("100G", 94)])
def test_claimed_storage_is_rounded_up_to_whole_gib(quantity, gib):
    assert gibibytes(quantity) == gib


def test_bad_assumption_values_stop_the_plan(tmp_path):
    outcome, printed = run_plan(tmp_path, "prod", ("costAssumptions.nlbLcuPerHour=-1",), checks=[])
    assert outcome.exit_code == 2
    assert "costAssumptions.nlbLcuPerHour = -1: Input should be greater than or equal to 0" in outcome.error
    assert not (tmp_path / "plan").exists()


def test_a_stateful_set_without_claims_carries_no_charge_of_its_own():
    resources = [{"type": "kubernetes:apps/v1:StatefulSet", "name": "cache", "inputs": {"spec": {"replicas": 3}}}]
    cost = estimate(resources, "us-east-1", load_price_table(), CostAssumptionsConfig())
    assert (cost["lines"], cost["notPriced"], cost["noCharge"]) == ([], [], {"kubernetes:apps/v1:StatefulSet": 1})
    assert cost["monthlyTotal"] == 0.00
