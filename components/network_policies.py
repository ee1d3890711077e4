"""NetworkPolicies: default deny and every flow the system needs, one named policy per flow, as PolicySpecs.

Network model (docs/security.md has the flow table):
- doc-rag-prod, doc-rag-monitoring and doc-rag-security deny all ingress and egress by default; each
  flow the system needs is then allowed by exactly one named policy, between pods selected by label and
  namespaces selected by `kubernetes.io/metadata.name` (set by the API server, so it cannot be spoofed by
  whoever can label a namespace we do not own).
- API pods accept the ingress controller and the Istio ingress gateway on 8080 and Prometheus on 9090,
  and may reach DNS, Postgres and Redis. Postgres and Redis accept only the API and reach nothing.
- Prometheus may reach the API's metrics port, the ingress-nginx controllers' metrics port (10254), DNS and
  the Kubernetes API (service discovery), and with `observability.alertmanagerUrl` set, that URL's port on
  any address; Grafana may reach Prometheus and DNS and nothing else.
- With the optional Jaeger on, the API pods may send OTLP to Jaeger's collector ports, and nothing else
  may reach Jaeger.
- With the image scanner installed (platform.trivyOperator), its operator may reach the Kubernetes API and
  accepts Prometheus on its metrics port; its scan Jobs may reach DNS and HTTPS outside the cluster's network
  (the vulnerability database and the scanned images' registries), and nothing else (components/scanner.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi_kubernetes as k8s

from components import api, data, scanner
from components import backup as pg_backup
from components import observability as obs
from components.config import DocRagConfig
from components.meta import APP, NS_INGRESS, NS_MONITORING, NS_PROD, NS_SECURITY
from components.platform import INGRESS_CONTROLLER_SELECTOR, ISTIO_GATEWAY_SELECTOR

NAMESPACE_LABEL = "kubernetes.io/metadata.name"

# Pods outside our manifests, selected by the labels their charts give them.
KUBE_SYSTEM = "kube-system"
KUBE_DNS_LABELS = {"k8s-app": "kube-dns"}  # CoreDNS on EKS and kubeadm clusters keeps this label
# cert-manager's HTTP-01 solver pods run in the namespace of the Certificate (our Ingress's, doc-rag-prod)
# and must be reachable by the ingress controller while Let's Encrypt validates a challenge.
ACME_SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089


@dataclass(frozen=True)
class EdgePeers:
    """Where the edge proxies run and how their pods are labelled (components/platform.py owns both)."""

    ingress_namespace: str = NS_INGRESS
    # None: ingress-nginx does not run (traffic.edge is another router), so nothing admits its pods.
    ingress_pods: Optional[Mapping[str, str]] = field(default_factory=lambda: dict(INGRESS_CONTROLLER_SELECTOR))
    gateway_namespace: str = NS_INGRESS
    gateway_pods: Mapping[str, str] = field(default_factory=lambda: dict(ISTIO_GATEWAY_SELECTOR))
    # The pods the public NLB fronts (the router `traffic.edge` names); None: ingress-nginx's.
    edge_namespace: str = NS_INGRESS
    edge_pods: Optional[Mapping[str, str]] = None

# Our own pods, selected by the labels components/api.py, data.py and observability.py give them.
API_POD_LABELS = {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": api.COMPONENT}
POSTGRES_POD_LABELS = {"app.kubernetes.io/name": data.POSTGRES_NAME}
REDIS_POD_LABELS = {"app.kubernetes.io/name": data.REDIS_NAME}
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": obs.PROMETHEUS}
GRAFANA_POD_LABELS = {"app.kubernetes.io/name": obs.GRAFANA}
JAEGER_POD_LABELS = {"app.kubernetes.io/name": obs.JAEGER}
BACKUP_RUNNER_POD_LABELS = dict(pg_backup.RUNNER_POD_LABELS)
HTTPS_PORT = 443
PROMETHEUS_PORT = obs.PROMETHEUS_PORT

DNS_PORT = 53
# The node's instance metadata service. Nodes answer it two hops away (components/eks.py: the EBS CSI node
# plugin needs it), so every rule that opens "any address" carves it out: no pod of ours can reach the
# node role's credentials.
INSTANCE_METADATA = ipaddress.IPv4Network("169.254.169.254/32")


# -- NetworkPolicy building blocks -----------------------------------------------------------------------

def selector(match: Optional[Mapping[str, str]] = None) -> k8s.meta.v1.LabelSelectorArgs:
    """An empty selector selects everything (in its scope)."""
    return k8s.meta.v1.LabelSelectorArgs(match_labels=dict(match) if match else None)


def _peer(namespace: Optional[str] = None, pods: Optional[Mapping[str, str]] = None,
          cidr: Optional[str] = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods matching `pods` in `namespace`; without `namespace`, in the policy's own namespace."""
    if cidr is not None:
        excepted = [str(INSTANCE_METADATA)] if INSTANCE_METADATA.subnet_of(ipaddress.IPv4Network(cidr)) else None
        return k8s.networking.v1.NetworkPolicyPeerArgs(
            ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr, except_=excepted))
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=selector({NAMESPACE_LABEL: namespace}) if namespace else None,
        pod_selector=selector(pods) if pods is not None else None,
    )


