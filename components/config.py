"""The typed config model: the whole `doc-rag:*` contract, validated before anything is registered.

One pydantic model holds every key of DESIGN.md's config contract. `load_config()` reads the stack's
config through `pulumi.Config` and either returns a `DocRagConfig` or raises `ConfigError`, whose
message names the key path, the value given and what is allowed. `pulumi up` and `python -m ops plan`
print that same message.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Literal, Mapping, Optional
from urllib.parse import urlsplit

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components import secret_keys
from components.secret_keys import SECRET_KEYS

PROJECT = "doc-rag"
COLORS = ("blue", "green")
Color = Literal["blue", "green"]

# EKS standard-support versions that kubernetes-validate also has schemas for.
SUPPORTED_KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35")

# Structured keys read with require_object/get_object; plain string keys read with get().
OBJECT_KEYS = ("cluster", "release", "traffic", "postgres", "platform", "observability", "costAssumptions")
STRING_KEYS = ("domain", "kubernetesVersion")
KNOWN_KEYS = STRING_KEYS + OBJECT_KEYS + SECRET_KEYS

_DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL})+$")
# registry/repo[:tag][@sha256:digest]; a tag or a digest is required, `latest` is refused.
_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")


class ConfigError(pulumi.RunError):
    """Invalid stack config. The message is what the user sees: key path, value, what is allowed.

    A RunError, so `pulumi up` prints the message alone, without a Python traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "invalid doc-rag stack config:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


class _Strict(BaseModel):
    """Unknown keys are refused so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_image(value: str) -> str:
    match = _IMAGE_RE.match(value)
    if not match:
        raise ValueError("allowed: an image reference such as registry/name:tag or name@sha256:<digest>")
    if not match.group("tag") and not match.group("digest"):
        raise ValueError("allowed: a pinned image (a tag or an @sha256 digest); an untagged image means latest")
    if match.group("tag") == "latest" and not match.group("digest"):
        raise ValueError("allowed: a pinned image tag or digest; `latest` is not pinned")
    return value


def has_digest(image: str) -> bool:
    """The reference names its content (@sha256:<digest>), so what was scanned is what runs."""
    match = _IMAGE_RE.match(image)
    return bool(match and match.group("digest"))


def check_quantity(value: str) -> str:
    if not _QUANTITY_RE.match(value):
        raise ValueError("allowed: a Kubernetes quantity such as 100Gi or 512Mi")
    return value


def check_duration(value: str) -> str:
    if not _DURATION_RE.match(value):
        raise ValueError("allowed: a duration such as 10s, 500ms, 1m30s")
    return value


def duration_seconds(value: str) -> float:
    """`1m30s` → 90.0; the value was validated by check_duration."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ms|s|m|h)", value))


# Node instance types eks mode accepts: the seed's "4 vCPU, 16 GB RAM minimum" per node, checked against
# EC2's published shapes without calling AWS (the model stays pure). Per family the vCPU and GiB of its
# .xlarge size; the other sizes scale linearly. x86_64 families only: the node group runs the
# AL2023_x86_64_STANDARD AMI. Add a family here (with its .xlarge shape) to allow it.
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


