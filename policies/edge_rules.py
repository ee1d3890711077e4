"""Stack rules for the public edge: what every client meets before a router picks a colour."""

from __future__ import annotations

from typing import Iterator, Sequence

from components.routers import REGISTRY
from policies.k8s import dig, name_of, namespace_of
from policies.model import Settings, StackResource, StackRule, Violation
from policies.traffic import of_kind, router_objects


def check_edge_rate_limit(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    of_type, _ = router_objects(resources)
    limits = [limit for router in REGISTRY.values() for limit in router.rate_limits(of_type)]
    if limits:
        return
    for service in of_kind(resources, "Service"):
        if dig(service.props, "spec", "type") == "LoadBalancer":
            yield Violation(
                f"Service {namespace_of(service.props)}/{name_of(service.props)} is public, but no router's objects "
                "set a per-client rate limit (only the nginx edge has one: traffic.rateLimitRps / "
                "rateLimitConnections); one client can take every API pod's capacity", service.urn)


EDGE_RATE_LIMIT = StackRule(
    name="edge-rate-limit",
    description="A stack with a public LoadBalancer Service limits requests per client at its edge router.",
    level="advisory",
    check=check_edge_rate_limit,
)

RULES = [EDGE_RATE_LIMIT]
