"""The router seam: what every router offers the traffic layer and the readers of its objects.

A router is the set of objects that sends a share of the requests to a colour (NGINX's two Ingresses,
Istio's VirtualService and its DestinationRule, ...). Each one is one module in this package behind
`Router`, listed once in components/routers/__init__.py; the traffic layer, the preflight, the policy
pack, `ops plan` and the prometheus rules ask the registry and never name a router's object themselves.

The builders are pure (plain dicts shaped like the rendered objects), so the preflight checks exactly
what gets registered, before anything is. The readers take the objects as manifests (rendered, or the
props the policy pack sees, which may be Mapping proxies) and tolerate any shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Optional, Protocol

from components.api import HTTP_PORT, METRICS_PORT, SCRAPE_ANNOTATIONS
from components.config import COLORS, DocRagConfig, ReleaseConfig
from components.meta import NS_PROD, labels

# The two colour Services every router reaches the colours through (components/traffic.py builds them).
ACTIVE_SERVICE = "api-service"
CANARY_SERVICE = "api-service-canary"
TLS_SECRET = "doc-rag-tls"

# The stack owns every routing field: an `up` takes back a weight or selector edited by hand (server-side
# apply would stop on the field-manager conflict instead), after `ops promote` refused to start while the
# live objects differed from the stack (ops/live_drift.py).
PATCH_FORCE = {"pulumi.com/patchForce": "true"}

# What a router object waits for from outside the traffic layer: the live colours' Deployments, and the
# platform's releases (components/platform.py: ingress_ready, cert_manager_ready, istio_ready,
# gateway_api_ready). The platform installs ingress-nginx and the Gateway API CRDs only when needed.
Need = Literal["serving", "ingress", "cert_manager", "istio", "gateway_api"]


@dataclass(frozen=True)
class ReleaseSplit:
    """The split of requests between the colours that the release config asks for (what the routers render;
    ops/plan.py's traffic_as_rendered reads it back from the rendered objects)."""

    active: str
    canary: str
    weight: int  # share of traffic to the canary colour

    @property
    def weights(self) -> dict[str, int]:
        """Per colour, always in COLORS order and summing to 100."""
        return {color: self.weight if color == self.canary else 100 - self.weight for color in COLORS}

    @property
    def receiving(self) -> list[str]:
        return [color for color, share in self.weights.items() if share > 0]


def release_split(release: ReleaseConfig) -> ReleaseSplit:
    return ReleaseSplit(release.activeColor, release.canary_color, release.canaryWeight)


@dataclass(frozen=True)
class Site:
    """Where the platform runs the edge proxies: the Istio ingress gateway's and ingress-nginx's controller's
    namespace and pod labels (components/traffic.py platform_site)."""

    gateway_namespace: str
    gateway_selector: dict[str, str]
    ingress_namespace: str = ""
    ingress_selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeTarget:
    """The pods the public NLB sends to when a router carries public traffic (`traffic.edge`)."""

    namespace: str
    selector: dict[str, str]
    https_port: int | str  # the pods' port (number or name) behind the NLB's 443 and 80
    http_port: int | str
    needs: tuple[Need, ...]  # the platform releases running those pods


@dataclass(frozen=True)
class RouterObject:
    """One object of a router and what it is registered after."""

    manifest: dict[str, Any]
    # Other objects of the traffic layer (the colour Services or this router's objects) by metadata.name.
    after: tuple[str, ...] = ()
    needs: tuple[Need, ...] = ()
    # Carries the canary weight over the colour Services: the Services whose colour receives traffic are
    # updated before it, the others after it (components/traffic.py service_update_order).
    carries_weight: bool = False
    # Can send a request to a colour: a retiring colour scales to 0 only after every such object left it.
    routes: bool = False

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])


@dataclass(frozen=True)
class Routed:
    """One way a router sends requests to a Service (or to a subset of its pods), read back from its objects."""

    description: str  # e.g. "Ingress api-ingress -> Service api-service-canary"
    namespace: str  # the Service's
    service: str
    # When the route names a subset: the labels that subset adds to the Service's selector ({} when the
    # subset is not defined, so it reaches no colour).
    subset_labels: Optional[Mapping[str, Any]] = None


# Lists the objects of one kind (manifests or pack props) in the order they were registered.
OfKind = Callable[[str], Sequence[Mapping[str, Any]]]


class Router(Protocol):
    name: str  # the traffic.edge value that selects it
    # Its objects' names in the prod namespace (the edge SLO's metrics are labelled with them).
    object_names: tuple[str, ...]

    def renders(self, edge: str) -> bool:
        """Whether its objects exist when `traffic.edge` is `edge`."""
        ...

    def edge_target(self, site: Site) -> EdgeTarget:
        """The pods the NLB fronts when this router is the edge."""
        ...

    def objects(self, config: DocRagConfig, site: Site) -> list[RouterObject]:
        """Its objects for the config's traffic state (colours, weight, host, TLS, timeouts), in order."""
        ...

    def preflight(self, config: DocRagConfig) -> list[str]:
        """What is wrong with its objects for this config, in the house error shape (key: allowed ...)."""
        ...

    def rendered_state(self, of_kind: OfKind) -> dict[str, Any]:
        """The per-colour weights as its objects would apply them (`ops plan`'s traffic table)."""
        ...

    def routes(self, of_kind: OfKind) -> Iterator[Routed]:
        """Every route of its objects to a Service (or a subset of one) with a share above 0."""
        ...

    def weight_violations(self, of_kind: OfKind, steps: list[int]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(message, object) for every weight that is not 0 or an allowed step (sorted `steps`)."""
        ...

    def route_violations(self, of_kind: OfKind) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(message, object) for every object its controller would ignore or misapply."""
        ...

    def rate_limits(self, of_kind: OfKind) -> Iterator[str]:
        """Every per-client rate limit its objects set, described (none: its edge has no such limit)."""
        ...


def api_service_manifest(name: str, selector: dict[str, str], scrape: bool = True) -> dict[str, Any]:
    # Prometheus' `doc-rag-api` job discovers endpoints through these Service annotations (one copy, api.py).
    annotations = dict(SCRAPE_ANNOTATIONS) if scrape else None
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(name, annotations=annotations, component="api"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def metadata(name: str, namespace: str = NS_PROD, annotations: Optional[dict[str, Any]] = None,
             component: str = "traffic") -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(component),
            "annotations": {**(annotations or {}), **PATCH_FORCE}}


# Tolerant readers: objects may come from anywhere (the policy pack judges any stack), so a missing or
# misshapen field reads as absent instead of raising.

def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else []


def split_weight_allowed(weight: int, steps: list[int]) -> bool:
    """A two-way split is 0, 100, a step, or 100 minus a step (the stable colour's share of a canary step)."""
    allowed = {0, *steps}
    return weight in allowed or 100 - weight in allowed


# What int() reads back: one optional minus and ASCII digits ("--5" and "²" are digits to isdigit(), not to int()).
_INTEGER = re.compile(r"-?[0-9]+")


def to_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def name_of(obj: Mapping[str, Any]) -> str:
    return str(dig(obj, "metadata", "name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(dig(obj, "metadata", "namespace") or "default")


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    found = dig(obj, "metadata", "annotations")
    return found if isinstance(found, Mapping) else {}
