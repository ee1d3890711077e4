"""Gateway API v1: a `Gateway` of class `istio` in the edge namespace (Istio deploys its proxy pods, behind a
ClusterIP Service: the public NLB is ours), an `HTTPRoute` on its HTTPS listener with weighted `backendRefs`
to the two colour Services, and an `HTTPRoute` on its HTTP listener that redirects to HTTPS.

The weight sits on the colour Services themselves (no subsets), as the NGINX canary does, so the Services
whose colour receives traffic are updated before the route and the others after it. Rendered only when
`traffic.edge` is `gateway`; its CRDs (pinned) come from the platform (need `gateway_api`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from components.api import HTTP_PORT
from components.config import DocRagConfig
from components.meta import NS_INGRESS, NS_PROD
from components.platform import CLUSTER_ISSUER  # no copies
from components.routers.base import (
    ACTIVE_SERVICE,
    CANARY_SERVICE,
    EdgeTarget,
    OfKind,
    Routed,
    RouterObject,
    Site,
    dig,
    items,
    metadata,
    name_of,
    namespace_of,
    split_weight_allowed,
    to_int,
)

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_CLASS = "istio"  # Istio's Gateway API implementation
PUBLIC_GATEWAY = "doc-rag-public"
ROUTE = "doc-rag-route"
REDIRECT_ROUTE = "doc-rag-https-redirect"
CERTIFICATE = "doc-rag-public-tls"
TLS_SECRET = "doc-rag-public-tls"  # its own Secret: the Istio gateway's Certificate owns doc-rag-tls there
HTTPS_LISTENER, HTTP_LISTENER = "https", "http"
# Istio labels the pods it deploys for a Gateway with the Gateway's name.
GATEWAY_PODS = {"gateway.networking.k8s.io/gateway-name": PUBLIC_GATEWAY}
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


def gateway_manifest(config: DocRagConfig) -> dict[str, Any]:
    # Routes only from doc-rag-prod, where the colour Services are.
    allowed = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {NAMESPACE_LABEL: NS_PROD}}}}
    annotations = {"networking.istio.io/service-type": "ClusterIP"}  # the NLB Service is the one public entry
    return {
        "apiVersion": GATEWAY_API, "kind": "Gateway",
        "metadata": metadata(PUBLIC_GATEWAY, namespace=NS_INGRESS, annotations=annotations),
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "listeners": [
                {"name": HTTPS_LISTENER, "protocol": "HTTPS", "port": 443, "hostname": config.domain,
                 "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": TLS_SECRET}]},
                 "allowedRoutes": allowed},
                {"name": HTTP_LISTENER, "protocol": "HTTP", "port": 80, "hostname": config.domain,
                 "allowedRoutes": allowed},
            ],
        },
    }


def _parent(listener: str) -> list[dict[str, Any]]:
    return [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": PUBLIC_GATEWAY,
             "namespace": NS_INGRESS, "sectionName": listener}]


def route_manifest(config: DocRagConfig) -> dict[str, Any]:
    weight = config.release.canaryWeight
    return {
        "apiVersion": GATEWAY_API, "kind": "HTTPRoute",
        "metadata": metadata(ROUTE),
        "spec": {
            "parentRefs": _parent(HTTPS_LISTENER),
            "hostnames": [config.domain],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [
                    {"kind": "Service", "name": ACTIVE_SERVICE, "port": HTTP_PORT, "weight": 100 - weight},
                    {"kind": "Service", "name": CANARY_SERVICE, "port": HTTP_PORT, "weight": weight},
                ],
                "timeouts": {"backendRequest": config.traffic.perTryTimeout},
            }],
        },
    }


def redirect_manifest(config: DocRagConfig) -> dict[str, Any]:
    return {
        "apiVersion": GATEWAY_API, "kind": "HTTPRoute",
        "metadata": metadata(REDIRECT_ROUTE),
        "spec": {
            "parentRefs": _parent(HTTP_LISTENER),
            "hostnames": [config.domain],
            "rules": [{"filters": [{"type": "RequestRedirect",
                                    "requestRedirect": {"scheme": "https", "statusCode": 301}}]}],
        },
    }


def certificate_manifest(config: DocRagConfig) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": metadata(CERTIFICATE, namespace=NS_INGRESS),
        "spec": {"secretName": TLS_SECRET, "dnsNames": [config.domain],
                 "issuerRef": {"kind": "ClusterIssuer", "name": CLUSTER_ISSUER, "group": "cert-manager.io"}},
    }


def check_backends(route: dict[str, Any]) -> list[str]:
    """Each rule's backendRefs name only the colour Services and their weights sum to 100."""
    problems = []
    for index, rule in enumerate(route["spec"].get("rules", [])):
        refs = rule.get("backendRefs", [])
        unknown = sorted({ref.get("name") for ref in refs} - {ACTIVE_SERVICE, CANARY_SERVICE})
        if unknown:
            problems.append(f"HTTPRoute {route['metadata']['name']} rules[{index}] backendRefs {unknown}: allowed: "
                            f"{ACTIVE_SERVICE}, {CANARY_SERVICE}")
        total = sum(ref.get("weight", 1) for ref in refs)
        if len(refs) > 1 and total != 100:
            problems.append(f"HTTPRoute {route['metadata']['name']} rules[{index}] weights sum to {total}: "
                            "allowed: exactly 100")
    return problems


