"""The four namespaces, labelled for NetworkPolicy selection and Pod Security Standards."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.meta import NS_INGRESS, NS_MONITORING, NS_PROD, NS_SECURITY, child, labels

# Pod Security Standards level enforced per namespace. Our own workloads run "restricted". The ingress
# namespace enforces "baseline" (restricted is still audited and warned): its pods come from upstream
# charts the offline plan never renders, and the Istio gateway chart sets no seccompProfile unless told
# to, which restricted rejects. (NET_BIND_SERVICE and a writable root filesystem are both allowed by
# restricted, so they are not the reason.) docs/security.md has the path to enforcing restricted there.
PSS_LEVELS = {
    NS_PROD: "restricted",
    NS_MONITORING: "restricted",
    NS_SECURITY: "restricted",
    NS_INGRESS: "baseline",
}

PURPOSES = {
    NS_PROD: "Main application services",
    NS_MONITORING: "Prometheus, Grafana, Jaeger",
    NS_SECURITY: "Security services and scanners",
    NS_INGRESS: "Ingress controllers and load balancers",
}


# The AWS Load Balancer Controller's webhook gives pods in a namespace with this label a readiness gate
# per NLB `ip` target group they are in: a rolling update of the edge proxy then waits until the NLB has
# registered each new pod as healthy before the next old one goes, so no rollout drops the edge's targets.
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"


def pss_labels(level: str, kubernetes_version: str) -> dict[str, str]:
    """Pinned to the cluster's minor version so an upgrade never tightens the rules unannounced."""
    version = f"v{kubernetes_version}"
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": version,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": version,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": version,
    }


@dataclass
class NamespacesArgs:
    kubernetes_version: str  # the Pod Security labels' version
    # The AWS Load Balancer Controller owns the NLB: the edge's namespace is labelled for its readiness gates.
    readiness_gates: bool = False


class Namespaces(pulumi.ComponentResource):
    """Creates the namespaces; `self.by_name[name]` is the Namespace resource to depend on."""

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:namespaces:Namespaces", name, None, opts)
        self.by_name: dict[str, k8s.core.v1.Namespace] = {}
        for namespace, level in PSS_LEVELS.items():
            gates = {READINESS_GATE_LABEL: "enabled"} if args.readiness_gates and namespace == NS_INGRESS else {}
            self.by_name[namespace] = k8s.core.v1.Namespace(
                namespace,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=namespace,
                    # `name` for NetworkPolicies that select on it (README, deviation 6);
                    # kubernetes.io/metadata.name is set by the API server and is what our own policies select.
                    labels={**labels("namespace"), "name": namespace, **pss_labels(level, args.kubernetes_version),
                            **gates},
                    annotations={"doc-rag/purpose": PURPOSES[namespace]},
                ),
                opts=child(self),
            )
        self.register_outputs({"names": list(self.by_name)})
