"""Istio: Gateway `doc-rag-gateway`, DestinationRule subsets blue/green by `version`, VirtualService
`doc-rag-vs` with weights listed in fixed colour order (blue, green): at weight 100 and after the flip the
Istio objects are identical, so a flip only moves Service selectors and the other routers' weights.

Carries no public traffic while the edge is NGINX: the Istio ingress gateway has a ClusterIP Service, so the
VirtualService's weights, retries and fault delay apply only to in-cluster clients of the gateway
(docs/traffic.md "Istio: in-cluster gateway only")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator, Optional

from components.api import HTTP_PORT, pod_selector
from components.config import COLORS, DocRagConfig
from components.platform import CLUSTER_ISSUER  # no copies
from components.routers.base import (
    TLS_SECRET,
    EdgeTarget,
    OfKind,
    Routed,
    RouterObject,
    Site,
    api_service_manifest,
    dig,
    items,
    metadata,
    name_of,
    namespace_of,
    release_split,
    split_weight_allowed,
    to_int,
)

# Istio subsets filter the endpoints of ONE host, so that host must select both colours; api-service
# selects only the active colour and would leave the canary subset without endpoints.
MESH_SERVICE = "api-service-mesh"
GATEWAY = "doc-rag-gateway"
DESTINATION_RULE = "doc-rag-api"
VIRTUAL_SERVICE = "doc-rag-vs"
GATEWAY_CERTIFICATE = "doc-rag-gateway-tls"
MESH_PREFIX = "/api/"  # the VirtualService's match
# networking.istio.io/v1: GA and served since Istio 1.22 (config requires at least 1.30, platform.istio.version);
# v1beta1 is the same schema kept for compatibility, so new objects use the stable version.
ISTIO_API = "networking.istio.io/v1"
CERT_MANAGER_API = "cert-manager.io/v1"


def mesh_service_manifest() -> dict[str, Any]:
    # Both colours; not scraped: its endpoints are the same pods as the two colour Services'.
    both = {key: value for key, value in pod_selector(COLORS[0]).items() if key != "version"}
    return api_service_manifest(MESH_SERVICE, both, scrape=False)


def gateway_manifest(config: DocRagConfig, gateway_selector: dict[str, str]) -> dict[str, Any]:
    servers: list[dict[str, Any]] = [{
        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
        "tls": {"mode": "SIMPLE", "credentialName": TLS_SECRET},
        "hosts": [config.domain],
    }]
    if config.traffic.edge == "istio":
        # As the edge it also takes the NLB's port 80, and answers it with a redirect to HTTPS only.
        servers.append({"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "tls": {"httpsRedirect": True}, "hosts": [config.domain]})
    return {
        "apiVersion": ISTIO_API, "kind": "Gateway",
        "metadata": metadata(GATEWAY),
        "spec": {"selector": gateway_selector, "servers": servers},
    }


def destination_rule_manifest() -> dict[str, Any]:
    return {
        "apiVersion": ISTIO_API, "kind": "DestinationRule",
        "metadata": metadata(DESTINATION_RULE),
        "spec": {
            "host": MESH_SERVICE,
            "subsets": [{"name": color, "labels": {"version": color}} for color in COLORS],
        },
    }


def virtual_service_manifest(config: DocRagConfig) -> dict[str, Any]:
    # Bound to the gateway only (not `mesh`): retries and fault delay act on the gateway's clients: in-cluster
    # ones behind an NGINX edge, public requests when Istio is the edge (traffic.edge).
    traffic = config.traffic
    route: dict[str, Any] = {
        "match": [{"uri": {"prefix": MESH_PREFIX}}],
        "route": [
            {"destination": {"host": MESH_SERVICE, "subset": color, "port": {"number": HTTP_PORT}}, "weight": share}
            for color, share in release_split(config.release).weights.items()
        ],
        "retries": {"attempts": traffic.retries, "perTryTimeout": traffic.perTryTimeout},
    }
    if traffic.faultDelayPercent > 0:
        route["fault"] = {"delay": {"percentage": {"value": traffic.faultDelayPercent},
                                    "fixedDelay": traffic.faultDelay}}
    return {
        "apiVersion": ISTIO_API, "kind": "VirtualService",
        "metadata": metadata(VIRTUAL_SERVICE),
        "spec": {"hosts": [config.domain], "gateways": [GATEWAY], "http": [route]},
    }


def gateway_certificate_manifest(config: DocRagConfig, namespace: str) -> dict[str, Any]:
    """The Istio gateway reads credentialName from its own namespace; cert-manager issues doc-rag-tls
    there too (the Ingress' copy lives in doc-rag-prod)."""
    return {
        "apiVersion": CERT_MANAGER_API, "kind": "Certificate",
        "metadata": metadata(GATEWAY_CERTIFICATE, namespace=namespace),
        "spec": {
            "secretName": TLS_SECRET,
            "dnsNames": [config.domain],
            "issuerRef": {"kind": "ClusterIssuer", "name": CLUSTER_ISSUER, "group": "cert-manager.io"},
        },
    }


def check_subsets(destination_rule: dict[str, Any], virtual_service: dict[str, Any]) -> list[str]:
    """Every (host, subset) a route names is defined, and each route's weights sum to 100."""
    host = destination_rule["spec"]["host"]
    defined = {subset["name"] for subset in destination_rule["spec"].get("subsets", [])}
    problems = []
    for index, http in enumerate(virtual_service["spec"].get("http", [])):
        for destination in (entry["destination"] for entry in http.get("route", [])):
            subset = destination.get("subset")
            if subset is not None and (destination["host"] != host or subset not in defined):
                allowed = sorted(f"{host}/{name}" for name in defined)
                problems.append(
                    f"VirtualService http[{index}] subset {destination['host']}/{subset}: not defined; allowed: "
                    f"{allowed} (DestinationRule {destination_rule['metadata']['name']})"
                )
        total = sum(entry.get("weight", 0) for entry in http.get("route", []))
        if len(http.get("route", [])) > 1 and total != 100:
            problems.append(f"VirtualService http[{index}] weights sum to {total}: allowed: exactly 100")
    return problems


def _subset_labels(rules: list[Mapping[str, Any]], host: str, subset: str) -> Mapping[str, Any]:
    for rule in rules:
        if str(dig(rule, "spec", "host") or "").partition(".")[0] != host:
            continue
        for entry in items(dig(rule, "spec", "subsets")):
            if isinstance(entry, Mapping) and entry.get("name") == subset:
                found = dig(entry, "labels")
                return found if isinstance(found, Mapping) else {}
    return {}


class IstioRouter:
    name: str = "istio"
    object_names: tuple[str, ...] = (VIRTUAL_SERVICE, DESTINATION_RULE, GATEWAY)

    def renders(self, edge: str) -> bool:
        return True  # always rendered: in-cluster behind NGINX, public as the edge (README, deviation 16)

    def edge_target(self, site: Site) -> EdgeTarget:
        # The gateway chart's pods bind the Gateway's server ports themselves (80 and 443).
        return EdgeTarget(site.gateway_namespace, site.gateway_selector, 443, 80, ("istio",))

    def objects(self, config: DocRagConfig, site: Site) -> list[RouterObject]:
        return [
            RouterObject(mesh_service_manifest(), needs=("serving",), routes=True),
            RouterObject(gateway_certificate_manifest(config, site.gateway_namespace), needs=("cert_manager",)),
            RouterObject(gateway_manifest(config, site.gateway_selector), needs=("istio",)),
            RouterObject(destination_rule_manifest(), after=(MESH_SERVICE,), needs=("istio",), routes=True),
            RouterObject(virtual_service_manifest(config), after=(GATEWAY, DESTINATION_RULE), needs=("istio",),
                         routes=True),
        ]

    def preflight(self, config: DocRagConfig) -> list[str]:
        return check_subsets(destination_rule_manifest(), virtual_service_manifest(config))

    def rendered_state(self, of_kind: OfKind) -> dict[str, Any]:
        for virtual_service in of_kind("VirtualService"):
            if name_of(virtual_service) == VIRTUAL_SERVICE:
                weights: dict[str, int] = {}
                for route in virtual_service.get("spec", {}).get("http", []):
                    for destination in route.get("route", []):
                        subset = destination.get("destination", {}).get("subset", "?")
                        weights[subset] = weights.get(subset, 0) + int(destination.get("weight", 100))
                return {"istioWeights": weights}
        return {}

    def routes(self, of_kind: OfKind) -> Iterator[Routed]:
        rules = list(of_kind("DestinationRule"))
        for virtual_service in of_kind("VirtualService"):
            namespace = namespace_of(virtual_service)
            for http in items(dig(virtual_service, "spec", "http")):
                route = items(dig(http, "route"))
                for destination in route:
                    weight = to_int(destination.get("weight"))
                    if (weight if weight is not None else (100 if len(route) == 1 else 0)) <= 0:
                        continue
                    host = str(dig(destination, "destination", "host") or "")
                    short, _, rest = host.partition(".")
                    subset: Optional[Any] = dig(destination, "destination", "subset")
                    yield Routed(
                        f"VirtualService {name_of(virtual_service)} -> {host}"
                        + (f" subset {subset}" if subset else "") + f" weight {weight if weight is not None else 100}",
                        rest.split(".")[0] if rest else namespace, short,
                        _subset_labels(rules, short, str(subset)) if subset else None)

    def weight_violations(self, of_kind: OfKind, steps: list[int]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for virtual_service in of_kind("VirtualService"):
            for http in items(dig(virtual_service, "spec", "http")):
                route = items(dig(http, "route"))
                if len(route) < 2:
                    continue
                for destination in route:
                    raw_weight = destination.get("weight")
                    weight = to_int(raw_weight) if raw_weight is not None else 0  # absent = 0 in a multi-route split
                    if weight is None:
                        yield (f"VirtualService {name_of(virtual_service)} has a non-integer route weight "
                               f"{raw_weight!r}; Istio weights are integers", virtual_service)
                        continue
                    if not split_weight_allowed(weight, steps):
                        target = dig(destination, "destination", "subset") or dig(destination, "destination", "host")
                        yield (f"VirtualService {name_of(virtual_service)} sends weight {weight} to {target}; "
                               f"split weights must be 0, 100 or a step {steps} (or 100 minus one)", virtual_service)

    def route_violations(self, of_kind: OfKind) -> Iterator[tuple[str, Mapping[str, Any]]]:
        return iter(())

    def rate_limits(self, of_kind: OfKind) -> Iterator[str]:
        return iter(())  # no local rate limit rendered yet (docs/traffic.md "The public edge")
