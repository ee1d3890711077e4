"""Stack rule on network isolation: no namespace runs workloads without a NetworkPolicy."""

from __future__ import annotations

from typing import Iterator, Sequence

from policies.k8s import WORKLOAD_KINDS, kind_of, name_of, namespace_of
from policies.model import Settings, StackResource, StackRule, Violation


def check_network_policies(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    exempt = {str(namespace) for namespace in settings["exemptNamespaces"]}
    covered = {namespace_of(r.props) for r in resources if kind_of(r.type) == "NetworkPolicy"}
    first_workload: dict[str, StackResource] = {}
    for resource in resources:
        if kind_of(resource.type) in WORKLOAD_KINDS:
            first_workload.setdefault(namespace_of(resource.props), resource)
    for namespace, workload in sorted(first_workload.items()):
        if namespace not in covered and namespace not in exempt:
            yield Violation(
                f"namespace {namespace} runs workloads ({kind_of(workload.type)} {name_of(workload.props)}, ...) "
                "but has no NetworkPolicy", workload.urn)


NAMESPACE_NETWORK_POLICY = StackRule(
    name="namespace-network-policy",
    description="Every namespace that runs workloads has at least one NetworkPolicy.",
    level="mandatory",
    config={"exemptNamespaces": {
        "type": "array", "items": {"type": "string"}, "default": ["kube-system"],
        "description": "namespaces not required to have a NetworkPolicy",
    }},
    check=check_network_policies,
)

RULES = [NAMESPACE_NETWORK_POLICY]