class GatewayRouter:
    name: str = "gateway"
    object_names: tuple[str, ...] = (ROUTE, REDIRECT_ROUTE, PUBLIC_GATEWAY)

    def renders(self, edge: str) -> bool:
        return edge == self.name

    def edge_target(self, site: Site) -> EdgeTarget:
        # Istio's proxy for a Gateway listens on the listener ports themselves.
        return EdgeTarget(NS_INGRESS, dict(GATEWAY_PODS), 443, 80, ("gateway_api", "istio"))

    def objects(self, config: DocRagConfig, site: Site) -> list[RouterObject]:
        return [
            RouterObject(certificate_manifest(config), needs=("cert_manager",)),
            RouterObject(gateway_manifest(config), after=(CERTIFICATE,), needs=("gateway_api", "istio")),
            RouterObject(route_manifest(config), after=(PUBLIC_GATEWAY,), needs=("gateway_api",),
                         carries_weight=True, routes=True),
            RouterObject(redirect_manifest(config), after=(PUBLIC_GATEWAY,), needs=("gateway_api",)),
        ]

    def preflight(self, config: DocRagConfig) -> list[str]:
        return check_backends(route_manifest(config))

    def rendered_state(self, of_kind: OfKind) -> dict[str, Any]:
        for route in of_kind("HTTPRoute"):
            if name_of(route) == ROUTE:
                return {"gatewayWeights": {str(ref.get("name")): to_int(ref.get("weight"))
                                           for rule in items(dig(route, "spec", "rules"))
                                           for ref in items(dig(rule, "backendRefs"))}}
        return {}

    def routes(self, of_kind: OfKind) -> Iterator[Routed]:
        for route in of_kind("HTTPRoute"):
            for rule in items(dig(route, "spec", "rules")):
                refs = [ref for ref in items(dig(rule, "backendRefs")) if isinstance(ref, Mapping)]
                for ref in refs:
                    weight = to_int(ref.get("weight"))
                    weight = 1 if weight is None else weight  # the Gateway API's default weight
                    if weight <= 0 or ref.get("kind", "Service") != "Service":
                        continue
                    namespace = str(ref.get("namespace") or namespace_of(route))
                    yield Routed(f"HTTPRoute {name_of(route)} -> Service {ref.get('name')} weight {weight}",
                                 namespace, str(ref.get("name")))

    def weight_violations(self, of_kind: OfKind, steps: list[int]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for route in of_kind("HTTPRoute"):
            for rule in items(dig(route, "spec", "rules")):
                refs = [ref for ref in items(dig(rule, "backendRefs")) if isinstance(ref, Mapping)]
                if len(refs) < 2:
                    continue
                for ref in refs:
                    weight = to_int(ref.get("weight"))
                    if weight is not None and not split_weight_allowed(weight, steps):
                        yield (f"HTTPRoute {name_of(route)} sends weight {weight} to {ref.get('name')}; split "
                               f"weights must be 0, 100 or a step {steps} (or 100 minus one)", route)

    def route_violations(self, of_kind: OfKind) -> Iterator[tuple[str, Mapping[str, Any]]]:
        return iter(())

    def rate_limits(self, of_kind: OfKind) -> Iterator[str]:
        return iter(())  # no local rate limit rendered yet (docs/traffic.md "The public edge")
