"""components/deploy_gate.refuse_undeployable called directly, as the engine's run would call it (no program run):
`pulumi up` raises every blocker, `pulumi preview` warns each, the SDK's mock monitor refuses nothing, and a
wrong admin principal is an error in both phases."""

from __future__ import annotations

from typing import Optional

import pytest

from components import deploy_gate
from components.config import ConfigError
from ops.stackconfig import load_stack_config
from tests.components.test_deploy_gate import PLACEHOLDER_CIDR, READY, RESERVED_DOMAIN

NO_AWS = ("the AWS CLI (`aws`) is not on PATH: the Kubernetes provider authenticates to EKS with `aws eks get-token`; "
          "allowed: install AWS CLI v2 on the machine that runs `pulumi`")
EDGE = ("traffic.edge = 'istio': the gateway's TLS certificate is issued by HTTP-01 through the 'nginx' IngressClass, "
        "which runs only with the nginx edge, so its HTTPS listener would have no certificate; allowed: nginx until "
        "the issuer solves through the chosen edge")


def config(stack: str = "prod", *overrides: str):
    return load_stack_config(stack, list(overrides)).model()


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch):
    """Not the mock monitor; `aws` on PATH; records preview warnings. Set `engine.preview = True` for a preview."""
    class Engine:
        preview = False
        warned: list[str] = []

    state = Engine()
    state.warned = []
    monkeypatch.setattr(deploy_gate, "_mocked", lambda: False)
    monkeypatch.setattr(deploy_gate.shutil, "which", lambda name: "/usr/local/bin/aws" if name == "aws" else None)
    monkeypatch.setattr(deploy_gate.pulumi.runtime, "is_dry_run", lambda: state.preview)
    monkeypatch.setattr(deploy_gate.pulumi.log, "warn", lambda message, *args, **kw: state.warned.append(message))
    return state


def refused(cfg) -> Optional[list[str]]:
    try:
        deploy_gate.refuse_undeployable(cfg)
    except ConfigError as error:
        return list(error.problems)
    return None


def test_up_raises_every_blocker(engine):
    assert refused(config()) == [RESERVED_DOMAIN, PLACEHOLDER_CIDR]
    assert engine.warned == []


def test_preview_warns_each_blocker_and_raises_nothing(engine):
    engine.preview = True
    assert refused(config()) is None
    assert engine.warned == [f"`pulumi up` will refuse this stack: {RESERVED_DOMAIN}",
                             f"`pulumi up` will refuse this stack: {PLACEHOLDER_CIDR}"]


def test_a_deployable_config_passes_silently(engine):
    assert refused(config("prod", *READY)) is None and engine.warned == []


def test_under_the_mock_monitor_nothing_is_refused(engine, monkeypatch):
    monkeypatch.setattr(deploy_gate, "_mocked", lambda: True)
    assert refused(config()) is None and engine.warned == []


def test_an_eks_stack_without_the_aws_cli_is_refused_and_an_existing_cluster_is_not(engine, monkeypatch):
    monkeypatch.setattr(deploy_gate.shutil, "which", lambda name: None)
    assert refused(config("prod", *READY)) == [NO_AWS]
    assert deploy_gate.runner_blockers(config("dev")) == []


@pytest.mark.parametrize("preview", [False, True])
def test_the_deploying_principal_as_an_extra_admin_is_an_error_in_both_phases(engine, monkeypatch, preview: bool):
    engine.preview = preview
    monkeypatch.setattr(deploy_gate, "deploying_principal", lambda: "arn:aws:iam::123456789012:role/ci")
    admins = ["arn:aws:iam::123456789012:role/admins", "arn:aws:iam::123456789012:role/ci"]
    listed = [f"cluster.adminPrincipalArns[{index}]={arn}" for index, arn in enumerate(admins)]
    problems = refused(config("prod", *READY, *listed))
    assert problems is not None and len(problems) == 1
    assert problems[0] == ("cluster.adminPrincipalArns[1] = 'arn:aws:iam::123456789012:role/ci' is the principal "
                           "running `pulumi` (arn:aws:iam::123456789012:role/ci): EKS already gives it cluster-admin "
                           "as the cluster's creator, and a second access entry fails with ResourceInUseException; "
                           "allowed: the other principals")
    other = refused(config("prod", *READY, f"cluster.adminPrincipalArns[0]={admins[0]}"))
    assert other is None


def test_an_edge_other_than_nginx_blocks_while_the_platform_issues_certificates(engine):
    assert deploy_gate.edge_blockers(config("prod", *READY, "traffic.edge=istio")) == [EDGE]
    assert deploy_gate.edge_blockers(config("prod", *READY)) == []
    assert deploy_gate.edge_blockers(config("prod", *READY, "traffic.edge=istio", "platform.enabled=false")) == []
    # and `pulumi up` refuses it
    assert refused(config("prod", *READY, "traffic.edge=istio")) == [EDGE]


@pytest.mark.parametrize("caller,principal", [
    ("arn:aws:sts::123456789012:assumed-role/ci-deployer/session-1", "arn:aws:iam::123456789012:role/ci-deployer"),
    ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
])
def test_the_deploying_principal_is_the_role_behind_an_assumed_role_session(monkeypatch, caller: str, principal: str):
    import pulumi_aws as aws

    asked: list[str] = []

    class Identity:
        arn = caller

    class Session:
        issuer_arn = "arn:aws:iam::123456789012:role/ci-deployer"

    def session_context(arn: str, **_: object) -> Session:
        asked.append(arn)
        return Session()

    monkeypatch.setattr(aws, "get_caller_identity", lambda **_: Identity())
    monkeypatch.setattr(aws.iam, "get_session_context", session_context)
    assert deploy_gate.deploying_principal() == principal
    assert asked == ([caller] if ":assumed-role/" in caller else [])
