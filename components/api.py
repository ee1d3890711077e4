"""The API: one Deployment per colour (README, deviation 2), its HPA and PDB, a ServiceAccount.

Both colours always exist as objects with fixed names (`api-deployment-blue`, `api-deployment-green`), so
a release only ever changes a colour's image or replicas — never a name or a selector, which would
replace the Deployment. Which colour serves is decided by the Services in components/traffic.py.

Quota-relevant numbers are module constants (API_RESOURCES, MAX_SURGE, HPA_MAX_REPLICAS) and
`max_replicas()`, so components/quotas.py sizes ResourceQuota / LimitRange from the same source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.checkov_exceptions import checkov_skips
from components.config import COLORS, ColorConfig, DocRagConfig
from components.container_hardening import PULL_POLICY, container_security_context, pod_security_context
from components.data import KEY_DATABASE_URL, KEY_REDIS_URL, secret_env
from components.meta import APP, NS_PROD, child, labels


class HttpProbe(NamedTuple):
    path: str
    initial_delay_seconds: int
    period_seconds: int


COMPONENT = "api"
SERVICE_ACCOUNT = "doc-rag-api"
API_UID = 1001  # the image's USER 1001:1001
HTTP_PORT = 8080
METRICS_PORT = 9090
METRICS_PATH = "/metrics"
# THE scrape contract (the one copy): the API Services and pod template carry it, and Prometheus' job keeps
# the endpoints that have it (components/traffic.py, components/observability.py).
SCRAPE_ANNOTATIONS = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": str(METRICS_PORT),
    "prometheus.io/path": METRICS_PATH,
}
# Rollout, resources and probes.
MAX_UNAVAILABLE = 1
MAX_SURGE = 2
API_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
LIVENESS = HttpProbe("/health", initial_delay_seconds=30, period_seconds=10)
READINESS = HttpProbe("/ready", initial_delay_seconds=5, period_seconds=5)
# Draining a terminating pod: it stays up for PRESTOP_SLEEP_SECONDS after deletion while the EndpointSlice
# change reaches ingress-nginx' upstream list and kube-proxy, so no new request lands on a stopping server;
# then SIGTERM. The grace period covers that sleep plus the longest request we budget for (3
# tries x 10 s perTryTimeout = 30 s) plus 5 s to exit.
PRESTOP_SLEEP_SECONDS = 10
LONGEST_REQUEST_SECONDS = 30
TERMINATION_GRACE_SECONDS = PRESTOP_SLEEP_SECONDS + LONGEST_REQUEST_SECONDS + 5
# Autoscaling: from the colour's replicas up to this many pods (never below the configured replicas).
HPA_MAX_REPLICAS = 10
HPA_CPU_UTILIZATION = 70
HPA_MEMORY_UTILIZATION = 80
# Retiring sets replicas 0 over the HPA's last write to the field (its HPA is deleted only at the end of the
# `up`): Pulumi's documented annotation to force server-side apply conflicts.
RETIRE_ANNOTATIONS = {"pulumi.com/patchForce": "true"}
# release.requireDigest on the Deployments it governs: the policy pack's images-digest-required reads it
# (policies/digest_rules.py), so `pulumi preview --policy-pack` enforces digests without a config file.
REQUIRE_DIGEST_ANNOTATIONS = {"doc-rag/require-digest": "true"}
ZONE_KEY = "topology.kubernetes.io/zone"


def deployment_name(color: str) -> str:
    return f"api-deployment-{color}"


def hpa_name(color: str) -> str:
    return f"api-hpa-{color}"


def pdb_name(color: str) -> str:
    return f"api-pdb-{color}"


def pod_selector(color: str) -> dict[str, str]:
    """The immutable Deployment selector, also what the traffic Services select."""
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": COMPONENT, "version": color}


def image_version(image: str) -> str:
    """app.kubernetes.io/version for an image: its tag without any digest, or "digest" when it is pinned by
    digest only; clipped to a valid label value (63 characters, alphanumeric at both ends)."""
    reference = image.split("@", 1)[0]
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:  # no tag; a ':' before a '/' is a registry port
        return "digest"
    return tag[:63].strip("._-") or "digest"


def deployment_replicas(color: ColorConfig) -> Optional[int]:
    """spec.replicas of a colour's Deployment: unset while its HPA owns the count, 0 to retire it.

    The HPA writes spec.replicas through the scale subresource (field manager kube-controller-manager). If
    Pulumi also set it, server-side apply would refuse the next `up` touching the Deployment (a field
    conflict) or, forced, reset the HPA's count. Unset, the HPA alone owns it and minReplicas (the
    configured replicas, 3 by default) is the floor. On the first create the Deployment starts at
    Kubernetes' default of 1 pod and the HPA raises it to minReplicas at its next sync (about 15 s); a
    colour revived from 0 does the same."""
    return None if color.replicas > 0 else 0


def max_replicas(color: ColorConfig) -> int:
    return max(HPA_MAX_REPLICAS, color.replicas)


@dataclass
class ApiArgs:
    config: DocRagConfig
    namespace: pulumi.Resource  # doc-rag-prod
    secret: pulumi.Resource  # doc-rag-secrets (components/data.py)


class Api(pulumi.ComponentResource):
    """The ServiceAccount and each live colour's Deployment, HPA and PDB; a retired colour's Deployment comes
    from `retire()`, which DocRag calls once the traffic layer exists."""

    def __init__(self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:api:Api", name, None, opts)
        self._args = args
        self.service_account = k8s.core.v1.ServiceAccount(
            SERVICE_ACCOUNT,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE_ACCOUNT, namespace=NS_PROD, labels=labels(COMPONENT)),
            # The API never talks to the Kubernetes API: no token in its pods.
            automount_service_account_token=False,
            opts=self._opts(),
        )
        self.deployments: dict[str, k8s.apps.v1.Deployment] = {}
        # The live colours' Deployments: the traffic layer routes to a colour only after its rollout is done.
        self.serving: list[pulumi.Resource] = []
        for color in COLORS:
            color_config = args.config.release.color(color)
            if color_config.replicas > 0:  # a retired colour (scaled to 0) gets no HPA and no PDB
                self.deployments[color] = self._deployment(color, color_config)
                self.serving.append(self.deployments[color])
                self._autoscaler(color, color_config)
                self._disruption_budget(color)
        self.register_outputs({"deployments": [deployment_name(color) for color in COLORS]})

    def retire(self, routers: Sequence[pulumi.Resource]) -> None:
        """The Deployments of the retired colours (replicas 0), each scaled to 0 only after every object in
        `routers` (Traffic.routing) moved away from it, in the same `up` (docs/traffic.md). Called once the
        traffic layer exists; until then a retired colour has no Deployment object."""
        for color in COLORS:
            color_config = self._args.config.release.color(color)
            if color_config.replicas == 0:
                self.deployments[color] = self._deployment(color, color_config, after=routers)

    def _opts(self, *after: pulumi.Resource) -> pulumi.ResourceOptions:
        return child(self, depends_on=[self._args.namespace, *after])

    def _deployment(self, color: str, cfg: ColorConfig,
                    after: Sequence[pulumi.Resource] = ()) -> k8s.apps.v1.Deployment:
        name = deployment_name(color)
        container = k8s.core.v1.ContainerArgs(
            name="api",
            image=cfg.image,
            image_pull_policy=PULL_POLICY,
            ports=[
                k8s.core.v1.ContainerPortArgs(name="http", container_port=HTTP_PORT),
                k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT),
            ],
            env=[
                k8s.core.v1.EnvVarArgs(name="RUST_LOG", value="info"),
                secret_env("DATABASE_URL", KEY_DATABASE_URL),
                secret_env("REDIS_URL", KEY_REDIS_URL),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests=API_RESOURCES["requests"], limits=API_RESOURCES["limits"]
            ),
            liveness_probe=_http_probe(LIVENESS),
            readiness_probe=_http_probe(READINESS),
            # The kubelet's built-in sleep action (Kubernetes >= 1.30; we require 1.33): no `sleep` binary
            # needed in the image.
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                    sleep=k8s.core.v1.SleepActionArgs(seconds=PRESTOP_SLEEP_SECONDS))),
            security_context=container_security_context(),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        selector = pod_selector(color)
        # The image tag as the app's version, on the Deployment and its pods only: the selector stays stable.
        pod_labels = labels(COMPONENT, color=color, app_version=image_version(cfg.image))
        return k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=NS_PROD, labels=pod_labels,
                annotations={**checkov_skips("CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_35",
                                             CKV_K8S_40="UID 1001 is the seed image's USER 1001:1001"),
                             **({} if cfg.replicas > 0 else RETIRE_ANNOTATIONS),
                             **(REQUIRE_DIGEST_ANNOTATIONS if self._args.config.release.requireDigest else {})},
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=deployment_replicas(cfg),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=MAX_UNAVAILABLE, max_surge=MAX_SURGE
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=pod_labels,
                        annotations=dict(SCRAPE_ANNOTATIONS),
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=SERVICE_ACCOUNT,
                        automount_service_account_token=False,
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                        security_context=pod_security_context(API_UID),
                        # Prefer one zone per replica; ScheduleAnyway so a surge or a lost zone never
                        # leaves replacement pods pending.
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key=ZONE_KEY,
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                            )
                        ],
                        containers=[container],
                        volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())],
                    ),
                ),
            ),
            opts=child(self, depends_on=[self._args.namespace, self.service_account, self._args.secret, *after]),
        )

    def _autoscaler(self, color: str, cfg: ColorConfig) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
        def utilization(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgs:
            return k8s.autoscaling.v2.MetricSpecArgs(
                type="Resource",
                resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                    name=resource,
                    target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=percent),
                ),
            )

        return k8s.autoscaling.v2.HorizontalPodAutoscaler(
            hpa_name(color),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=hpa_name(color), namespace=NS_PROD, labels=labels(COMPONENT, color=color)
            ),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment_name(color)
                ),
                min_replicas=cfg.replicas,
                max_replicas=max_replicas(cfg),
                metrics=[utilization("cpu", HPA_CPU_UTILIZATION), utilization("memory", HPA_MEMORY_UTILIZATION)],
            ),
            opts=self._opts(self.deployments[color]),
        )

    def _disruption_budget(self, color: str) -> k8s.policy.v1.PodDisruptionBudget:
        # Same bound as the rolling update: voluntary evictions never take more than one pod at a time.
        return k8s.policy.v1.PodDisruptionBudget(
            pdb_name(color),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=pdb_name(color), namespace=NS_PROD, labels=labels(COMPONENT, color=color)
            ),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=MAX_UNAVAILABLE,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod_selector(color)),
            ),
            opts=self._opts(self.deployments[color]),
        )


def _http_probe(probe: HttpProbe) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=probe.path, port=HTTP_PORT),
        initial_delay_seconds=probe.initial_delay_seconds,
        period_seconds=probe.period_seconds,
    )