def _ports(*ports: int, protocol: str = "TCP") -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol=protocol) for port in ports]


def _ingress(peers: Sequence[k8s.networking.v1.NetworkPolicyPeerArgs],
             ports: list[k8s.networking.v1.NetworkPolicyPortArgs]) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=list(peers), ports=ports)


def _egress(peers: Sequence[k8s.networking.v1.NetworkPolicyPeerArgs],
            ports: list[k8s.networking.v1.NetworkPolicyPortArgs]) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=list(peers), ports=ports)


def dns_egress() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Name resolution: CoreDNS pods in kube-system, UDP and TCP 53 (TCP for truncated answers)."""
    return _egress([_peer(KUBE_SYSTEM, KUBE_DNS_LABELS)], _ports(DNS_PORT, protocol="UDP") + _ports(DNS_PORT))


@dataclass(frozen=True)
class PolicySpec:
    """One NetworkPolicy: its name, namespace, the pods it governs and their allowed flows."""

    name: str
    namespace: str
    pods: Mapping[str, str]  # {} = every pod of the namespace
    ingress: tuple[k8s.networking.v1.NetworkPolicyIngressRuleArgs, ...] = ()
    egress: tuple[k8s.networking.v1.NetworkPolicyEgressRuleArgs, ...] = ()
    # Both directions are always declared: an empty list of rules then means "deny", never "not isolated".
    types: tuple[str, ...] = ("Ingress", "Egress")


def default_deny(namespace: str) -> PolicySpec:
    return PolicySpec("default-deny-all", namespace, {})


def _ingress_nginx(edge: EdgePeers) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [] if edge.ingress_pods is None else [_peer(edge.ingress_namespace, edge.ingress_pods)]


def _public_edge(edge: EdgePeers) -> tuple[str, Mapping[str, str]]:
    if edge.edge_pods is not None:
        return edge.edge_namespace, edge.edge_pods
    assert edge.ingress_pods is not None, "no edge pods: neither traffic.edge's nor ingress-nginx's"
    return edge.ingress_namespace, edge.ingress_pods


def _edge_proxies(edge: EdgePeers) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    """The public edge's pods, ingress-nginx's when it runs, and the Istio gateway's (the in-cluster
    routes), each once."""
    found: list[tuple[str, Mapping[str, str]]] = []
    for namespace, pods in (_public_edge(edge), (edge.ingress_namespace, edge.ingress_pods),
                            (edge.gateway_namespace, edge.gateway_pods)):
        if pods is not None and (namespace, dict(pods)) not in [(n, dict(p)) for n, p in found]:
            found.append((namespace, pods))
    return [_peer(namespace, pods) for namespace, pods in found]


def prod_policies(edge: EdgePeers) -> list[PolicySpec]:
    # The ACME solver answers through the public edge.
    solver_peers = [_peer(*_public_edge(edge))]
    return [
        default_deny(NS_PROD),
        # doc-rag-network-policy, for the API pods, with Redis and the scrape beside Postgres (README, deviation 6).
        PolicySpec(
            "doc-rag-network-policy", NS_PROD, API_POD_LABELS,
            ingress=(
                _ingress(_edge_proxies(edge), _ports(api.HTTP_PORT)),
                _ingress([_peer(NS_MONITORING, PROMETHEUS_POD_LABELS)], _ports(api.METRICS_PORT)),
            ),
            egress=(
                dns_egress(),
                _egress([_peer(pods=POSTGRES_POD_LABELS)], _ports(data.POSTGRES_PORT)),
                _egress([_peer(pods=REDIS_POD_LABELS)], _ports(data.REDIS_PORT)),
            ),
        ),
        PolicySpec("postgres-network-policy", NS_PROD, POSTGRES_POD_LABELS,
                   ingress=(_ingress([_peer(pods=API_POD_LABELS)], _ports(data.POSTGRES_PORT)),)),
        PolicySpec("redis-network-policy", NS_PROD, REDIS_POD_LABELS,
                   ingress=(_ingress([_peer(pods=API_POD_LABELS)], _ports(data.REDIS_PORT)),)),
        PolicySpec("acme-http01-solver", NS_PROD, ACME_SOLVER_LABELS,
                   ingress=(_ingress(solver_peers, _ports(ACME_SOLVER_PORT)),)),
    ]


def kubernetes_api(config: DocRagConfig) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Where the API server answers, as a pod sees it after the `kubernetes` Service is resolved.

    EKS (private endpoint access on) serves the API on 443 from ENIs it places in the cluster's subnets:
    the private subnets (components/eks.py), not the whole VPC. Pods get addresses from those same subnets
    (VPC CNI), so the rule cannot exclude them: docs/security.md names what that leaves open. An existing
    cluster's API address is unknown to the program: any address, on the usual API ports only (443, and
    6443 of kubeadm-style clusters)."""
    if config.cluster.mode == "eks":
        from components.network import subnet_cidrs  # here, so `existing` mode never loads pulumi_aws

        _, private = subnet_cidrs(config.cluster.vpcCidr, config.cluster.availabilityZones)
        return tuple(private), (443,)
    return ("0.0.0.0/0",), (443, 6443)


