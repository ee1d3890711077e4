"""`cluster`: eks or an existing cluster, node group shape and size, VPC, API endpoint access, certificate.

NODE_FAMILY_XLARGE_SHAPE is the table of node instance types eks mode accepts.
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from components.config.errors import FieldError
from components.config.validators import StrictModel, check_ipv4_network

# Node instance types eks mode accepts: at least 4 vCPU and 16 GiB per node (the floor README's config reference
# states), checked against EC2's published shapes without calling AWS (the model stays pure). Per family the vCPU
# and GiB of its .xlarge size; the other sizes scale linearly. x86_64 families only: the node group runs
# the AL2023_x86_64_STANDARD AMI. Add a family here (with its .xlarge shape) to allow it.
NODE_FAMILY_XLARGE_SHAPE: dict[str, tuple[int, int]] = {
    **{family: (4, 16) for family in ("m5", "m5a", "m5n", "m6i", "m6a", "m6in", "m7i", "m7a")},
    **{family: (4, 8) for family in ("c5", "c5a", "c6i", "c6a", "c6in", "c7i", "c7a")},
    **{family: (4, 32) for family in ("r5", "r5a", "r6i", "r6a", "r7i", "r7a")},
}
NODE_SIZE_XLARGES = {"large": 0.5, "xlarge": 1, "2xlarge": 2, "4xlarge": 4, "8xlarge": 8, "12xlarge": 12,
                     "16xlarge": 16, "24xlarge": 24}
MIN_NODE_VCPU, MIN_NODE_GIB = 4, 16


def node_shape(instance_type: str) -> Optional[tuple[float, float]]:
    """(vCPU, GiB) of a type in the table above, None for a type it does not know."""
    family, _, size = instance_type.partition(".")
    if family not in NODE_FAMILY_XLARGE_SHAPE or size not in NODE_SIZE_XLARGES:
        return None
    vcpu, gib = NODE_FAMILY_XLARGE_SHAPE[family]
    return vcpu * NODE_SIZE_XLARGES[size], gib * NODE_SIZE_XLARGES[size]


_SECURITY_GROUP_RE = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
_PRINCIPAL_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$")


class ClusterConfig(StrictModel):
    mode: Literal["eks", "existing"] = "eks"
    kubeconfig: Optional[str] = Field(
        default=None, description="existing mode: kubeconfig contents or path; ambient when unset"
    )
    renderYamlTo: Optional[str] = Field(
        default=None, description="existing mode: render manifests to this directory instead of applying"
    )
    nodeInstanceType: str = Field(default="m6i.xlarge", pattern=r"^[a-z][a-z0-9-]*\.[0-9]*[a-z]+$")
    minNodes: int = Field(default=3, ge=1, le=100)
    maxNodes: int = Field(default=5, ge=1, le=100)
    desiredNodes: int = Field(default=3, ge=1, le=100)
    volumeIops: int = Field(default=3000, ge=1000, le=16000)
    volumeThroughput: int = Field(default=250, ge=125, le=1000, description="gp3 throughput in MiB/s")
    storageClass: str = Field(default="gp3", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    createStorageClass: Optional[bool] = Field(
        default=None, description="create the EBS gp3 `storageClass`; unset: yes in eks mode, no in existing mode"
    )
    vpcCidr: str = "10.0.0.0/16"
    availabilityZones: int = Field(default=3, ge=2, le=6)
    natGateways: Literal["perAz", "single"] = Field(
        default="perAz", description="perAz survives the loss of a zone; single is cheaper"
    )
    # Private-only by default: the Kubernetes API is reachable from inside the VPC (and what is peered or
    # VPN-connected to it). A public endpoint needs the CIDRs that may reach it; 0.0.0.0/0 is refused.
    endpointPublicAccess: bool = False
    endpointPublicAccessCidrs: list[str] = Field(default_factory=list)
    # Who may open 443 on the private endpoint: EKS's cluster security group admits only itself (the nodes),
    # so a runner or VPN in the VPC or a peered network needs a rule (docs/cluster.md "First deploy").
    apiAccessCidrs: list[str] = Field(
        default_factory=list, description="CIDRs (a VPN, a peered runner network) admitted to the private endpoint"
    )
    apiAccessSecurityGroupIds: list[str] = Field(
        default_factory=list, description="security groups (e.g. of CI runners in the VPC) admitted to it"
    )
    adminPrincipalArns: list[str] = Field(
        default_factory=list, description="IAM roles/users given cluster-admin through EKS access entries"
    )
    route53ZoneId: Optional[str] = Field(
        default=None, pattern=r"^Z[A-Z0-9]{1,32}$",
        description="hosted zone of `domain`: the ACM validation record is created there and the stack waits "
                    "until the certificate is issued",
    )
    certificateArn: Optional[str] = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$",
        description="an existing ACM certificate for `domain`; no certificate is created",
    )

    @property
    def creates_storage_class(self) -> bool:
        return self.createStorageClass if self.createStorageClass is not None else self.mode == "eks"

    @field_validator("vpcCidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        # /16../20: room for 16 equal blocks (public and private subnets for up to 6 zones).
        return check_ipv4_network(value, prefixes=(16, 20))

    @field_validator("endpointPublicAccessCidrs", "apiAccessCidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            check_ipv4_network(value, prefixes=(1, 32))  # /0 would be the whole internet
        return values

    @field_validator("apiAccessSecurityGroupIds")
    @classmethod
    def _security_groups(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _SECURITY_GROUP_RE.match(value):
                raise ValueError(f"{value!r} is not allowed: a security group ID such as sg-0123456789abcdef0")
        return values

    @field_validator("adminPrincipalArns")
    @classmethod
    def _principals(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _PRINCIPAL_RE.match(value):
                raise ValueError(f"{value!r} is not allowed: an IAM role or user ARN such as "
                                 "arn:aws:iam::123456789012:role/platform-admins")
        if len(set(values)) != len(values):
            raise ValueError("allowed: each principal once")
        return values

    @model_validator(mode="after")
    def _node_counts(self) -> "ClusterConfig":
        # Blame the field the user most likely got wrong, so the message names e.g. cluster.minNodes.
        if self.minNodes > self.maxNodes:
            raise FieldError("minNodes", self.minNodes, f"allowed: at most maxNodes ({self.maxNodes})")
        if not self.minNodes <= self.desiredNodes <= self.maxNodes:
            raise FieldError(
                "desiredNodes", self.desiredNodes,
                f"allowed: between minNodes ({self.minNodes}) and maxNodes ({self.maxNodes})",
            )
        # gp3 allows at most 0.25 MiB/s of throughput per provisioned IOPS.
        if self.volumeThroughput * 4 > self.volumeIops:
            raise FieldError(
                "volumeThroughput", self.volumeThroughput,
                f"allowed: at most volumeIops / 4 = {self.volumeIops // 4} MiB/s (a gp3 limit)",
            )
        if self.mode == "eks" and self.renderYamlTo:
            raise FieldError("renderYamlTo", self.renderYamlTo, "allowed only with mode: existing")
        if self.mode == "eks" and self.kubeconfig:
            raise FieldError("kubeconfig", "[set]", "allowed only with mode: existing (eks builds its own)")
        if self.mode == "eks":
            shape = node_shape(self.nodeInstanceType)
            if shape is None or shape[0] < MIN_NODE_VCPU or shape[1] < MIN_NODE_GIB:
                raise FieldError(
                    "nodeInstanceType", self.nodeInstanceType,
                    f"allowed: an x86_64 type with at least {MIN_NODE_VCPU} vCPU and {MIN_NODE_GIB} GiB from "
                    "components/config/cluster.py NODE_FAMILY_XLARGE_SHAPE, e.g. m6i.xlarge, c6i.2xlarge, r6i.xlarge",
                )
        if self.endpointPublicAccess and not self.endpointPublicAccessCidrs:
            raise FieldError(
                "endpointPublicAccessCidrs", [],
                "required with endpointPublicAccess: true (the CIDRs of your CI runners and operators; "
                "0.0.0.0/0 is refused), or keep the endpoint private",
            )
        for key in ("route53ZoneId", "certificateArn", "adminPrincipalArns", "apiAccessCidrs",
                    "apiAccessSecurityGroupIds"):
            if self.mode != "eks" and getattr(self, key):
                raise FieldError(key, getattr(self, key), "allowed only with mode: eks")
        if self.route53ZoneId and self.certificateArn:
            raise FieldError("route53ZoneId", self.route53ZoneId,
                             "allowed only without certificateArn (an existing certificate needs no validation)")
        return self
