"""The fake cloud behind the SDK monitor: what providers would answer, nothing more.

During a preview a new resource's computed outputs are unknown, so only its inputs come back. During an
update the engine would return the provider's computed outputs; for the few the program reads we return
plausible fakes. Invokes (data sources) answer from a small table.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

REGION = "us-east-1"
ACCOUNT = "123456789012"

# Computed outputs the program reads, per resource type, under preview=False.
_FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1PQ0sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="  # base64 PEM "MOCK"
_OIDC_ISSUER = f"https://oidc.eks.{REGION}.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E"
_COMPUTED: dict[str, dict[str, Any]] = {
    # The cluster layer builds the kubeconfig and the IRSA trust policies from these.
    "aws:eks/cluster:Cluster": {
        "endpoint": "https://EXAMPLED539D4633E53DE1B716D3041E.gr7.us-east-1.eks.amazonaws.com",
        "certificateAuthority": {"data": _FAKE_CA},
        "identities": [{"oidcs": [{"issuer": _OIDC_ISSUER}]}],
    },
    "aws:acm/certificate:Certificate": {
        "domainValidationOptions": [{
            "domainName": "api.docrag.example.com",
            "resourceRecordName": "_0123456789abcdef.api.docrag.example.com.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": "_fedcba9876543210.acm-validations.aws.",
        }],
    },
}

_INVOKES: dict[str, dict[str, Any]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": {
        "names": [f"{REGION}{suffix}" for suffix in "abcdef"],
        "zoneIds": [f"use1-az{n}" for n in range(1, 7)],
        "state": "available",
    },
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/plan", "userId": "plan",
    },
    "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION, "id": REGION},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
}


class FakeCloud(pulumi.runtime.Mocks):
    def __init__(self, preview: bool):
        self.preview = preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[Optional[str], dict]:
        state = dict(args.inputs)
        if not self.preview and args.typ.startswith("aws:"):
            state.setdefault("arn", f"arn:aws:mock:{REGION}:{ACCOUNT}:{args.name}")
            state.update(_COMPUTED.get(args.typ, {}))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, Optional[list[tuple[str, str]]]]:
        # No failures: an empty list (the SDK's MockMonitor iterates it; None raises TypeError).
        return _INVOKES.get(args.token, {}), []
