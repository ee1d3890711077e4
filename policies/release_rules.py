"""Stack rules for blue/green and canary releases: disruption budgets, replicas where traffic goes,
the canary Ingress on the main route, canary weights on the allowed steps."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from policies.k8s import to_int
from policies.model import Settings, StackResource, StackRule, Violation
from policies.traffic import COLOUR_CONFIG, colour_workloads, covered_by_pdb, routed_colours, router_violations

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


def check_canary_route(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    # Each router knows what its controller ignores (NGINX: a canary Ingress off its main Ingress' route).
    for message, resource in router_violations(resources, lambda router, of_kind: router.route_violations(of_kind)):
        yield Violation(message, resource.urn if resource else "")


def check_canary_weights(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    steps = sorted(step for step in (to_int(value) for value in settings["allowedSteps"]) if step is not None)
    for message, resource in router_violations(
            resources, lambda router, of_kind: router.weight_violations(of_kind, steps)):
        yield Violation(message, resource.urn if resource else "")


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
