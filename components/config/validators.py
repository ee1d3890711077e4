"""The checks the config sections share: the strict base model, and the value formats (image, quantity,
duration, IPv4 network, DNS name, cron schedule, S3 bucket, AWS region).

Each check_* returns the value it accepts and raises ValueError with what is allowed, so a pydantic
field validator can return its result.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are refused so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"^(?=.{{1,253}}$){DNS_LABEL}(\.{DNS_LABEL})+$")


def is_ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False


# registry/repo[:tag][@sha256:digest]; a tag or a digest is required, `latest` is refused.
_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


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


_QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def check_quantity(value: str) -> str:
    if not _QUANTITY_RE.match(value):
        raise ValueError("allowed: a Kubernetes quantity such as 100Gi or 512Mi")
    return value


_DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")


def check_duration(value: str) -> str:
    if not _DURATION_RE.match(value):
        raise ValueError("allowed: a duration such as 10s, 500ms, 1m30s")
    return value


def duration_seconds(value: str) -> float:
    """`1m30s` → 90.0; the value matched check_duration."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ms|s|m|h)", value))


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
BUCKET_ALLOWED = ("an S3 bucket name: 3-63 characters, lower-case letters, digits, hyphens and dots, starting and "
                  "ending with a letter or digit, e.g. doc-rag-pg-backups")


def check_bucket_name(value: str) -> str:
    if (not _BUCKET_RE.match(value) or ".." in value or is_ipv4(value)
            or value.startswith(_BUCKET_RESERVED_PREFIXES) or value.endswith(_BUCKET_RESERVED_SUFFIXES)):
        raise ValueError(f"allowed: {BUCKET_ALLOWED}; not an IP address, no '..', no reserved prefix "
                         f"{list(_BUCKET_RESERVED_PREFIXES)} or suffix {list(_BUCKET_RESERVED_SUFFIXES)}")
    return value


# Commercial, GovCloud and China partitions: <area>[-gov]-<direction>-<n>, e.g. eu-west-1, us-gov-west-1.
_REGION_RE = re.compile(r"^(af|ap|ca|cn|eu|eusc|il|me|mx|sa|us)(-gov)?-(central|north|south|east|west|northeast|"
                        r"northwest|southeast|southwest)-[0-9]{1,2}$")
REGION_ALLOWED = "an AWS region name such as eu-west-1, us-east-1 or ap-southeast-2"


def check_region(value: str) -> str:
    if not _REGION_RE.match(value):
        raise ValueError(f"allowed: {REGION_ALLOWED}")
    return value
