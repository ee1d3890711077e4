"""Who receives traffic: the blue/green colours as the stack's routers would send requests to them.

Read from the objects themselves, not from stack config, so the pack judges what would be applied:
Services select a colour by label; an Ingress (the canary only with weight > 0 or a header/cookie rule),
a LoadBalancer/NodePort Service, or an Istio VirtualService route with weight > 0 (through its
DestinationRule subset) sends traffic to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from policies.k8s import (
    annotations_of,
    dig,
    is_mapping,
    items,
    kind_of,
    name_of,
    namespace_of,
    selector_matches,
    to_int,
)
from policies.model import Settings, StackResource

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
_CANARY_MATCHERS = ("nginx.ingress.kubernetes.io/canary-by-header", "nginx.ingress.kubernetes.io/canary-by-cookie")

COLOUR_CONFIG: dict[str, dict[str, Any]] = {
    "colourLabel": {"type": "string", "default": "version", "description": "pod label holding the release colour"},
    "colours": {"type": "array", "items": {"type": "string"}, "default": ["blue", "green"],
                "description": "the release colours"},
}


def of_kind(resources: Sequence[StackResource], kind: str) -> list[StackResource]:
    return [resource for resource in resources if kind_of(resource.type) == kind]


def is_canary(ingress: StackResource) -> bool:
    return str(annotations_of(ingress.props).get(CANARY, "")).lower() == "true"


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


def _ingress_backends(ingress: StackResource) -> list[str]:
    names = [dig(ingress.props, "spec", "defaultBackend", "service", "name")]
    for rule in items(dig(ingress.props, "spec", "rules")):
        for path in items(dig(rule, "http", "paths")):
            names.append(dig(path, "backend", "service", "name"))
    return [str(name) for name in names if name]


def _sends_traffic(ingress: StackResource) -> bool:
    if not is_canary(ingress):
        return True
    annotations = annotations_of(ingress.props)
    return (to_int(annotations.get(CANARY_WEIGHT)) or 0) > 0 or any(key in annotations for key in _CANARY_MATCHERS)


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

    for ingress in of_kind(resources, "Ingress"):
        if _sends_traffic(ingress):
            for backend in _ingress_backends(ingress):
                colour = service_colour(namespace_of(ingress.props), backend)
                if colour:
                    routed.setdefault(colour, []).append(f"Ingress {name_of(ingress.props)} -> Service {backend}")
    for service in services.values():
        if dig(service.props, "spec", "type") in ("LoadBalancer", "NodePort"):
            colour = service_colour(namespace_of(service.props), name_of(service.props))
            if colour:
                routed.setdefault(colour, []).append(f"Service {name_of(service.props)} (external)")
    rules = of_kind(resources, "DestinationRule")
    for virtual_service in of_kind(resources, "VirtualService"):
        namespace = namespace_of(virtual_service.props)
        for http in items(dig(virtual_service.props, "spec", "http")):
            route = items(dig(http, "route"))
            for destination in route:
                weight = to_int(destination.get("weight"))
                if (weight if weight is not None else (100 if len(route) == 1 else 0)) <= 0:
                    continue
                host = str(dig(destination, "destination", "host") or "")
                short, _, rest = host.partition(".")
                host_namespace = rest.split(".")[0] if rest else namespace
                subset = dig(destination, "destination", "subset")
                colour = (_subset_colour(rules, short, str(subset), label, colours) if subset
                          else service_colour(host_namespace, short))
                if colour:
                    routed.setdefault(colour, []).append(
                        f"VirtualService {name_of(virtual_service.props)} -> {host}"
                        + (f" subset {subset}" if subset else "") + f" weight {weight if weight is not None else 100}"
                    )
    return routed


def _subset_colour(rules: list[StackResource], host: str, subset: str, label: str, colours: list[str]) -> Optional[str]:
    for rule in rules:
        if str(dig(rule.props, "spec", "host") or "").partition(".")[0] != host:
            continue
        for entry in items(dig(rule.props, "spec", "subsets")):
            if is_mapping(entry) and entry.get("name") == subset:
                colour = dig(entry, "labels", label)
                if colour in colours:
                    return str(colour)
    return None


def covered_by_pdb(workload: ColourWorkload, resources: Sequence[StackResource]) -> bool:
    return any(
        namespace_of(pdb.props) == workload.namespace
        and selector_matches(dig(pdb.props, "spec", "selector"), workload.pod_labels)
        for pdb in of_kind(resources, "PodDisruptionBudget")
    )