def monitoring_policies(config: DocRagConfig, edge: EdgePeers) -> list[PolicySpec]:
    api_cidrs, api_ports = kubernetes_api(config)
    return [
        default_deny(NS_MONITORING),
        PolicySpec(
            "prometheus-network-policy", NS_MONITORING, PROMETHEUS_POD_LABELS,
            ingress=(_ingress([_peer(pods=GRAFANA_POD_LABELS)], _ports(PROMETHEUS_PORT)),),
            egress=(
                dns_egress(),
                _egress([_peer(NS_PROD, API_POD_LABELS)], _ports(api.METRICS_PORT)),
                # The edge SLO's scrape. doc-rag-ingress isolates no pod, so no ingress rule is needed there.
                *([_egress(_ingress_nginx(edge), _ports(obs.INGRESS_METRICS_PORT))] if _ingress_nginx(edge) else []),
                # kubernetes_sd_configs: list/watch endpoints, pods, services through the API server.
                _egress([_peer(cidr=cidr) for cidr in api_cidrs], _ports(*api_ports)),
            ),
        ),
        PolicySpec(
            "grafana-network-policy", NS_MONITORING, GRAFANA_POD_LABELS,
            egress=(dns_egress(), _egress([_peer(pods=PROMETHEUS_POD_LABELS)], _ports(PROMETHEUS_PORT))),
        ),
    ]


def tracing_policies(config: DocRagConfig) -> list[PolicySpec]:
    """Only with Jaeger on: the API pods send OTLP (gRPC 4317, HTTP 4318) to Jaeger's collector, and Jaeger
    accepts exactly that. Its UI and admin ports get no rule (kubectl port-forward only); it reaches nothing."""
    if not config.observability.jaeger:
        return []
    otlp = _ports(obs.JAEGER_OTLP_GRPC_PORT, obs.JAEGER_OTLP_HTTP_PORT)
    return [
        # A policy of its own (Egress only), so doc-rag-network-policy is the same with Jaeger off or on.
        PolicySpec("api-otlp-egress", NS_PROD, API_POD_LABELS,
                   egress=(_egress([_peer(NS_MONITORING, JAEGER_POD_LABELS)], otlp),), types=("Egress",)),
        PolicySpec("jaeger-network-policy", NS_MONITORING, JAEGER_POD_LABELS,
                   ingress=(_ingress([_peer(NS_PROD, API_POD_LABELS)], otlp),)),
    ]