def check_ipv4_network(value: str, prefixes: tuple[int, int] = (0, 32)) -> str:
    """An IPv4 network address (no host bits set, e.g. 10.0.0.0/16, not 10.0.1.0/16) within `prefixes`."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"{value!r} is not allowed: an IPv4 network address such as 10.0.0.0/16 "
                         "(no host bits set)") from None
    if network.version != 4:
        raise ValueError(f"{value!r} is not allowed: IPv4 only")
    if not prefixes[0] <= network.prefixlen <= prefixes[1]:
        raise ValueError(f"{value!r} is not allowed: a prefix between /{prefixes[0]} and /{prefixes[1]}")
    return value


class ClusterConfig(_Strict):
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
            raise _FieldError("minNodes", self.minNodes, f"allowed: at most maxNodes ({self.maxNodes})")
        if not self.minNodes <= self.desiredNodes <= self.maxNodes:
            raise _FieldError(
                "desiredNodes", self.desiredNodes,
                f"allowed: between minNodes ({self.minNodes}) and maxNodes ({self.maxNodes})",
            )
        # gp3 allows at most 0.25 MiB/s of throughput per provisioned IOPS.
        if self.volumeThroughput * 4 > self.volumeIops:
            raise _FieldError(
                "volumeThroughput", self.volumeThroughput,
                f"allowed: at most volumeIops / 4 = {self.volumeIops // 4} MiB/s (a gp3 limit)",
            )
        if self.mode == "eks" and self.renderYamlTo:
            raise _FieldError("renderYamlTo", self.renderYamlTo, "allowed only with mode: existing")
        if self.mode == "eks" and self.kubeconfig:
            raise _FieldError("kubeconfig", "[set]", "allowed only with mode: existing (eks builds its own)")
        if self.mode == "eks":
            shape = node_shape(self.nodeInstanceType)
            if shape is None or shape[0] < MIN_NODE_VCPU or shape[1] < MIN_NODE_GIB:
                raise _FieldError(
                    "nodeInstanceType", self.nodeInstanceType,
                    f"allowed: an x86_64 type with at least {MIN_NODE_VCPU} vCPU and {MIN_NODE_GIB} GiB from "
                    "components/config.py NODE_FAMILY_XLARGE_SHAPE, e.g. m6i.xlarge, c6i.2xlarge, r6i.xlarge",
                )
        if self.endpointPublicAccess and not self.endpointPublicAccessCidrs:
            raise _FieldError(
                "endpointPublicAccessCidrs", [],
                "required with endpointPublicAccess: true (the CIDRs of your CI runners and operators; "
                "0.0.0.0/0 is refused), or keep the endpoint private",
            )
        for key in ("route53ZoneId", "certificateArn", "adminPrincipalArns", "apiAccessCidrs",
                    "apiAccessSecurityGroupIds"):
            if self.mode != "eks" and getattr(self, key):
                raise _FieldError(key, getattr(self, key), "allowed only with mode: eks")
        if self.route53ZoneId and self.certificateArn:
            raise _FieldError("route53ZoneId", self.route53ZoneId,
                              "allowed only without certificateArn (an existing certificate needs no validation)")
        return self


# Exact chart versions only: a range, an empty string or `latest` would let a re-run install something else.
# ops/checks/helm_charts.py checks every registered release against this same pattern.
CHART_VERSION_PATTERN = r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$"
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SECURITY_GROUP_RE = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
_PRINCIPAL_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$")
# Domains Let's Encrypt refuses as an ACME contact (RFC 2606 / RFC 6761 reserved names).
_RESERVED_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_EMAIL_TLDS = ("example", "test", "invalid", "localhost", "local")

# The oldest chart each add-on may be pinned to, and why. Newer is always allowed.
MIN_CHART_VERSIONS: dict[str, tuple[str, str]] = {
    "ingressNginx": ("4.15.1", "the last ingress-nginx release (controller v1.15.1; the project is retired "
                               "upstream); older controllers have CVE-2025-1974 (unauthenticated RCE through the "
                               "admission webhook) and later injection CVEs"),
    "istio": ("1.30.0", "the oldest supported Istio whose support matrix covers Kubernetes 1.33-1.35 "
                        "(1.30: 1.32-1.36; 1.29 reached end of life on 2026-10-15; 1.24 stops at 1.31)"),
    "certManager": ("v1.20.0", "the oldest supported cert-manager covering Kubernetes 1.33-1.35 "
                               "(1.20: 1.32-1.35, 1.21: 1.33-1.36)"),
    "awsLoadBalancerController": ("3.0.0", "the maintained v3 controller line; components/aws_iam.py holds "
                                           "its IAM policy (upstream v3.5.0)"),
    "trivyOperator": ("0.34.0", "the chart (operator v0.32.0) whose values components/scanner.py was checked "
                                "against; older charts' keys and metrics were not reviewed"),
}


def version_tuple(version: str) -> tuple[int, ...]:
    """`v1.21.2` / `1.21.2-rc.1` -> (1, 21, 2); the version matched CHART_VERSION_PATTERN."""
    return tuple(int(part) for part in version.lstrip("v").split("-", 1)[0].split("."))


class AddonConfig(_Strict):
    """One Helm-installed platform add-on: whether this stack installs it, and the exact chart version."""

    install: bool = True
    version: str = Field(pattern=CHART_VERSION_PATTERN)


class PlatformConfig(_Strict):
    """Cluster add-ons as pinned Helm releases. `enabled: false` (or `install: false` per add-on) is for
    clusters that already run them. awsLoadBalancerController and clusterAutoscaler need the IAM roles
    the eks mode creates, so they are only installed with cluster.mode eks."""

    enabled: bool = True
    clusterIssuer: bool = Field(default=True, description="create ClusterIssuer letsencrypt-prod")
    # No default: Let's Encrypt sends expiry notices here and refuses reserved domains (example.com).
    acmeEmail: Optional[str] = None
    ingressNginx: AddonConfig = Field(default_factory=lambda: AddonConfig(version="4.15.1"))
    certManager: AddonConfig = Field(default_factory=lambda: AddonConfig(version="v1.21.2"))
    istio: AddonConfig = Field(default_factory=lambda: AddonConfig(version="1.30.5"))
    awsLoadBalancerController: AddonConfig = Field(default_factory=lambda: AddonConfig(version="3.5.0"))
    metricsServer: AddonConfig = Field(default_factory=lambda: AddonConfig(version="3.13.1"))
    clusterAutoscaler: AddonConfig = Field(default_factory=lambda: AddonConfig(version="9.59.0"))
    # The image scanner in doc-rag-security (components/scanner.py).
    trivyOperator: AddonConfig = Field(default_factory=lambda: AddonConfig(version="0.34.0"))

    @field_validator("acmeEmail")
    @classmethod
    def _email(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        if not _EMAIL_RE.match(value):
            raise ValueError("allowed: an e-mail address Let's Encrypt can send expiry notices to")
        domain = value.rsplit("@", 1)[1].lower().rstrip(".")
        if domain.rsplit(".", 1)[-1] in _RESERVED_EMAIL_TLDS or any(
                domain == reserved or domain.endswith(f".{reserved}") for reserved in _RESERVED_EMAIL_DOMAINS):
            raise ValueError("allowed: an address on a real domain; Let's Encrypt refuses reserved ones "
                             f"({', '.join(_RESERVED_EMAIL_DOMAINS)}, .{', .'.join(_RESERVED_EMAIL_TLDS)})")
        return value

    @model_validator(mode="after")
    def _versions(self) -> "PlatformConfig":
        for addon, (minimum, why) in MIN_CHART_VERSIONS.items():
            version = getattr(self, addon).version
            if version_tuple(version) < version_tuple(minimum):
                raise _FieldError(f"{addon}.version", version, f"allowed: {minimum} or newer ({why})")
        return self

    def installs(self, addon: str) -> bool:
        return self.enabled and bool(getattr(self, addon).install)

    def any_release(self) -> bool:
        return self.enabled and any(
            getattr(self, name).install for name, info in type(self).model_fields.items()
            if info.annotation is AddonConfig
        )


class ColorConfig(_Strict):
    image: str
    replicas: int = Field(default=3, ge=0, le=50)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return check_image(value)


_ISO_TIME_RE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
MAX_HISTORY = 50


class GatesConfig(_Strict):
    """Thresholds `ops promote` judges each canary step by (queries: components/prometheus_rules.py)."""

    maxErrorRatio: float = Field(default=0.01, ge=0, le=1, description="canary 5xx share, absolute")
    maxErrorRatioVsStable: float = Field(
        default=0.005, ge=0, le=1, description="how far the canary's 5xx share may exceed the stable colour's"
    )
    maxP95Latency: str = Field(default="500ms", description="canary p95 request duration")
    minRequests: int = Field(default=100, ge=1, le=10_000_000, description="canary requests per gate window")
    interval: str = Field(default="30s", description="how often gates are evaluated while soaking")
    maxExtensions: int = Field(default=3, ge=0, le=20, description="soak extensions on missing data before failing")
    holdOnPageAlerts: bool = Field(
        default=True,
        description="hold every step while a page-severity alert of our SLO rules fires (then fail closed)",
    )

    @field_validator("maxP95Latency", "interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        return check_duration(value)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        # A zero interval made `ops promote` spin through its action budget without ever waiting.
        if duration_seconds(value) < 1:
            raise ValueError("allowed: at least 1s")
        return value


class GateVerdict(_Strict):
    gate: Literal["requests", "errorRatio", "errorRatioVsStable", "p95Latency", "pageAlerts", "smoke"]
    status: Literal["pass", "fail", "nodata", "skip", "hold"]
    query: str = ""
    value: Optional[float] = None
    threshold: Optional[float] = None
    samples: Optional[float] = None
    reason: str = ""  # why a gate was skipped (e.g. no stable traffic to compare with at weight 100)


class Verdict(_Strict):
    """One decision of `ops promote`, written with the `up` that carries it out (the stack's audit trail)."""

    time: str
    activeColor: Color
    weight: int = Field(ge=0, le=100)
    decision: Literal["start", "advance", "flip", "done", "rollback", "reconcile", "revive"]
    image: str = ""  # the candidate image being released
    stableImage: str = ""  # the image it replaces
    # Where the decision sends traffic (activeColor/weight above are where it stood): an interrupted
    # promote is recognised by config = outputs + one verdict whose target is the config.
    targetColor: Optional[Color] = None
    targetWeight: Optional[int] = Field(default=None, ge=0, le=100)
    reason: str = ""
    extensions: int = Field(default=0, ge=0, le=100)
    gates: list[GateVerdict] = Field(default_factory=list)
    # `done` that retired the previous colour (release.retire): the replicas it had, which a rollback or the next
    # release revives it with. `revive`: the replicas it was given back.
    replicas: Optional[int] = Field(default=None, ge=1, le=50)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _ISO_TIME_RE.match(value):
            raise ValueError("allowed: an ISO 8601 UTC time such as 2025-01-31T12:00:00Z")
        return value


class ReleaseConfig(_Strict):
    activeColor: Color = "blue"
    canaryWeight: int = Field(default=0, ge=0, le=100)
    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100], min_length=1)
    blue: ColorConfig
    green: ColorConfig
    soak: str = Field(default="5m", description="how long each canary step is watched before the next")
    stabilization: str = Field(default="15m", description="how long the new colour is watched after the flip")
    retire: Literal["afterStabilization", "manual"] = Field(
        default="afterStabilization",
        description="scale the previous colour to 0 with the final up of a release (the plan's), or leave it to you",
    )
    gates: GatesConfig = Field(default_factory=GatesConfig)
    requireDigest: bool = Field(
        default=False,
        description="both colours' images must carry an @sha256 digest (what a scan result is tied to); the policy "
                    "pack's images-digest-required enforces it on the API Deployments",
    )
    history: list[Verdict] = Field(default_factory=list, max_length=MAX_HISTORY)

    @field_validator("soak", "stabilization")
    @classmethod
    def _release_duration(cls, value: str) -> str:
        return check_duration(value)

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[int]) -> list[int]:
        if any(not 1 <= step <= 100 for step in steps):
            raise ValueError("allowed: weights between 1 and 100")
        if steps != sorted(set(steps)):
            raise ValueError("allowed: strictly increasing weights")
        if steps[-1] != 100:
            raise ValueError("allowed: a list ending at 100 (the last step sends all traffic before the flip)")
        return steps

    @model_validator(mode="after")
    def _timings_cover_an_interval(self) -> "ReleaseConfig":
        # Gates are evaluated every gates.interval: a soak or stabilization shorter than that is never watched.
        for key in ("soak", "stabilization"):
            value = getattr(self, key)
            if duration_seconds(value) < duration_seconds(self.gates.interval):
                raise _FieldError(key, value, f"allowed: at least release.gates.interval ({self.gates.interval})")
        return self

    @model_validator(mode="after")
    def _digests_when_required(self) -> "ReleaseConfig":
        if self.requireDigest:
            for color in COLORS:
                image = self.color(color).image
                if not has_digest(image):
                    raise _FieldError(f"{color}.image", image,
                                      "allowed with requireDigest: true: an image pinned by digest, "
                                      "name:tag@sha256:<64 hex> or name@sha256:<64 hex>")
        return self

    @model_validator(mode="after")
    def _weight_is_a_step(self) -> "ReleaseConfig":
        if self.canaryWeight != 0 and self.canaryWeight not in self.steps:
            raise _FieldError(
                "canaryWeight", self.canaryWeight, f"allowed: 0 or one of release.steps {self.steps}"
            )
        return self

    @property
    def canary_color(self) -> Color:
        return "green" if self.activeColor == "blue" else "blue"

    def color(self, name: str) -> ColorConfig:
        return self.blue if name == "blue" else self.green


