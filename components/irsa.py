"""IAM roles for Kubernetes service accounts (IRSA): a role only one service account can assume."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws


def service_account_subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def trust_policy(oidc_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """Web-identity trust for exactly one service account of this cluster's OIDC issuer."""
    host = issuer.removeprefix("https://")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": oidc_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{host}:sub": service_account_subject(namespace, service_account),
                f"{host}:aud": "sts.amazonaws.com",
            }},
        }],
    })


@dataclass(frozen=True)
class IrsaRole:
    """A role and its policy attachments. Consumers depend on `attachments`, not only the role: a pod that
    assumes the role before its policies are attached gets AccessDenied, and an add-on or controller that
    fails its first calls may back off for minutes or crash-loop."""

    role: aws.iam.Role
    attachments: list[aws.iam.RolePolicyAttachment]

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.role.arn


def irsa_role(name: str, *, role_name: str, oidc: aws.iam.OpenIdConnectProvider, issuer: pulumi.Input[str],
              namespace: str, service_account: str, parent: pulumi.Resource, managed_policy_arns: Sequence[str] = (),
              policy: Optional[dict[str, Any]] = None) -> IrsaRole:
    """The role (named after cluster and service account, so IAM shows whose it is), its managed policies
    attached, and a customer-managed policy when given."""
    role = aws.iam.Role(
        name,
        name=role_name[:64],
        assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
            lambda args: trust_policy(args[0], args[1], namespace, service_account)
        ),
        tags={"doc-rag/service-account": f"{namespace}/{service_account}"},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-managed-{index}", role=role.name, policy_arn=arn, opts=pulumi.ResourceOptions(parent=parent)
        )
        for index, arn in enumerate(managed_policy_arns)
    ]
    if policy is not None:
        custom = aws.iam.Policy(f"{name}-policy", policy=json.dumps(policy), opts=pulumi.ResourceOptions(parent=parent))
        attachments.append(aws.iam.RolePolicyAttachment(
            f"{name}-policy", role=role.name, policy_arn=custom.arn, opts=pulumi.ResourceOptions(parent=parent)
        ))
    return IrsaRole(role, attachments)
