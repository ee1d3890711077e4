"""The fake cloud behind the SDK monitor: what providers would answer, nothing more.

During a preview a new resource's computed outputs are unknown, so only its inputs come back. During an
update the engine would return the provider's computed outputs; for the few the program reads we return
plausible fakes. Invokes (data sources) answer from a small table; an invoke the table does not know
raises, so a new data source cannot silently answer None.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

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
    "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
    "aws:route53/record:Record": {"fqdn": "_0123456789abcdef.api.docrag.example.com"},
}
# S3 names a bucket from its prefix plus a unique suffix; pgbackrest.conf carries the name S3 gave it.
BUCKET_SUFFIX = "20261203000000000001"

# Computed fields inside an input object: the provider adds them next to what the program set.
_COMPUTED_WITHIN: dict[str, dict[str, dict[str, Any]]] = {
    "aws:eks/cluster:Cluster": {"vpcConfig": {"clusterSecurityGroupId": "sg-0c1a2b3c4d5e6f708"}},
}

# IAM objects the program lets the provider name; attachments refer to them by that name.
_AUTO_NAMED = {"aws:iam/role:Role", "aws:iam/policy:Policy"}

# The region's standard zones (name -> zone ID, as an account maps them), and a Local Zone the account has
# opted in to: `state=available` alone returns it too (first here, as a name sort would not put it last),
# so only the opt-in filter keeps subnets out of it. us-east-1c is use1-az3, where EKS runs no control
# plane, and the node type is not offered in use1-az2 (us-east-1b): only by zone ID can the program avoid
# both, so the first three usable zones are us-east-1a, -1d and -1e.
STANDARD_ZONES = [f"{REGION}{suffix}" for suffix in "abcdef"]
STANDARD_ZONE_IDS = [f"use1-az{n}" for n in range(1, 7)]
LOCAL_ZONE, LOCAL_ZONE_ID = f"{REGION}-bos-1a", "use1-bos1-az1"
NODE_TYPE_NOT_OFFERED_IN = "use1-az2"


def _availability_zones(args: dict[str, Any]) -> dict[str, Any]:
    opt_in = {value for f in args.get("filters") or [] if f.get("name") == "opt-in-status" for value in f["values"]}
    zones = list(zip(STANDARD_ZONES, STANDARD_ZONE_IDS, strict=True))
    if opt_in != {"opt-in-not-required"}:
        zones.insert(1, (LOCAL_ZONE, LOCAL_ZONE_ID))
    excluded = set(args.get("excludeZoneIds") or [])
    zones = [(name, zone_id) for name, zone_id in zones if zone_id not in excluded]
    return {"names": [name for name, _ in zones], "zoneIds": [zone_id for _, zone_id in zones], "state": "available"}


def _instance_type_offerings(args: dict[str, Any]) -> dict[str, Any]:
    if args.get("locationType") != "availability-zone-id":
        raise ValueError("getInstanceTypeOfferings must be asked per availability-zone-id")
    (wanted,) = [f["values"] for f in args.get("filters") or [] if f.get("name") == "instance-type"]
    locations = [zone_id for zone_id in STANDARD_ZONE_IDS + [LOCAL_ZONE_ID] if zone_id != NODE_TYPE_NOT_OFFERED_IN]
    return {"locations": locations, "instanceTypes": [wanted[0]] * len(locations),
            "locationTypes": ["availability-zone-id"] * len(locations)}


def addon_version(addon: str, kubernetes_version: str) -> str:
    """A fake EKS add-on build that names the Kubernetes version it was looked up for."""
    return f"v1.{kubernetes_version.split('.')[-1]}.0-eksbuild.1+{addon}"


def _addon_version(args: dict[str, Any]) -> dict[str, Any]:
    if args.get("mostRecent") is not False:  # the program asks for the default build, not the newest
        raise ValueError("getAddonVersion must be called with most_recent=False")
    return {"addonName": args["addonName"], "kubernetesVersion": args["kubernetesVersion"],
            "version": addon_version(args["addonName"], args["kubernetesVersion"])}


_COMPUTED_INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": _instance_type_offerings,
    "aws:eks/getAddonVersion:getAddonVersion": _addon_version,
}

_INVOKES: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/plan", "userId": "plan",
    },
    "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION, "id": REGION},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
}


class UnknownInvoke(LookupError):
    """The program called a data source the fake cloud has no answer for."""


class FakeCloud(pulumi.runtime.Mocks):
    def __init__(self, preview: bool):
        self.preview = preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[Optional[str], dict]:
        state = dict(args.inputs)
        if not self.preview and args.typ.startswith("aws:"):
            # A resource with its own `region` (pulumi-aws v7) lives there, not in the provider's region.
            state.setdefault("arn", f"arn:aws:mock:{state.get('region') or REGION}:{ACCOUNT}:{args.name}")
            if args.typ == "aws:s3/bucket:Bucket" and state.get("bucketPrefix"):
                state.setdefault("bucket", f"{state['bucketPrefix']}{BUCKET_SUFFIX}")
            if args.typ in _AUTO_NAMED:  # the provider names these when the program does not
                state.setdefault("name", args.name)
            state.update(_COMPUTED.get(args.typ, {}))
            for field, computed in _COMPUTED_WITHIN.get(args.typ, {}).items():
                state[field] = {**(state.get(field) or {}), **computed}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, Optional[list[tuple[str, str]]]]:
        # No failures: an empty list (the SDK's MockMonitor iterates it; None raises TypeError).
        if args.token in _COMPUTED_INVOKES:
            return _COMPUTED_INVOKES[args.token](dict(args.args)), []
        if args.token in _INVOKES:
            return _INVOKES[args.token], []
        raise UnknownInvoke(f"no fake answer for the invoke {args.token}: add one to ops/mocks.py")