class TrafficConfig(_Strict):
    # Which router carries public traffic (the NLB fronts its pods): a name in components/routers/ REGISTRY,
    # checked by the preflight against that one list.
    edge: str = "nginx"
    rateLimitRps: int = Field(default=100, ge=1, le=100000)
    rateLimitConnections: int = Field(default=10, ge=1, le=100000)
    retries: int = Field(default=3, ge=0, le=10)
    perTryTimeout: str = "10s"
    faultDelayPercent: float = Field(default=0.1, ge=0, le=100)
    faultDelay: str = "5s"

    @field_validator("perTryTimeout", "faultDelay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str:
        return check_duration(str(value))


_CRON_FIELD = r"(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?"
_CRON_RE = re.compile(rf"^{_CRON_FIELD}(,{_CRON_FIELD})*( {_CRON_FIELD}(,{_CRON_FIELD})*){{4}}$")


def check_cron(value: str) -> str:
    if not _CRON_RE.match(value):
        raise ValueError("allowed: a five-field cron schedule (minute hour day month weekday) such as 0 3 * * 0")
    return value


# S3's bucket naming rules (general purpose buckets): 3-63 characters, lower-case letters, digits, hyphens and
# dots, a letter or digit at both ends, no two dots in a row, not an IPv4 address, no reserved prefix or suffix.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_BUCKET_ALLOWED = ("an S3 bucket name: 3-63 characters, lower-case letters, digits, hyphens and dots, starting and "
                   "ending with a letter or digit, e.g. doc-rag-pg-backups")