def alerting_policies(config: DocRagConfig) -> list[PolicySpec]:
    """Only with observability.alertmanagerUrl: Prometheus may open that URL's port, to any address (the
    Alertmanager's address is a name the program cannot resolve; docs/security.md says what that allows)."""
    if config.observability.alertmanagerUrl is None:
        return []
    _, _, port, _ = obs.alertmanager_endpoint(config.observability.alertmanagerUrl)
    # A policy of its own (Egress only), so prometheus-network-policy is the same with or without it.
    return [PolicySpec("prometheus-alertmanager-egress", NS_MONITORING, PROMETHEUS_POD_LABELS,
                       egress=(_egress([_peer(cidr="0.0.0.0/0")], _ports(port)),), types=("Egress",))]


def outside_the_cluster_network(config: DocRagConfig) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Any address except the instance metadata service and, on EKS, the VPC (its nodes, pods and API ENIs):
    what a pod needs to reach a public registry. An existing cluster's network is unknown to the program."""
    excepted = [str(INSTANCE_METADATA)]
    if config.cluster.mode == "eks":
        excepted.insert(0, config.cluster.vpcCidr)
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0", except_=excepted))


def scanner_policies(config: DocRagConfig) -> list[PolicySpec]:
    """Only with the scanner installed. The operator reads and writes through the API server and is scraped
    by Prometheus; its scan Jobs fetch the vulnerability database (an OCI artifact on mirror.gcr.io) and the
    scanned images' layers from their registries, names a NetworkPolicy cannot hold: HTTPS to any address
    outside the cluster's network (docs/security.md says what that allows)."""
    if not config.platform.installs("trivyOperator"):
        return []
    api_cidrs, api_ports = kubernetes_api(config)
    metrics = _ports(scanner.METRICS_PORT)
    return [
        PolicySpec("trivy-operator-network-policy", NS_SECURITY, scanner.OPERATOR_POD_LABELS,
                   ingress=(_ingress([_peer(NS_MONITORING, PROMETHEUS_POD_LABELS)], metrics),),
                   egress=(_egress([_peer(cidr=cidr) for cidr in api_cidrs], _ports(*api_ports)),)),
        PolicySpec("trivy-scan-job-network-policy", NS_SECURITY, scanner.SCAN_JOB_POD_LABELS,
                   egress=(dns_egress(),
                           _egress([outside_the_cluster_network(config)], _ports(scanner.HTTPS_PORT)))),
        # A policy of its own (Egress only), so prometheus-network-policy is the same with or without the scanner.
        PolicySpec("prometheus-scanner-egress", NS_MONITORING, PROMETHEUS_POD_LABELS,
                   egress=(_egress([_peer(NS_SECURITY, scanner.OPERATOR_POD_LABELS)], metrics),), types=("Egress",)),
    ]


def edge_metadata_guard() -> PolicySpec:
    """The edge namespace runs upstream charts whose flows we do not own, so it is not default-deny; its pods
    (the internet-facing proxies) may reach any pod and any address except the instance metadata service."""
    every_pod = k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=selector())
    return PolicySpec("deny-instance-metadata", NS_INGRESS, {},
                      egress=(_egress([every_pod], []), _egress([_peer(cidr="0.0.0.0/0")], [])), types=("Egress",))


def backup_policies(config: DocRagConfig) -> list[PolicySpec]:
    """Only with Postgres backups (eks): the Postgres pod may open 443 outside the VPC (S3 and STS, whose
    addresses no NetworkPolicy can name; docs/security.md says what that allows), and the backup jobs may
    reach the Kubernetes API, where their `kubectl exec` into postgres-0 goes. Nothing may reach the jobs."""
    if not config.backups:
        return []
    api_cidrs, api_ports = kubernetes_api(config)
    return [
        # A policy of its own (Egress only), so postgres-network-policy is the same with backups off or on.
        PolicySpec("postgres-backup-egress", NS_PROD, POSTGRES_POD_LABELS,
                   egress=(dns_egress(), _egress([outside_the_cluster_network(config)], _ports(HTTPS_PORT))),
                   types=("Egress",)),
        PolicySpec("postgres-backup-jobs", NS_PROD, BACKUP_RUNNER_POD_LABELS,
                   egress=(_egress([_peer(cidr=cidr) for cidr in api_cidrs], _ports(*api_ports)),)),
    ]


def network_policies(config: DocRagConfig, edge: EdgePeers) -> list[PolicySpec]:
    return [*prod_policies(edge), *backup_policies(config), *monitoring_policies(config, edge),
            *alerting_policies(config), *tracing_policies(config), default_deny(NS_SECURITY), *scanner_policies(config),
            edge_metadata_guard()]
