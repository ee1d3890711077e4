"""`observability`: Prometheus retention and volume, where alerts go, and the optional Jaeger."""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from components.config.errors import FieldError
from components.config.validators import DNS_LABEL, StrictModel, check_quantity, is_ipv4

_RETENTION_RE = re.compile(r"^[0-9]+(h|d|w|y)$")
_URL_HOST_RE = re.compile(rf"^{DNS_LABEL}(\.{DNS_LABEL})*$")
_URL_PATH_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*/?$")


def alertmanager_url_problem(value: str) -> Optional[str]:
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
    if port == 0 or not (_URL_HOST_RE.match(parts.hostname) or is_ipv4(parts.hostname)):
        return what
    if not _URL_PATH_RE.match(parts.path):
        return f"{what}; the path may hold letters, digits and . _ ~ - between slashes"
    return None


class ObservabilityConfig(StrictModel):
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
            problem = alertmanager_url_problem(self.alertmanagerUrl)
            if problem:
                shown = re.sub(r"//.*@", "//[credentials]@", self.alertmanagerUrl)
                raise FieldError("alertmanagerUrl", shown, f"allowed: {problem}")
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
