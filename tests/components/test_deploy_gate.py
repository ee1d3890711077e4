"""What an eks stack may plan but not deploy: the plan reports it, `pulumi up` refuses it, preview warns."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from components import deploy_gate
from components.config import ConfigError
from components.deploy_gate import deploy_blockers, duplicate_admin, reserved_domain
from ops.runner import run_program
from ops.stackconfig import load_stack_config

RESERVED_DOMAIN = ("domain = 'api.docrag.example.com': a reserved name (RFC 2606/6761) that ACM can never validate "
                   "and Let's Encrypt refuses; allowed: a domain you own (its Route 53 zone in cluster.route53ZoneId, "
                   "or publish the certificate's validation records)")
PLACEHOLDER_CIDR = ("cluster.endpointPublicAccessCidrs holds '203.0.113.10/32': a documentation range (RFC 5737), "
                    "i.e. a placeholder; allowed: the egress CIDRs of the machines that run `pulumi up` "
                    "(docs/cluster.md \"First deploy\")")
NO_RUNNER = ("cluster.endpointPublicAccess = false with no cluster.apiAccessCidrs or "
             "cluster.apiAccessSecurityGroupIds: no runner can reach the private Kubernetes API")
READY = ["domain=api.docrag.io", "cluster.endpointPublicAccessCidrs[0]=52.94.76.10/32"]


def blockers(stack: str, *overrides: str) -> list[str]:
    return deploy_blockers(load_stack_config(stack, list(overrides)).model())


@pytest.mark.parametrize("domain,reserved", [
    ("api.docrag.example.com", True), ("example.org", True), ("api.example.net.", True), ("svc.test", True),
    ("api.invalid", True), ("localhost", True), ("docrag.example", True), ("api.svc.test", True),
    ("a.b.localhost", True), ("API.Example.COM", True),
    ("api.docrag.io", False), ("example.com.au", False), ("myexample.com", False), ("testing.dev", False),
])
def test_reserved_domains(domain: str, reserved: bool):
    assert reserved_domain(domain) is reserved


def test_the_committed_prod_file_plans_with_its_two_placeholders_as_blockers():
    assert blockers("prod") == [RESERVED_DOMAIN, PLACEHOLDER_CIDR]
    assert blockers("prod", *READY) == []


def test_a_private_api_nobody_is_admitted_to_blocks_the_first_up():
    private = [*READY, "cluster.endpointPublicAccess=false"]
    (problem,) = blockers("prod", *private)
    assert problem == (f"{NO_RUNNER}, so every Kubernetes object of `pulumi up` would time out; allowed: a "
                       "CIDR-restricted public endpoint for the first deploy, or the networks / security groups of "
                       "your runners and VPN (docs/cluster.md \"First deploy\")")
    assert blockers("prod", *private, "cluster.apiAccessCidrs[0]=10.8.0.0/16") == []
    assert blockers("prod", *private, "cluster.apiAccessSecurityGroupIds[0]=sg-0123456789abcdef0") == []
    # A documentation range is a placeholder wherever it stands.
    (problem,) = blockers("prod", *private, "cluster.apiAccessCidrs[0]=198.51.100.0/24")
    assert problem.startswith("cluster.apiAccessCidrs holds '198.51.100.0/24': a documentation range")


def test_existing_clusters_are_not_judged():
    for stack in ("dev", "local"):
        assert blockers(stack) == []


@pytest.mark.program
def test_the_plan_reports_blockers_and_still_passes(plans):
    outcome, printed = plans.get("prod", checks=[])
    assert outcome.exit_code == 0
    assert outcome.document["blockers"] == [RESERVED_DOMAIN, PLACEHOLDER_CIDR]
    assert "blocker for `pulumi up`: domain = 'api.docrag.example.com': a reserved name" in printed


@pytest.fixture
def deploying(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """As under the engine: not mocked, and an AWS CLI on PATH unless a test removes it."""
    monkeypatch.setattr(deploy_gate, "_mocked", lambda: False)
    (tmp_path / "aws").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "aws").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    return monkeypatch


@pytest.mark.program
def test_pulumi_up_refuses_the_blockers_before_registering_anything(deploying):
    with pytest.raises(ConfigError) as raised:
        run_program("prod")
    assert raised.value.problems == [RESERVED_DOMAIN, PLACEHOLDER_CIDR]
    assert run_program("prod", READY).resources  # a real config deploys


@pytest.mark.program
def test_pulumi_preview_warns_instead(deploying, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        run = run_program("prod", preview=True)
    assert run.resources
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"`pulumi up` will refuse this stack: {RESERVED_DOMAIN}" in warned


@pytest.mark.program
def test_pulumi_up_without_the_aws_cli_is_refused(deploying, tmp_path: Path):
    deploying.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError) as raised:
        run_program("prod", READY)
    assert raised.value.problems == [
        "the AWS CLI (`aws`) is not on PATH: the Kubernetes provider authenticates to EKS with `aws eks get-token`; "
        "allowed: install AWS CLI v2 on the machine that runs `pulumi`"]


@pytest.mark.program
def test_the_deploying_principal_is_refused_as_an_extra_admin(deploying):
    deploying.setattr(deploy_gate, "deploying_principal", lambda: "arn:aws:iam::123456789012:role/ci-deployer")
    admins = ["arn:aws:iam::123456789012:role/platform-admins", "arn:aws:iam::123456789012:role/teams/ci-deployer"]
    overrides = [*READY, *(f"cluster.adminPrincipalArns[{i}]={arn}" for i, arn in enumerate(admins))]
    for preview in (False, True):  # an error in both phases: the access entry would fail either way
        with pytest.raises(ConfigError) as raised:
            run_program("prod", overrides, preview=preview)
        assert raised.value.problems == [
            "cluster.adminPrincipalArns[1] = 'arn:aws:iam::123456789012:role/teams/ci-deployer' is the principal "
            "running `pulumi` (arn:aws:iam::123456789012:role/ci-deployer): EKS already gives it cluster-admin as "
            "the cluster's creator, and a second access entry fails with ResourceInUseException; allowed: the "
            "other principals"]
    assert run_program("prod", [*READY, f"cluster.adminPrincipalArns[0]={admins[0]}"]).resources


@pytest.mark.parametrize("admins,caller,index", [
    (["arn:aws:iam::123456789012:user/alice"], "arn:aws:iam::123456789012:user/alice", 0),
    (["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"], "arn:aws:iam::123456789012:role/b", 1),
    (["arn:aws:iam::123456789012:role/b"], "arn:aws:iam::210987654321:role/b", None),  # another account
    (["arn:aws:iam::123456789012:role/b"], "arn:aws:iam::123456789012:user/b", None),  # a user is not a role
    # a path is not part of who a role is: the same role with and without it
    (["arn:aws:iam::123456789012:role/teams/ci"], "arn:aws:iam::123456789012:role/ci", 0),
    (["arn:aws:iam::123456789012:role/ci"], "arn:aws:iam::123456789012:role/teams/ci", 0),
    (["arn:aws:iam::123456789012:role/teams/ci"], "arn:aws:iam::123456789012:role/teams/other", None),
    (["arn:aws:iam::123456789012:root"], "arn:aws:iam::123456789012:root", 0),  # no resource path at all
])
def test_duplicate_admin(admins: list[str], caller: str, index):
    found = duplicate_admin(admins, caller)
    assert (found is None) if index is None else found.startswith(f"cluster.adminPrincipalArns[{index}]")