# Commercial, GovCloud and China partitions: <area>[-gov]-<direction>-<n>, e.g. eu-west-1, us-gov-west-1.
_REGION_RE = re.compile(r"^(af|ap|ca|cn|eu|eusc|il|me|mx|sa|us)(-gov)?-(central|north|south|east|west|northeast|"
                        r"northwest|southeast|southwest)-[0-9]{1,2}$")
_REGION_ALLOWED = "an AWS region name such as eu-west-1, us-east-1 or ap-southeast-2"
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


def check_bucket_name(value: str) -> str:
    if (not _BUCKET_RE.match(value) or ".." in value or _is_ipv4(value)
            or value.startswith(_BUCKET_RESERVED_PREFIXES) or value.endswith(_BUCKET_RESERVED_SUFFIXES)):
        raise ValueError(f"allowed: {_BUCKET_ALLOWED}; not an IP address, no '..', no reserved prefix "
                         f"{list(_BUCKET_RESERVED_PREFIXES)} or suffix {list(_BUCKET_RESERVED_SUFFIXES)}")
    return value


def check_region(value: str) -> str:
    if not _REGION_RE.match(value):
        raise ValueError(f"allowed: {_REGION_ALLOWED}")
    return value


class BackupConfig(_Strict):
    """pgBackRest to S3, plus AWS Backup snapshots of the EBS volume (docs/operations.md).

    eks mode: the stack owns the bucket, its KMS key and the IRSA role, and with copyRegion a copy in a second
    region. existing mode: the operator owns the bucket (`bucket`, `region`, optionally `roleArn`); the stack
    renders only the in-cluster objects."""

    enabled: Optional[bool] = Field(
        default=None, description="unset: on in eks mode, and in existing mode when `bucket` is set")
    bucket: Optional[str] = Field(default=None, description="existing mode: the S3 bucket (yours) pgBackRest writes to")
    region: Optional[str] = Field(default=None, description="existing mode: the AWS region of `bucket`")
    roleArn: Optional[str] = Field(
        default=None, description="existing mode: IAM role for IRSA, set as the Postgres service account's "
                                  "eks.amazonaws.com/role-arn annotation; unset: no annotation")
    copyRegion: Optional[str] = Field(
        default=None, description="eks mode: replicate the backups to a bucket in this region (S3 replication) "
                                  "and copy the volume snapshots to a vault there; unset: no copy")
    image: str = Field(
        default="doc-rag/postgres-pgbackrest:16-alpine-2.54.2",
        description="postgres.image plus pgBackRest (same major, UID 70); with backups on the Postgres container "
                    "runs it, because archive_command runs pgbackrest inside that container",
    )
    fullSchedule: str = Field(default="0 3 * * 0", description="full backup, cron in UTC")
    differentialSchedule: str = Field(default="0 3 * * 1-6", description="differential backup, cron in UTC")
    retentionFull: int = Field(default=4, ge=1, le=52, description="full backups pgBackRest keeps (and their WAL)")
    deletedRetentionDays: int = Field(
        default=30, ge=1, le=3650,
        description="days a deleted or overwritten object stays recoverable as a noncurrent S3 version",
    )
    snapshotRetentionDays: int = Field(default=14, ge=1, le=365, description="AWS Backup EBS snapshots kept")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return check_image(value)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else check_bucket_name(value)

    @field_validator("region", "copyRegion")
    @classmethod
    def _region(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else check_region(value)

    @field_validator("roleArn")
    @classmethod
    def _role_arn(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _ROLE_ARN_RE.match(value):
            raise ValueError("allowed: an IAM role ARN such as arn:aws:iam::123456789012:role/doc-rag-postgres-backup")
        return value

    @field_validator("fullSchedule", "differentialSchedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_cron(value)


class PostgresConfig(_Strict):
    image: str = "postgres:16-alpine"
    storage: str = "100Gi"
    backup: BackupConfig = Field(default_factory=BackupConfig)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return check_image(value)

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        return check_quantity(value)


_RETENTION_RE = re.compile(r"^[0-9]+(h|d|w|y)$")
_URL_HOST_RE = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_URL_PATH_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*/?$")


def _alertmanager_url_problem(value: str) -> Optional[str]:
    """What is wrong with an Alertmanager URL, or None. Prometheus gets it as scheme, host:port and path prefix."""
    what = "an http:// or https:// URL host[:port][/path], e.g. http://alertmanager.monitoring.svc:9093"
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        return f"{what}; the port is not a number in 1-65535"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return what
    if parts.username is not None or parts.password is not None:
        return f"{what}, without credentials (they would be rendered in clear into the prometheus-config ConfigMap)"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return f"{what}, without a query or fragment"
    if port == 0 or not (_URL_HOST_RE.match(parts.hostname) or _is_ipv4(parts.hostname)):
        return what
    if not _URL_PATH_RE.match(parts.path):
        return f"{what}; the path may hold letters, digits and . _ ~ - between slashes"
    return None


def _is_ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False


class ObservabilityConfig(_Strict):
    """Prometheus, Grafana and the optional Jaeger in doc-rag-monitoring (components/observability.py)."""

    jaeger: bool = Field(default=False, description="deploy Jaeger all-in-one (in-memory traces)")
    retention: str = Field(default="15d", description="Prometheus TSDB retention")
    prometheusStorage: str = Field(default="50Gi", description="Prometheus volume on the SSD StorageClass")
    alertmanagerUrl: Optional[str] = Field(
        default=None,
        description="Alertmanager Prometheus sends alerts to, http(s)://host[:port][/path]; unset: alerts are only "
                    "shown in Prometheus' UI and page nobody",
    )

    @model_validator(mode="after")
    def _alertmanager(self) -> "ObservabilityConfig":
        # A model validator, so a refused URL is shown with any credentials in it masked.
        if self.alertmanagerUrl is not None:
            problem = _alertmanager_url_problem(self.alertmanagerUrl)
            if problem:
                shown = re.sub(r"//.*@", "//[credentials]@", self.alertmanagerUrl)
                raise _FieldError("alertmanagerUrl", shown, f"allowed: {problem}")
        return self

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if not _RETENTION_RE.match(value):
            raise ValueError("allowed: a Prometheus retention such as 15d, 12h, 2w or 1y")
        return value

    @field_validator("prometheusStorage")
    @classmethod
    def _storage(cls, value: str) -> str:
        return check_quantity(value)


class CostAssumptionsConfig(_Strict):
    """Usage the plan's cost estimate cannot read from the program (ops/cost/estimate.py): what traffic and
    logs a month brings. Stated here, with defaults, so every data-dependent charge shows what it assumed."""

    natDataProcessedGb: float = Field(default=100, ge=0, le=10_000_000,
                                      description="GB per month through all NAT gateways together")
    nlbLcuPerHour: float = Field(default=1, ge=0, le=100_000, description="average load balancer capacity units")
    internetEgressGb: float = Field(default=100, ge=0, le=10_000_000,
                                    description="GB per month the API sends to the internet")
    controlPlaneLogGb: float = Field(default=10, ge=0, le=10_000_000,
                                     description="GB per month of EKS control-plane logs ingested")


class DocRagConfig(_Strict):
    """The whole contract but the secret keys (SECRET_KEYS): they stay secret Outputs (see Secrets)."""

    domain: str = "api.docrag.example.com"
    kubernetesVersion: str = "1.34"
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    release: ReleaseConfig
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    postgres: PostgresConfig = Field(default_factory=PostgresConfig)
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    costAssumptions: CostAssumptionsConfig = Field(default_factory=CostAssumptionsConfig)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN_RE.match(value):
            raise ValueError("allowed: a lower-case DNS name with at least two labels, e.g. api.docrag.example.com")
        return value

    @field_validator("kubernetesVersion")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(f"allowed: one of {list(SUPPORTED_KUBERNETES_VERSIONS)}")
        return value

    @model_validator(mode="after")
    def _acme_contact(self) -> "DocRagConfig":
        # Pulumi.yaml gives every stack a `platform` block, so under the CLI and the plan this always applies;
        # only hand-built configs with no platform block at all (unit tests) skip it.
        if "platform" in self.model_fields_set and self.platform.clusterIssuer and self.platform.acmeEmail is None:
            raise _FieldError(
                "platform.acmeEmail", None,
                "required with clusterIssuer: true (Let's Encrypt's contact for expiry notices; "
                "an address on your own domain)",
            )
        return self

    @property
    def backups(self) -> bool:
        """Whether Postgres is backed up: postgres.backup.enabled, or by default in eks mode and in existing mode
        when postgres.backup.bucket names the bucket."""
        backup = self.postgres.backup
        if backup.enabled is not None:
            return backup.enabled
        return self.cluster.mode == "eks" or backup.bucket is not None

    @model_validator(mode="after")
    def _backup_storage(self) -> "DocRagConfig":
        # eks: the stack creates and owns the bucket, key and role. existing: they are the operator's.
        backup = self.postgres.backup
        if self.cluster.mode == "eks":
            for key in ("bucket", "region", "roleArn"):
                if getattr(backup, key) is not None:
                    raise _FieldError(f"postgres.backup.{key}", getattr(backup, key),
                                      "allowed only with cluster.mode existing (an eks stack creates and owns its "
                                      "bucket, KMS key and IAM role)")
            return self
        if backup.copyRegion is not None:
            raise _FieldError("postgres.backup.copyRegion", backup.copyRegion,
                              "allowed only with cluster.mode eks (in existing mode the bucket is yours: set up its "
                              "replication where you manage it)")
        if self.backups:
            if backup.bucket is None:
                raise _FieldError("postgres.backup.bucket", None,
                                  f"required with backups on in cluster.mode existing; allowed: {_BUCKET_ALLOWED} "
                                  "(a bucket you own), or postgres.backup.enabled: false")
            if backup.region is None:
                raise _FieldError("postgres.backup.region", None,
                                  f"required with postgres.backup.bucket; allowed: {_REGION_ALLOWED} (the bucket's "
                                  "region)")
        return self

    @model_validator(mode="after")
    def _releases_can_render(self) -> "DocRagConfig":
        # Helm releases cannot be rendered to a directory (pulumi/pulumi-kubernetes#1716).
        if self.cluster.renderYamlTo and self.platform.any_release():
            raise _FieldError(
                "platform.enabled", self.platform.enabled,
                "allowed: false with cluster.renderYamlTo (Helm releases cannot render to a directory)",
            )
        return self


class Secrets:
    """Secret config values (one per SECRET_KEYS entry), only ever held as secret Outputs."""

    def __init__(self, postgres_password: pulumi.Output[str], grafana_admin_password: pulumi.Output[str]):
        self.postgres_password = postgres_password
        self.grafana_admin_password = grafana_admin_password


class _FieldError(ValueError):
    """Raised by a model validator to blame one field rather than the whole object."""

    def __init__(self, field: str, value: Any, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(allowed)


def _describe(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        context_error = (item.get("ctx") or {}).get("error")
        if isinstance(context_error, _FieldError):
            loc.append(context_error.field)
            value, message = context_error.value, context_error.allowed
        else:
            value = item.get("input")
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key (check the spelling against the config reference in README.md)"
            elif item["type"] == "missing":
                message = "required key is missing"
                value = None
        path = ".".join(loc)
        shown = "" if value is None or isinstance(value, dict) else f" = {_describe(value)}"
        problems.append(f"{path}{shown}: {message}")
    return problems


def parse_config(raw: dict[str, Any]) -> DocRagConfig:
    """Validate a dict shaped like the stack config (without namespace prefixes)."""
    try:
        return DocRagConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_problems(error)) from None


def _set_keys() -> set[str]:
    """Names of every `doc-rag:*` key the stack sets, however the engine passed them in."""
    from pulumi.runtime import config as runtime_config

    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {name.split(":", 1)[1] for name in names if name.startswith(f"{PROJECT}:")}


def validate_settings(settings: Mapping[str, str]) -> DocRagConfig:
    """The engine's config strings (short key -> string; structured values as JSON) -> the validated model.

    The one path from stack config to model: `pulumi up` (load_config) and the offline plan both use it,
    so a value one accepts the other accepts too."""
    problems = [
        f"{key}: unknown key; allowed: {sorted(KNOWN_KEYS)}" for key in sorted(set(settings) - set(KNOWN_KEYS))
    ]
    raw: dict[str, Any] = {key: settings[key] for key in STRING_KEYS if key in settings}
    for key in OBJECT_KEYS:
        if key not in settings:
            continue
        try:
            value = json.loads(settings[key])
        except ValueError:
            problems.append(f"{key}: not a structured value; allowed: a YAML mapping in Pulumi.<stack>.yaml")
            continue
        if value is not None:
            raw[key] = value
    if "release" not in raw:
        problems.append("release: required key is missing (activeColor, canaryWeight, blue.image, green.image)")
    if problems:
        raise ConfigError(problems)
    return parse_config(raw)


def _plain_secret_keys(set_keys: set[str]) -> list[str]:
    """Secret keys the stack sets whose value the engine does not hold as a secret: the engine passes the
    encrypted keys (PULUMI_CONFIG_SECRET_KEYS; `set_all_config` under the SDK monitor) and a plain value
    (`pulumi config set` without `--secret`) is not among them."""
    from pulumi.runtime import config as runtime_config

    return [key for key in SECRET_KEYS
            if key in set_keys and not runtime_config.is_config_secret(f"{PROJECT}:{key}")]


def copy_region_problems(model: DocRagConfig, stack_region: Optional[str]) -> list[str]:
    """postgres.backup.copyRegion against the stack's own region (aws:region, outside the doc-rag model): a copy
    in the same region survives nothing the primary does not."""
    copy_region = model.postgres.backup.copyRegion
    if copy_region is not None and copy_region == stack_region:
        return [f"postgres.backup.copyRegion = {_describe(copy_region)}: allowed: a region other than the stack's "
                f"own (aws:region {stack_region}); a copy in the same region survives no regional outage"]
    return []


def load_config() -> tuple[DocRagConfig, Secrets]:
    """Read and validate `doc-rag:*` from the running stack; raise ConfigError before any resource."""
    config = pulumi.Config(PROJECT)
    stack = pulumi.get_stack()
    set_keys = _set_keys()
    plain = _plain_secret_keys(set_keys)
    if plain:  # before anything else reads config: the value is never used, nor shown
        raise ConfigError([secret_keys.plain_in_stack_file(key, stack) for key in plain])
    settings = {key: config.get(key) for key in set_keys - set(SECRET_KEYS)}
    read = {key: config.get_secret(key) for key in SECRET_KEYS}
    secrets = {key: value for key, value in read.items() if value is not None}
    missing = [secret_keys.not_set(key, stack) for key in SECRET_KEYS if key not in secrets]
    try:
        model = validate_settings({key: value for key, value in settings.items() if value is not None})
    except ConfigError as error:
        raise ConfigError(error.problems + missing) from None
    problems = copy_region_problems(model, pulumi.Config("aws").get("region")) + missing
    if problems:
        raise ConfigError(problems)
    return model, Secrets(secrets["postgresPassword"], secrets["grafanaAdminPassword"])
