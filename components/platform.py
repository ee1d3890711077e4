"""Cluster add-ons every other layer relies on, as pinned Helm releases, and the ClusterIssuer.

ingress-nginx (the `nginx` IngressClass the Ingresses use), cert-manager + ClusterIssuer letsencrypt-prod
(the Ingresses' `cert-manager.io/cluster-issuer`), Istio (CRDs, istiod, the `istio: ingressgateway` gateway the
Istio Gateway selects), metrics-server (HPA, `kubectl top`), and on EKS the AWS Load Balancer Controller
(the NLB annotations) and cluster-autoscaler (3..5 nodes), both with IRSA roles from the eks layer, and
Trivy Operator, the image scanner in doc-rag-security (its values: components/scanner.py).

`edge_load_balancer()` is the one decision how the public NLB reaches ingress-nginx: the traffic layer's NLB
Service and ingress-nginx's `use-proxy-protocol` both read it, so the two ends can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import scanner
from components.aws_iam import AUTOSCALER_SA, LB_CONTROLLER_SA
from components.cluster import Cluster
from components.config import PlatformConfig
from components.meta import NS_INGRESS, labels
from components.namespaces import pss_labels

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
CLUSTER_ISSUER = "letsencrypt-prod"
INGRESS_CLASS = "nginx"
ISTIO_NAMESPACE = "istio-system"
CERT_MANAGER_NAMESPACE = "cert-manager"
# The Istio gateway chart derives the `istio:` pod label from the release name minus "istio-".
ISTIO_GATEWAY_RELEASE = "istio-ingressgateway"
ISTIO_GATEWAY_SELECTOR = {"istio": "ingressgateway"}
INGRESS_CONTROLLER_SELECTOR = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/instance": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}

# Chart repositories; versions come from config (validated as exact versions).
REPOS = {
    "ingressNginx": ("ingress-nginx", "https://kubernetes.github.io/ingress-nginx"),
    "certManager": ("cert-manager", "https://charts.jetstack.io"),
    "istio": ("", "https://istio-release.storage.googleapis.com/charts"),  # base, istiod, gateway
    "awsLoadBalancerController": ("aws-load-balancer-controller", "https://aws.github.io/eks-charts"),
    "metricsServer": ("metrics-server", "https://kubernetes-sigs.github.io/metrics-server/"),
    "clusterAutoscaler": ("cluster-autoscaler", "https://kubernetes.github.io/autoscaler"),
    "trivyOperator": ("trivy-operator", scanner.CHART_REPOSITORY),
}

# The AWS Load Balancer Controller's default `--load-balancer-class`: a Service with this class is reconciled
# by that controller only (the in-tree cloud provider ignores Services that set any class).
AWS_NLB_CLASS = "service.k8s.aws/nlb"


@dataclass(frozen=True)
class EdgeLoadBalancer:
    """How the public NLB in front of ingress-nginx is provisioned and what it sends.

    PROXY protocol v2 has two ends: the NLB target groups (Service annotation) and ingress-nginx
    (`use-proxy-protocol`). One end alone breaks every connection (nginx waits for a PROXY header that
    never comes, or reads one as a malformed request), so both are rendered from this one value."""

    load_balancer_class: Optional[str] = None  # set: the AWS Load Balancer Controller owns the NLB
    proxy_protocol: bool = False  # the NLB prepends PROXY v2 (the client address) and ingress-nginx expects it


def edge_load_balancer(cluster_mode: str, config: PlatformConfig, ingress_nginx: bool = True) -> EdgeLoadBalancer:
    """eks: the AWS Load Balancer Controller (installed here, or already running when `install: false`) owns
    the NLB, which then carries client addresses over PROXY v2 so NGINX rate-limits per client, not per NLB
    node. That needs ingress-nginx's config, which is ours only when this stack installs it. existing mode:
    whatever load balancer the cluster has; nothing is assumed about it. `ingress_nginx`: whether the routers
    need it at all (components/traffic.py platform_needs); another edge gets no PROXY v2."""
    if cluster_mode != "eks":
        return EdgeLoadBalancer()
    return EdgeLoadBalancer(load_balancer_class=AWS_NLB_CLASS,
                            proxy_protocol=ingress_nginx and config.installs("ingressNginx"))


# cluster-autoscaler's minor version must match the control plane's: the newest patch of each minor
# (kubernetes/autoscaler releases cluster-autoscaler-1.33.6 / 1.34.5 / 1.35.2, images on registry.k8s.io).
AUTOSCALER_IMAGE_TAGS = {"1.33": "v1.33.6", "1.34": "v1.34.5", "1.35": "v1.35.2"}

# The traffic layer's NLB Service (components/traffic.py NLB_SERVICE): ingress-nginx publishes its address
# into every Ingress status, so `kubectl get ingress` shows the NLB instead of a ClusterIP.
EDGE_SERVICE = f"{NS_INGRESS}/api-service-alb"

# Gateway API v1 CRDs (standard channel), pinned: installed only when a router needs them (traffic.edge).
# Istio 1.30 implements this version; the Go module sigs.k8s.io/gateway-api at the same tag holds the same CRDs.
GATEWAY_API_VERSION = "v1.6.3"
GATEWAY_API_CRDS = ("https://github.com/kubernetes-sigs/gateway-api/releases/download/"
                    f"{GATEWAY_API_VERSION}/standard-install.yaml")

# Namespaces the charts install into, created here with Pod Security labels instead of by Helm (which
# would leave them unlabelled). cert-manager's chart runs restricted-compliant pods (non-root, seccomp
# RuntimeDefault, no capabilities). istio-system holds only istiod here (no istio-cni DaemonSet, which
# would need privileged): baseline is enforced, restricted audited and warned.
ADDON_NAMESPACE_PSS = {CERT_MANAGER_NAMESPACE: "restricted", ISTIO_NAMESPACE: "baseline"}


@dataclass(frozen=True)
class AddonsReady:
    """The add-on releases objects of other layers wait for, each [] when this stack does not install it."""

    ingress: Sequence[pulumi.Resource]  # ingress-nginx, for the Ingresses
    cert_manager: Sequence[pulumi.Resource]  # cert-manager and the ClusterIssuer, for Ingress TLS
    istio: Sequence[pulumi.Resource]  # Istio CRDs and istiod, for Gateway/VirtualService/DestinationRule
    gateway_api: Sequence[pulumi.Resource]  # the Gateway API CRDs, for HTTPRoute
    load_balancer: Sequence[pulumi.Resource]  # the AWS Load Balancer Controller, for the NLB Service


@dataclass
class PlatformArgs:
    config: PlatformConfig
    kubernetes_version: str
    cluster: Cluster  # eks: the IRSA roles, VPC, region and cluster name the AWS add-ons are configured with
    namespaces: Mapping[str, pulumi.Resource]  # Namespaces.by_name
    edge: EdgeLoadBalancer  # edge_load_balancer(): ingress-nginx's end of PROXY v2
    ingress_nginx: bool = True  # a router or the edge needs ingress-nginx (components/traffic.py platform_needs)
    gateway_api: bool = False  # a router needs the Gateway API CRDs


class Platform(pulumi.ComponentResource):
    """`ready` (AddonsReady) is what other layers depend on. `load_balancer_ready` (the AWS Load Balancer
    Controller release when this stack installs it, else []): the NLB Service must depend on it, so it is
    created after the controller runs and, on destroy, deleted while the controller is still there to remove
    the NLB and the finalizer it put on the Service."""

    def __init__(self, name: str, args: PlatformArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:platform:Platform", name, None, opts)
        config, cluster, kubernetes_version = args.config, args.cluster, args.kubernetes_version
        ingress_nginx = args.ingress_nginx
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        self.istio_ready: list[pulumi.Resource] = []
        self.cert_manager_ready: list[pulumi.Resource] = []
        self.ingress_ready: list[pulumi.Resource] = []
        self.load_balancer_ready: list[pulumi.Resource] = []
        self.gateway_api_ready: list[pulumi.Resource] = []
        ingress_ns = args.namespaces[NS_INGRESS]

        # First, so every release that creates Services can wait for it (below).
        if cluster.eks is not None and cluster.network is not None:
            if config.installs("awsLoadBalancerController"):
                assert cluster.eks.lb_controller_role is not None  # created because this add-on is installed
                self.load_balancer_ready.append(self._release(
                    "aws-load-balancer-controller", "awsLoadBalancerController", config,
                    namespace=LB_CONTROLLER_SA.namespace,
                    depends_on=[*cluster.eks.lb_controller_role.attachments],
                    values={
                        "clusterName": cluster.cluster_name,
                        "region": cluster.region,
                        "vpcId": cluster.network.vpc.id,
                        "replicaCount": 2,
                        # Off: the webhook would make this controller the default for every LoadBalancer
                        # Service and, with failurePolicy Fail, reject Service creates while its pods are not
                        # ready. Our NLB Service names the controller's class explicitly instead.
                        "enableServiceMutatorWebhook": False,
                        # Our Ingresses are class nginx; this controller's Ingress validation (failurePolicy
                        # Fail, every Ingress in the cluster) would only add a way for them to be refused.
                        "webhookConfig": {"disableIngressValidation": True},
                        "serviceAccount": {
                            "create": True, "name": LB_CONTROLLER_SA.name,
                            "annotations": {ROLE_ARN_ANNOTATION: cluster.eks.lb_controller_role.arn},
                        },
                    },
                ))
            if config.installs("clusterAutoscaler"):
                assert cluster.eks.autoscaler_role is not None
                self._release(
                    "cluster-autoscaler", "clusterAutoscaler", config, namespace=AUTOSCALER_SA.namespace,
                    depends_on=[*cluster.eks.autoscaler_role.attachments],
                    values={
                        "cloudProvider": "aws",
                        "awsRegion": cluster.region,
                        # Builds --node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/{enabled,<name>}
                        "autoDiscovery": {"clusterName": cluster.cluster_name},
                        "image": {"tag": AUTOSCALER_IMAGE_TAGS[kubernetes_version]},
                        "extraArgs": {"balance-similar-node-groups": True, "expander": "least-waste",
                                      "skip-nodes-with-system-pods": False},
                        "rbac": {"serviceAccount": {
                            "create": True, "name": AUTOSCALER_SA.name,
                            "annotations": {ROLE_ARN_ANNOTATION: cluster.eks.autoscaler_role.arn},
                        }},
                    },
                )
        services_after = list(self.load_balancer_ready)

        if ingress_nginx and config.installs("ingressNginx"):  # only while a router needs it
            self.ingress_ready.append(self._release(
                "ingress-nginx", "ingressNginx", config, namespace=NS_INGRESS,
                depends_on=[ingress_ns, *services_after],
                values={"controller": {
                    "replicaCount": 2,
                    "ingressClass": INGRESS_CLASS,
                    "ingressClassResource": {"name": INGRESS_CLASS, "enabled": True, "default": False},
                    # The traffic layer's NLB Service is the one public entry point; no second LB here.
                    "service": {"type": "ClusterIP"},
                    # ...and its address is what Ingress status reports.
                    "publishService": {"enabled": True, "pathOverride": EDGE_SERVICE},
                    "allowSnippetAnnotations": False,
                    "metrics": {"enabled": True},
                    # Rendered into the controller ConfigMap; must match the NLB's proxy-protocol annotation.
                    "config": {"use-proxy-protocol": "true" if args.edge.proxy_protocol else "false"},
                }},
            ))

        if config.installs("certManager"):
            cert_manager_ns = self._addon_namespace(CERT_MANAGER_NAMESPACE, kubernetes_version)
            self.cert_manager_ready.append(self._release(
                "cert-manager", "certManager", config, namespace=CERT_MANAGER_NAMESPACE,
                depends_on=[cert_manager_ns, *services_after],
                values={"crds": {"enabled": True, "keep": True}},
            ))
        if config.clusterIssuer:
            # Ours even when cert-manager is pre-installed: our Ingresses reference it by name. Its CRD comes
            # with cert-manager, so it is applied after the release when this stack installs it.
            assert config.acmeEmail is not None  # the config model requires it with clusterIssuer
            self.cert_manager_ready.append(self._cluster_issuer(config.acmeEmail, list(self.cert_manager_ready)))

        if args.gateway_api and config.enabled:  # before istiod, which reads these CRDs when it starts
            self.gateway_api_ready.append(k8s.yaml.v2.ConfigFile(
                "gateway-api-crds", file=GATEWAY_API_CRDS, opts=pulumi.ResourceOptions(parent=self)))

        if config.installs("istio"):
            istio_ns = self._addon_namespace(ISTIO_NAMESPACE, kubernetes_version)
            base = self._release(
                "istio-base", "istio", config, chart="base", namespace=ISTIO_NAMESPACE,
                depends_on=[istio_ns], values={"defaultRevision": "default"},
            )
            istiod = self._release(
                "istiod", "istio", config, chart="istiod", namespace=ISTIO_NAMESPACE,
                depends_on=[base, *self.gateway_api_ready, *services_after],
                values={"pilot": {"autoscaleMin": 2}, "meshConfig": {"accessLogFile": "/dev/stdout"}},
            )
            self._release(
                ISTIO_GATEWAY_RELEASE, "istio", config, chart="gateway", namespace=NS_INGRESS,
                depends_on=[istiod, ingress_ns, *services_after],
                values={"service": {"type": "ClusterIP"}, "autoscaling": {"minReplicas": 2}},
            )
            self.istio_ready = [base, istiod]

        if config.installs("metricsServer"):
            self._release("metrics-server", "metricsServer", config, namespace="kube-system",
                          depends_on=services_after, values={})

        if config.installs("trivyOperator"):
            # Into the namespace the Namespaces component labels "restricted"; the chart creates none itself.
            self._release(scanner.RELEASE, "trivyOperator", config, namespace=scanner.NAMESPACE,
                          depends_on=[args.namespaces[scanner.NAMESPACE], *services_after],
                          values=scanner.values())

        self.ready = AddonsReady(self.ingress_ready, self.cert_manager_ready, self.istio_ready,
                                 self.gateway_api_ready, self.load_balancer_ready)
        self.register_outputs({"releases": sorted(self.releases), "clusterIssuer": CLUSTER_ISSUER})

    def _addon_namespace(self, namespace: str, kubernetes_version: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            namespace,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={**labels("namespace", namespace),
                        **pss_labels(ADDON_NAMESPACE_PSS[namespace], kubernetes_version)},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _release(self, name: str, addon: str, config: PlatformConfig, *, namespace: str, values: dict[str, Any],
                 chart: Optional[str] = None,
                 depends_on: Optional[list[pulumi.Resource]] = None) -> k8s.helm.v3.Release:
        default_chart, repo = REPOS[addon]
        release = k8s.helm.v3.Release(
            name,
            name=name,  # a fixed release name, not an auto-suffixed one: selectors and docs rely on it
            chart=chart or default_chart,
            version=getattr(config, addon).version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            namespace=namespace,
            values=values,
            timeout=900,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
        )
        self.releases[name] = release
        return release

    def _cluster_issuer(self, email: str, depends_on: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            CLUSTER_ISSUER,
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CLUSTER_ISSUER, labels=labels("certificate-issuer", CLUSTER_ISSUER)
            ),
            spec={"acme": {
                "server": "https://acme-v02.api.letsencrypt.org/directory",
                "email": email,
                "privateKeySecretRef": {"name": f"{CLUSTER_ISSUER}-account-key"},
                # ClusterIP: ingress-nginx reaches the solver inside the cluster, so no NodePort is opened
                # (the application namespaces' quotas allow none).
                "solvers": [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS, "serviceType": "ClusterIP"}}}],
            }},
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
