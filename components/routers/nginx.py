"""NGINX (ingress-nginx): a main Ingress to the active colour's Service and a canary Ingress to the other
colour's, with `canary-weight: w`. Both come from ONE route definition: ingress-nginx silently ignores a
canary whose host/path/pathType differ from the main Ingress'."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator

from components.api import HTTP_PORT
from components.config import DocRagConfig
from components.platform import CLUSTER_ISSUER, INGRESS_CLASS  # no copies
from components.routers.base import (
    ACTIVE_SERVICE,
    CANARY_SERVICE,
    TLS_SECRET,
    EdgeTarget,
    OfKind,
    Routed,
    RouterObject,
    Site,
    annotations_of,
    dig,
    items,
    metadata,
    name_of,
    namespace_of,
    to_int,
)

MAIN_INGRESS = "doc-rag-ingress"
CANARY_INGRESS = "api-ingress"
NGINX = "nginx.ingress.kubernetes.io"
CANARY = f"{NGINX}/canary"
CANARY_WEIGHT = f"{NGINX}/canary-weight"
RATE_LIMITS = (f"{NGINX}/limit-rps", f"{NGINX}/limit-connections")
_CANARY_MATCHERS = (f"{NGINX}/canary-by-header", f"{NGINX}/canary-by-cookie")


@dataclass(frozen=True)
class Route:
    """The one public route both Ingresses serve."""

    host: str
    path: str = "/"
    path_type: str = "Prefix"


def main_route(config: DocRagConfig) -> Route:
    return Route(host=config.domain)


def _ingress_rule(route: Route, service: str) -> dict[str, Any]:
    return {
        "host": route.host,
        "http": {"paths": [{
            "path": route.path, "pathType": route.path_type,
            "backend": {"service": {"name": service, "port": {"number": HTTP_PORT}}},
        }]},
    }


def _tls(route: Route) -> list[dict[str, Any]]:
    return [{"hosts": [route.host], "secretName": TLS_SECRET}]


def main_ingress_manifest(config: DocRagConfig, route: Route) -> dict[str, Any]:
    annotations = {
        f"{NGINX}/ssl-redirect": "true",
        f"{NGINX}/force-ssl-redirect": "true",
        f"{NGINX}/backend-protocol": "HTTP",
        # ingress-nginx's names (the deployment plan's `rate-limit-*` are not read by any release).
        RATE_LIMITS[0]: str(config.traffic.rateLimitRps),
        RATE_LIMITS[1]: str(config.traffic.rateLimitConnections),
        "cert-manager.io/cluster-issuer": CLUSTER_ISSUER,
    }
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": metadata(MAIN_INGRESS, annotations=annotations),
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": _tls(route),
            "rules": [_ingress_rule(route, ACTIVE_SERVICE)],
        },
    }


def canary_ingress_manifest(config: DocRagConfig, route: Route) -> dict[str, Any]:
    # ingress-nginx applies the main Ingress' non-canary annotations to the canary; the same TLS block is
    # repeated so no Ingress is ever plain HTTP (policy), without a cert-manager annotation (one Certificate).
    annotations = {CANARY: "true", CANARY_WEIGHT: str(config.release.canaryWeight)}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": metadata(CANARY_INGRESS, annotations=annotations),
        "spec": {"ingressClassName": INGRESS_CLASS, "tls": _tls(route),
                 "rules": [_ingress_rule(route, CANARY_SERVICE)]},
    }


def _paths(ingress: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (rule.get("host", ""), path.get("path", ""), path.get("pathType", ""))
        for rule in ingress["spec"].get("rules", [])
        for path in rule.get("http", {}).get("paths", [])
    }


def check_routes(main: dict[str, Any], canary: dict[str, Any]) -> list[str]:
    """ingress-nginx applies a canary only to a main Ingress with the same host, path and pathType."""
    problems = []
    main_paths, canary_paths = _paths(main), _paths(canary)
    if not canary_paths or canary_paths != main_paths:
        problems.append(
            f"canary Ingress {canary['metadata']['name']} routes {sorted(canary_paths)}: allowed: exactly the main "
            f"Ingress {main['metadata']['name']} routes {sorted(main_paths)} (ingress-nginx drops a mismatched canary)"
        )
    if main["spec"].get("ingressClassName") != canary["spec"].get("ingressClassName"):
        problems.append(
            f"canary Ingress ingressClassName = {canary['spec'].get('ingressClassName')!r}: allowed: the main "
            f"Ingress' {main['spec'].get('ingressClassName')!r}"
        )
    return problems


def is_canary(ingress: Mapping[str, Any]) -> bool:
    return str(annotations_of(ingress).get(CANARY, "")).lower() == "true"


def _sends_traffic(ingress: Mapping[str, Any]) -> bool:
    if not is_canary(ingress):
        return True
    annotations = annotations_of(ingress)
    return (to_int(annotations.get(CANARY_WEIGHT)) or 0) > 0 or any(key in annotations for key in _CANARY_MATCHERS)


def _backends(ingress: Mapping[str, Any]) -> list[str]:
    names = [dig(ingress, "spec", "defaultBackend", "service", "name")]
    for rule in items(dig(ingress, "spec", "rules")):
        for path in items(dig(rule, "http", "paths")):
            names.append(dig(path, "backend", "service", "name"))
    return [str(name) for name in names if name]


def _route_set(ingress: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (str(rule.get("host") or "*"), str(path.get("path") or "/"), str(path.get("pathType") or ""))
        for rule in items(dig(ingress, "spec", "rules")) if isinstance(rule, Mapping)
        for path in items(dig(rule, "http", "paths")) if isinstance(path, Mapping)
    }


class NginxRouter:
    name: str = "nginx"
    object_kinds = ("Ingress",)
    object_names: tuple[str, ...] = (MAIN_INGRESS, CANARY_INGRESS)

    def renders(self, edge: str) -> bool:
        return edge == self.name  # ingress-nginx is installed only to be the edge

    def edge_target(self, site: Site) -> EdgeTarget:
        # After ingress-nginx: with PROXY v2 the NLB must not send to a controller not yet expecting it.
        return EdgeTarget(site.ingress_namespace, site.ingress_selector, "https", "http", ("ingress",))

    def objects(self, config: DocRagConfig, site: Site) -> list[RouterObject]:
        route = main_route(config)
        # ingress-nginx ignores a canary without a main Ingress for its host: while the active colour receives
        # traffic the main Ingress goes first; at weight 100 it follows its Service, after the canary.
        main_first = (MAIN_INGRESS,) if config.release.canaryWeight < 100 else ()
        return [
            RouterObject(main_ingress_manifest(config, route), after=(ACTIVE_SERVICE,),
                         needs=("ingress", "cert_manager"), routes=True),
            RouterObject(canary_ingress_manifest(config, route), after=main_first,
                         needs=("ingress", "cert_manager"), carries_weight=True, routes=True),
        ]

    def preflight(self, config: DocRagConfig) -> list[str]:
        route = main_route(config)
        return check_routes(main_ingress_manifest(config, route), canary_ingress_manifest(config, route))

    def rendered_state(self, of_kind: OfKind) -> dict[str, Any]:
        for ingress in of_kind("Ingress"):
            if name_of(ingress) == CANARY_INGRESS:
                weight = annotations_of(ingress).get(CANARY_WEIGHT)
                return {"nginxCanaryWeight": int(weight) if weight is not None else None}
        return {}

    def routes(self, of_kind: OfKind) -> Iterator[Routed]:
        for ingress in of_kind("Ingress"):
            if _sends_traffic(ingress):
                for backend in _backends(ingress):
                    yield Routed(f"Ingress {name_of(ingress)} -> Service {backend}", namespace_of(ingress), backend)

    def weight_violations(self, of_kind: OfKind, steps: list[int]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        allowed = {0, *steps}
        for canary in (ingress for ingress in of_kind("Ingress") if is_canary(ingress)):
            raw = annotations_of(canary).get(CANARY_WEIGHT)
            if raw is not None and to_int(raw) not in allowed:
                yield (f"canary Ingress {name_of(canary)} has weight {raw!r}; allowed: 0 or one of {steps}", canary)

    def route_violations(self, of_kind: OfKind) -> Iterator[tuple[str, Mapping[str, Any]]]:
        ingresses = list(of_kind("Ingress"))
        for canary in (ingress for ingress in ingresses if is_canary(ingress)):
            namespace, name = namespace_of(canary), name_of(canary)
            main_routes = set().union(*(
                _route_set(ingress) for ingress in ingresses
                if not is_canary(ingress) and namespace_of(ingress) == namespace
            ))
            canary_routes = _route_set(canary)
            if not main_routes:
                yield f"canary Ingress {name} has no main Ingress in {namespace} to shadow", canary
            elif not canary_routes:
                yield f"canary Ingress {name} has no host/path rules", canary
            for host, path, path_type in sorted(canary_routes - main_routes if main_routes else set()):
                yield (f"canary Ingress {name} routes host {host} path {path} ({path_type or 'no pathType'}), which "
                       f"no main Ingress in {namespace} serves with the same host/path/pathType; NGINX ignores such "
                       "a canary", canary)

    def rate_limits(self, of_kind: OfKind) -> Iterator[str]:
        for ingress in of_kind("Ingress"):
            annotations = annotations_of(ingress)
            for key in RATE_LIMITS:
                if key in annotations:
                    yield f"Ingress {name_of(ingress)} {key.rsplit('/', 1)[-1]} {annotations[key]}"
