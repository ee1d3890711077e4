"""Stack rules for blue/green and canary releases: disruption budgets, replicas where traffic goes,
the canary Ingress on the main route, canary weights on the allowed steps."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from policies.k8s import annotations_of, dig, is_mapping, items, name_of, namespace_of, to_int
from policies.model import Settings, StackResource, StackRule, Violation
from policies.traffic import (
    CANARY_WEIGHT,
    COLOUR_CONFIG,
    colour_workloads,
    covered_by_pdb,
    is_canary,
    of_kind,
    routed_colours,
)

_MIN_REPLICAS: dict[str, dict[str, Any]] = {
    "minReplicas": {"type": "integer", "minimum": 1, "default": 3, "description": "fewest pods per colour"},
}


def check_pdb_per_colour(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    for workload in colour_workloads(resources, settings):
        if workload.replicas > 0 and not covered_by_pdb(workload, resources):
            yield Violation(
                f"Deployment {workload.name} ({workload.colour}, {workload.replicas} replicas) in "
                f"{workload.namespace} has no PodDisruptionBudget selecting its pods", workload.resource.urn)


def check_traffic_replicas(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    minimum = to_int(settings["minReplicas"]) or 1
    routed = routed_colours(resources, settings)
    workloads = colour_workloads(resources, settings)
    for workload in workloads:
        if workload.colour in routed and workload.floor < minimum:
            yield Violation(
                f"Deployment {workload.name} ({workload.colour}) receives traffic "
                f"({'; '.join(routed[workload.colour])}) but can run {workload.floor} replicas; at least "
                f"{minimum} required", workload.resource.urn)
    for colour, routes in routed.items():
        if not any(workload.colour == colour for workload in workloads):
            yield Violation(f"colour {colour} receives traffic ({'; '.join(routes)}) but no Deployment runs it")


def check_idle_replicas(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    minimum = to_int(settings["minReplicas"]) or 1
    routed = routed_colours(resources, settings)
    for workload in colour_workloads(resources, settings):
        if workload.colour not in routed and workload.floor < minimum:
            yield Violation(
                f"idle colour {workload.colour} (Deployment {workload.name}) runs {workload.floor} replicas; scale "
                f"it to at least {minimum} before shifting traffic to it", workload.resource.urn)


def _routes(ingress: StackResource) -> set[tuple[str, str, str]]:
    return {
        (str(rule.get("host") or "*"), str(path.get("path") or "/"), str(path.get("pathType") or ""))
        for rule in items(dig(ingress.props, "spec", "rules")) if is_mapping(rule)
        for path in items(dig(rule, "http", "paths")) if is_mapping(path)
    }


def check_canary_route(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    ingresses = of_kind(resources, "Ingress")
    for canary in (ingress for ingress in ingresses if is_canary(ingress)):
        namespace, name = namespace_of(canary.props), name_of(canary.props)
        main_routes = set().union(*(
            _routes(ingress) for ingress in ingresses
            if not is_canary(ingress) and namespace_of(ingress.props) == namespace
        ))
        canary_routes = _routes(canary)
        if not main_routes:
            yield Violation(f"canary Ingress {name} has no main Ingress in {namespace} to shadow", canary.urn)
        elif not canary_routes:
            yield Violation(f"canary Ingress {name} has no host/path rules", canary.urn)
        for host, path, path_type in sorted(canary_routes - main_routes if main_routes else set()):
            yield Violation(
                f"canary Ingress {name} routes host {host} path {path} ({path_type or 'no pathType'}), which no main "
                f"Ingress in {namespace} serves with the same host/path/pathType; NGINX ignores such a canary",
                canary.urn)


def check_canary_weights(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    steps = sorted(step for step in (to_int(value) for value in settings["allowedSteps"]) if step is not None)
    allowed = {0, *steps}
    for canary in (ingress for ingress in of_kind(resources, "Ingress") if is_canary(ingress)):
        raw = annotations_of(canary.props).get(CANARY_WEIGHT)
        weight = to_int(raw)
        if raw is not None and weight not in allowed:
            yield Violation(f"canary Ingress {name_of(canary.props)} has weight {raw!r}; allowed: 0 or one of "
                            f"{steps}", canary.urn)
    for virtual_service in of_kind(resources, "VirtualService"):
        for http in items(dig(virtual_service.props, "spec", "http")):
            route = items(dig(http, "route"))
            if len(route) < 2:
                continue
            for destination in route:
                raw_weight = destination.get("weight")
                weight = to_int(raw_weight) if raw_weight is not None else 0  # absent = 0 in a multi-route split
                if weight is None:
                    yield Violation(
                        f"VirtualService {name_of(virtual_service.props)} has a non-integer route weight "
                        f"{raw_weight!r}; Istio weights are integers", virtual_service.urn)
                    continue
                if weight not in allowed and 100 - weight not in allowed:
                    yield Violation(
                        f"VirtualService {name_of(virtual_service.props)} sends weight {weight} to "
                        f"{dig(destination, 'destination', 'subset') or dig(destination, 'destination', 'host')}; "
                        f"split weights must be 0, 100 or a step {steps} (or 100 minus one)", virtual_service.urn)


PDB_PER_COLOUR = StackRule(
    name="pdb-per-api-colour",
    description="Each API colour Deployment with replicas > 0 has a PodDisruptionBudget selecting its pods.",
    level="mandatory",
    config=dict(COLOUR_CONFIG),
    check=check_pdb_per_colour,
)
TRAFFIC_COLOUR_REPLICAS = StackRule(
    name="traffic-colour-replicas",
    description="A colour receiving traffic (Ingress, canary weight > 0, VirtualService) runs at least 3 replicas.",
    level="mandatory",
    config={**COLOUR_CONFIG, **_MIN_REPLICAS},
    check=check_traffic_replicas,
)
IDLE_COLOUR_REPLICAS = StackRule(
    name="idle-colour-replicas",
    description="An idle colour (no traffic) should also run at least 3 replicas, ready for the next shift.",
    level="advisory",
    config={**COLOUR_CONFIG, **_MIN_REPLICAS},
    check=check_idle_replicas,
)
CANARY_MATCHES_MAIN_ROUTE = StackRule(
    name="canary-matches-main-route",
    description="The canary Ingress (canary: \"true\") serves exactly a host/path/pathType of a main Ingress.",
    level="mandatory",
    check=check_canary_route,
)
CANARY_WEIGHT_STEPS = StackRule(
    name="canary-weight-steps",
    description="Canary weights (NGINX canary-weight, Istio split weights) are 0 or one of the allowed steps.",
    level="mandatory",
    config={"allowedSteps": {
        "type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 100}, "default": [5, 25, 50, 100],
        "description": "the canary weights a release may use (release.steps)",
    }},
    check=check_canary_weights,
)

RULES = [PDB_PER_COLOUR, TRAFFIC_COLOUR_REPLICAS, IDLE_COLOUR_REPLICAS, CANARY_MATCHES_MAIN_ROUTE,
         CANARY_WEIGHT_STEPS]
