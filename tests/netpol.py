"""A small NetworkPolicy evaluator: would the cluster let this connection through?

No cluster exists here to test policies against, so the networking.k8s.io/v1 semantics are re-stated:
- a pod is isolated for ingress (egress) when some policy in its namespace selects it and lists
  Ingress (Egress) in policyTypes (absent policyTypes: Ingress, plus Egress when egress rules exist);
- a connection needs both ends to allow it: egress from the source (unless not isolated) and ingress
  to the destination (unless not isolated); policies are additive, there is no deny rule;
- in a rule, absent `from`/`to` matches every peer, absent `ports` every port; a peer with only
  podSelector selects pods of the policy's own namespace, namespaceSelector alone every pod of the
  matching namespaces, both together their intersection; ipBlock matches by address (CIDR minus except);
- a port may be a number (with optional endPort) or a named container port of the destination.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from ops.checks.pod_security import pod_templates
from policies.k8s import selector_matches  # one LabelSelector semantics for the pack and the flow walk


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace set) or an address outside the pod network (namespace None, e.g. the API server)."""

    name: str
    namespace: Optional[str]
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    ip: Optional[str] = None
    named_ports: dict[str, int] = field(default_factory=dict, hash=False)  # containerPort names


@dataclass(frozen=True)
class Flow:
    source: Endpoint
    destination: Endpoint
    port: int
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.source.name} -> {self.destination.name}:{self.port}/{self.protocol}"


def policy_types(policy: dict[str, Any]) -> set[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if spec.get("egress") else set())


class Evaluator:
    def __init__(self, policies: Iterable[dict[str, Any]], namespace_labels: dict[str, dict[str, str]]):
        self.policies = [p for p in policies if p.get("kind") == "NetworkPolicy"]
        # the API server sets kubernetes.io/metadata.name on every namespace
        self.namespace_labels = {
            name: {**labels, "kubernetes.io/metadata.name": name} for name, labels in namespace_labels.items()
        }

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        return self.namespace_labels.get(namespace, {"kubernetes.io/metadata.name": namespace})

    def _selecting(self, pod: Endpoint, direction: str) -> list[dict[str, Any]]:
        if pod.namespace is None:
            return []
        return [
            p for p in self.policies
            if (p.get("metadata") or {}).get("namespace") == pod.namespace
            and direction in policy_types(p)
            and selector_matches((p.get("spec") or {}).get("podSelector") or {}, pod.labels)
        ]

    def _peer_matches(self, peer: dict[str, Any], policy_namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            if other.ip is None:
                return False
            address = ipaddress.ip_address(other.ip)
            block = peer["ipBlock"]
            return address in ipaddress.ip_network(block["cidr"]) and not any(
                address in ipaddress.ip_network(excluded) for excluded in block.get("except") or []
            )
        if other.namespace is None:
            return False  # selectors only ever match pods
        namespace_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
        if namespace_selector is None and pod_selector is None:
            return False
        if namespace_selector is None:
            in_namespace = other.namespace == policy_namespace
        else:
            in_namespace = selector_matches(namespace_selector, self._namespace_labels(other.namespace))
        return in_namespace and (pod_selector is None or selector_matches(pod_selector, other.labels))

    @staticmethod
    def _port_matches(rule_ports: Optional[list[dict[str, Any]]], flow: Flow) -> bool:
        if not rule_ports:
            return True
        for port in rule_ports:
            if port.get("protocol", "TCP") != flow.protocol:
                continue
            number = port.get("port")
            if number is None:
                return True
            if isinstance(number, str):  # a named port resolves on the destination pod
                number = flow.destination.named_ports.get(number)
                if number is None:
                    continue
            if number <= flow.port <= int(port.get("endPort") or number):
                return True
        return False

    def _rule_allows(self, policy: dict[str, Any], direction: str, other: Endpoint, flow: Flow) -> bool:
        spec = policy.get("spec") or {}
        rules = spec.get("ingress" if direction == "Ingress" else "egress") or []
        peers_key = "from" if direction == "Ingress" else "to"
        namespace = policy["metadata"]["namespace"]
        for rule in rules:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(self._peer_matches(peer, namespace, other) for peer in peers)
            if peer_ok and self._port_matches(rule.get("ports"), flow):
                return True
        return False

    def allowing(self, flow: Flow) -> dict[str, list[str]]:
        """Names of the policies that let the flow out of its source and into its destination."""
        result: dict[str, list[str]] = {"Egress": [], "Ingress": []}
        for direction, pod, other in (("Egress", flow.source, flow.destination),
                                      ("Ingress", flow.destination, flow.source)):
            for policy in self._selecting(pod, direction):
                if self._rule_allows(policy, direction, other, flow):
                    result[direction].append(policy["metadata"]["name"])
        return result

    def allowed(self, flow: Flow) -> bool:
        verdict = self.allowing(flow)
        egress_ok = not self._selecting(flow.source, "Egress") or bool(verdict["Egress"])
        ingress_ok = not self._selecting(flow.destination, "Ingress") or bool(verdict["Ingress"])
        return egress_ok and ingress_ok

    def isolated(self, pod: Endpoint) -> dict[str, bool]:
        return {direction: bool(self._selecting(pod, direction)) for direction in ("Ingress", "Egress")}


def pods_from_manifests(manifests: list[dict[str, Any]]) -> list[Endpoint]:
    """One endpoint per pod template (all replicas of a workload behave the same to a policy)."""
    endpoints = []
    for pod in pod_templates(manifests):
        named = {
            port["name"]: int(port["containerPort"])
            for container in pod.spec.get("containers") or []
            for port in container.get("ports") or [] if port.get("name")
        }
        endpoints.append(Endpoint(pod.subject, pod.namespace, dict(pod.metadata.get("labels") or {}),
                                  named_ports=named))
    return endpoints


def namespaces_from_manifests(manifests: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        m["metadata"]["name"]: dict(m["metadata"].get("labels") or {})
        for m in manifests if m.get("kind") == "Namespace"
    }
