"""The top component: the whole Doc-RAG system, built from one validated config."""

from __future__ import annotations

from typing import Optional

import pulumi

from components.api import Api, ApiArgs
from components.cluster import IRSA_ADDONS, Cluster, ClusterArgs
from components.config import DocRagConfig, Secrets
from components.data import Data, DataArgs
from components.meta import NS_PROD
from components.namespaces import Namespaces, NamespacesArgs
from components.observability import Observability, ObservabilityArgs
from components.platform import INGRESS_CONTROLLER_SELECTOR, Platform, PlatformArgs, edge_load_balancer
from components.postgres_backup import postgres_backup
from components.routers import REGISTRY
from components.security import EdgePeers, SecurityArgs, SecurityPolicies
from components.traffic import Traffic, TrafficArgs, platform_needs, platform_site


class DocRag(pulumi.ComponentResource):
    def __init__(self, name: str, config: DocRagConfig, secrets: Secrets,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:index:DocRag", name, None, opts)
        irsa_addons = frozenset(addon for addon in IRSA_ADDONS if config.platform.installs(addon))
        self.cluster = Cluster("cluster", ClusterArgs(config.cluster, config.kubernetesVersion, config.domain,
                                                      irsa_addons), opts=pulumi.ResourceOptions(parent=self))
        # Every Kubernetes child below inherits the explicit provider through this parent.
        k8s_opts = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider})
        needs = platform_needs(config)  # ingress-nginx and the Gateway API CRDs only for a router needing them
        ingress_nginx = "ingress" in needs
        edge = edge_load_balancer(config.cluster.mode, config.platform, ingress_nginx)
        self.namespaces = Namespaces("namespaces", NamespacesArgs(
            config.kubernetesVersion, readiness_gates=edge.load_balancer_class is not None), opts=k8s_opts)

        # -- platform add-ons (components/platform.py) --
        # Traffic objects wait for the add-ons they need (self.platform.ready: Istio CRDs, cert-manager, ...).
        self.platform = Platform("platform", PlatformArgs(
            config.platform, config.kubernetesVersion, self.cluster, self.namespaces.by_name, edge,
            ingress_nginx=ingress_nginx, gateway_api="gateway_api" in needs), opts=k8s_opts)

        # -- workloads (components/data.py, components/api.py) --
        prod_namespace = self.namespaces.by_name[NS_PROD]
        backup = postgres_backup(config, self.cluster, prod_namespace, pulumi.ResourceOptions(parent=self), k8s_opts)
        self.data = Data("data", DataArgs(config, secrets, self.cluster.storage_class_name, prod_namespace,
                                          storage_ready=self.cluster.storage_ready,
                                          backup=backup.wiring if backup else None),
                         opts=k8s_opts)
        self.api = Api("api", ApiArgs(config, prod_namespace, self.data.secret), opts=k8s_opts)

        # -- traffic (components/traffic.py) --
        self.traffic = Traffic("traffic", TrafficArgs(
            config, self.namespaces.by_name, self.api.serving, self.cluster.certificate_arn, edge, self.platform.ready,
        ), opts=k8s_opts)
        # A retired colour scales to 0 only after every router left it, so its Deployment comes after Traffic.
        self.api.retire(self.traffic.routing)

        # -- security (components/security.py: network policies, quotas) --
        public = REGISTRY[config.traffic.edge].edge_target(platform_site())
        peers = EdgePeers(ingress_pods=dict(INGRESS_CONTROLLER_SELECTOR) if ingress_nginx else None,
                          edge_namespace=public.namespace, edge_pods=public.selector)
        self.security = SecurityPolicies("security", SecurityArgs(config, self.namespaces.by_name, peers),
                                         opts=k8s_opts)

        # -- observability (components/observability.py) --
        self.observability = Observability(
            "observability",
            ObservabilityArgs(config.observability, config.release, self.cluster.storage_class_name,
                              self.namespaces.by_name, secrets.grafana_admin_password,
                              storage_ready=self.cluster.storage_ready,
                              scan_images=config.platform.installs("trivyOperator")),
            opts=k8s_opts)

        self.outputs: dict[str, pulumi.Input] = {
            "domain": config.domain,
            "apiUrl": f"https://{config.domain}",  # what `ops promote` smoke-checks after the flip
            "activeColor": config.release.activeColor,
            "canaryWeight": config.release.canaryWeight,
            # The verdicts of `ops promote`, as deployed: resume point and audit trail (docs/operations.md).
            "releaseHistory": [verdict.model_dump(exclude_none=True) for verdict in config.release.history],
            "images": {color: config.release.color(color).image for color in ("blue", "green")},  # resume/rollback
            "namespaces": list(self.namespaces.by_name),
            **self.cluster.outputs,  # eks: cluster, endpoint, kubeconfig (secret), VPC, subnets, certificate, node role
            **self.observability.outputs,  # in-cluster health URLs (Prometheus, Grafana, Jaeger when on)
            "traffic": self.traffic.outputs,  # active/canary colour, weight, per-colour weights, host
        }
        if backup is not None:
            self.outputs["postgresBackup"] = backup.outputs  # bucket, stanza, jobs: what `ops restore` needs
        self.register_outputs(self.outputs)
