"""The security component: the NetworkPolicies (components/network_policies.py) and each workload
namespace's ResourceQuota and LimitRange (components/quotas.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import DocRagConfig
from components.meta import child, labels
from components.network_policies import EdgePeers, network_policies, selector
from components.quotas import DEFAULT_LIMIT, DEFAULT_REQUEST, budgets

COMPONENT = "security"


@dataclass
class SecurityArgs:
    config: DocRagConfig
    namespaces: Mapping[str, pulumi.Resource]  # Namespaces.by_name
    edge: EdgePeers = field(default_factory=EdgePeers)


class SecurityPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: SecurityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:security:SecurityPolicies", name, None, opts)
        self.network_policies: list[k8s.networking.v1.NetworkPolicy] = []
        specs = network_policies(args.config, args.edge)
        for spec in specs:
            self.network_policies.append(k8s.networking.v1.NetworkPolicy(
                f"{spec.namespace}-{spec.name}",
                metadata=self._metadata(spec.name, spec.namespace),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=selector(spec.pods),
                    policy_types=list(spec.types),
                    # Rules only for the declared directions (an empty list there means deny).
                    ingress=list(spec.ingress) if "Ingress" in spec.types else None,
                    egress=list(spec.egress) if "Egress" in spec.types else None,
                ),
                opts=child(self, depends_on=[args.namespaces[spec.namespace]]),
            ))
        for budget in budgets(args.config):
            depends = [args.namespaces[budget.namespace]]
            k8s.core.v1.ResourceQuota(
                f"{budget.namespace}-quota",
                metadata=self._metadata("doc-rag-quota", budget.namespace),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=budget.hard),
                opts=child(self, depends_on=depends),
            )
            k8s.core.v1.LimitRange(
                f"{budget.namespace}-limits",
                metadata=self._metadata("doc-rag-limits", budget.namespace),
                spec=k8s.core.v1.LimitRangeSpecArgs(limits=[k8s.core.v1.LimitRangeItemArgs(
                    type="Container", default_request=DEFAULT_REQUEST, default=DEFAULT_LIMIT,
                    max=budget.container_max,
                )]),
                opts=child(self, depends_on=depends),
            )
        self.register_outputs({"networkPolicies": [f"{spec.namespace}/{spec.name}" for spec in specs]})

    @staticmethod
    def _metadata(name: str, namespace: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(COMPONENT))
