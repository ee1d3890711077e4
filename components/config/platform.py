"""`platform`: the cluster add-ons as pinned Helm releases, and the ClusterIssuer's ACME contact.

MIN_CHART_VERSIONS is the oldest chart each add-on may be pinned to, and why.
"""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator, model_validator

from components.config.errors import FieldError
from components.config.validators import StrictModel

# Exact chart versions only: a range, an empty string or `latest` would let a re-run install something else.
# ops/checks/helm_charts.py checks every registered release against this same pattern.
CHART_VERSION_PATTERN = r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$"

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


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Domains Let's Encrypt refuses as an ACME contact (RFC 2606 / RFC 6761 reserved names).
_RESERVED_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_EMAIL_TLDS = ("example", "test", "invalid", "localhost", "local")


class AddonConfig(StrictModel):
    """One Helm-installed platform add-on: whether this stack installs it, and the exact chart version."""

    install: bool = True
    version: str = Field(pattern=CHART_VERSION_PATTERN)


class PlatformConfig(StrictModel):
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
                raise FieldError(f"{addon}.version", version, f"allowed: {minimum} or newer ({why})")
        return self

    def installs(self, addon: str) -> bool:
        return self.enabled and bool(getattr(self, addon).install)

    def any_release(self) -> bool:
        return self.enabled and any(
            getattr(self, name).install for name, info in type(self).model_fields.items()
            if info.annotation is AddonConfig
        )
