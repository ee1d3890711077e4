"""Who receives traffic: the blue/green colours as the stack's routers would send requests to them.

Read from the objects themselves, not from stack config, so the pack judges what would be applied:
Services select a colour by label; a LoadBalancer/NodePort Service, or any router's route with a share above
0 (each router reads its own objects, components/routers/: an Ingress, the canary only with weight > 0 or a
header/cookie rule; an Istio VirtualService route through its DestinationRule subset) sends traffic to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from components.routers import REGISTRY
from components.routers.base import OfKind, Router
from policies.k8s import (
    dig,
    is_mapping,
    kind_of,
    name_of,
    namespace_of,
    selector_matches,
    to_int,
)
from policies.model import Settings, StackResource

COLOUR_CONFIG: dict[str, dict[str, Any]] = {
    "colourLabel": {"type": "string", "default": "version", "description": "pod label holding the release colour"},
    "colours": {"type": "array", "items": {"type": "string"}, "default": ["blue", "green"],
                "description": "the release colours"},
}


def of_kind(resources: Sequence[StackResource], kind: str) -> list[StackResource]:
    return [resource for resource in resources if kind_of(resource.type) == kind]


def router_objects(resources: Sequence[StackResource]) -> tuple[OfKind, dict[int, StackResource]]:
    """The resources as the routers read them (props by kind), and each props' resource (for its URN)."""
    def of_type(kind: str) -> list[Mapping[str, Any]]:
        return [resource.props for resource in of_kind(resources, kind)]
    return of_type, {id(resource.props): resource for resource in resources}


def router_violations(resources: Sequence[StackResource],
                      found: Callable[[Router, OfKind], Iterable[tuple[str, Mapping[str, Any]]]],
                      ) -> Iterator[tuple[str, Optional[StackResource]]]:
    """(message, resource) for what `found(router, of_kind)` reports, over every router."""
    of_type, owner = router_objects(resources)
    for router in REGISTRY.values():
        for message, props in found(router, of_type):
            yield message, owner.get(id(props))


@dataclass(frozen=True)
class ColourWorkload:
    resource: StackResource
    namespace: str
    name: str
    colour: str
    pod_labels: Mapping[str, Any]
    replicas: int  # spec.replicas (Kubernetes defaults it to 1)
    floor: int  # the fewest pods it can run: the HPA's minReplicas when one scales it, else replicas


def _pod_labels(deployment: StackResource) -> dict[str, Any]:
    labels = dig(deployment.props, "spec", "template", "metadata", "labels")
    return {key: labels[key] for key in labels} if is_mapping(labels) else {}


def colour_workloads(resources: Sequence[StackResource], settings: Settings) -> list[ColourWorkload]:
    label, colours = settings["colourLabel"], list(settings["colours"])
    hpas = of_kind(resources, "HorizontalPodAutoscaler")
    found = []
    for deployment in of_kind(resources, "Deployment"):
        pod_labels = _pod_labels(deployment)
        colour = pod_labels.get(label)
        if colour not in colours:
            continue
        namespace, name = namespace_of(deployment.props), name_of(deployment.props)
        replicas = to_int(dig(deployment.props, "spec", "replicas"))
        replicas = 1 if replicas is None else replicas
        floor = replicas
        for hpa in hpas:
            target = dig(hpa.props, "spec", "scaleTargetRef") or {}
            if (namespace_of(hpa.props) == namespace and target.get("kind") == "Deployment"
                    and target.get("name") == name and replicas > 0):
                # An HPA never scales a Deployment up from 0, so a 0-replica colour stays idle.
                floor = to_int(dig(hpa.props, "spec", "minReplicas")) or 1
        found.append(ColourWorkload(deployment, namespace, name, str(colour), pod_labels, replicas, floor))
    return found


def routed_colours(resources: Sequence[StackResource], settings: Settings) -> dict[str, list[str]]:
    """colour -> how traffic reaches it (one line per route); colours absent receive nothing."""
    label, colours = settings["colourLabel"], list(settings["colours"])
    services = {(namespace_of(s.props), name_of(s.props)): s for s in of_kind(resources, "Service")}
    routed: dict[str, list[str]] = {}

    def service_colour(namespace: str, name: str) -> Optional[str]:
        service = services.get((namespace, name))
        selector = dig(service.props, "spec", "selector") if service else None
        colour = selector.get(label) if selector is not None and is_mapping(selector) else None
        return str(colour) if colour in colours else None

    of_type, _ = router_objects(resources)
    for router in REGISTRY.values():
        for route in router.routes(of_type):
            # A subset names its colour by label; a plain Service route, by the Service's selector.
            subset = route.subset_labels
            colour = service_colour(route.namespace, route.service) if subset is None else (
                str(subset[label]) if subset.get(label) in colours else None)
            if colour:
                routed.setdefault(colour, []).append(route.description)
    for service in services.values():
        if dig(service.props, "spec", "type") in ("LoadBalancer", "NodePort"):
            colour = service_colour(namespace_of(service.props), name_of(service.props))
            if colour:
                routed.setdefault(colour, []).append(f"Service {name_of(service.props)} (external)")
    return routed


def covered_by_pdb(workload: ColourWorkload, resources: Sequence[StackResource]) -> bool:
    return any(
        namespace_of(pdb.props) == workload.namespace
        and selector_matches(dig(pdb.props, "spec", "selector"), workload.pod_labels)
        for pdb in of_kind(resources, "PodDisruptionBudget")
    )
