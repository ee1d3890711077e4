"""Observability in doc-rag-monitoring: Prometheus (scrape config, rules, server), Grafana, optional Jaeger.

Scrape contract with the traffic layer (components/traffic.py builds `api-service` and
`api-service-canary` in doc-rag-prod): those Services, and no other Service in doc-rag-prod that selects
API pods, carry components/api.py's SCRAPE_ANNOTATIONS (the one copy, built from api.METRICS_PORT and
METRICS_PATH):
    prometheus.io/scrape: "true"   prometheus.io/port: "9090"   prometheus.io/path: "/metrics"
Prometheus discovers their endpoints, scrapes each API pod on the annotated port and path, and copies the
pod labels `version` (colour) and `app.kubernetes.io/component` onto every series as `version` and
`component`, so each query can split stable from canary. The PromQL itself lives in
components/prometheus_rules.py; the dashboard in components/dashboards.py.

The edge is scraped too (job `ingress-nginx`): the ingress-nginx controller pods in doc-rag-ingress, selected
by the labels components/platform.py's chart gives them, on the chart's metrics port 10254, so failures that
never reach the API (NGINX's 503 for a Service without endpoints) count against an edge SLO.

With the image scanner installed (components/scanner.py), its operator is scraped too (job `trivy-operator`):
found through its headless Service's DNS name, so no ServiceMonitor and no Role in doc-rag-security.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import api, dashboards, scanner
from components import prometheus_rules as rules
from components.checkov_exceptions import checkov_skips
from components.config import ObservabilityConfig, ReleaseConfig
from components.container_hardening import PULL_POLICY, container_security_context, pod_security_context
from components.meta import NS_INGRESS, NS_MONITORING, NS_PROD, child, labels
from components.platform import INGRESS_CONTROLLER_SELECTOR

PROMETHEUS_IMAGE = "quay.io/prometheus/prometheus:v2.55.1"
# Tells Prometheus (POST /-/reload) that a mounted ConfigMap changed: a canary step rewrites the rules.
RELOADER_IMAGE = "ghcr.io/jimmidyson/configmap-reload:v0.14.0"
RELOADER_PORT = 9533  # its metrics endpoint, also what its probes ask
GRAFANA_IMAGE = "docker.io/grafana/grafana:11.3.1"
JAEGER_IMAGE = "docker.io/jaegertracing/all-in-one:1.62.0"

PROMETHEUS = "prometheus"  # Service, StatefulSet and ServiceAccount name (T5 allowlists its API token)
PROMETHEUS_PORT = 9090
PROMETHEUS_UID = 65534  # nobody, the user the upstream image runs as
GRAFANA = "grafana"
GRAFANA_PORT = 3000
GRAFANA_UID = 472  # the upstream image's grafana user
JAEGER = "jaeger"
JAEGER_UID = 10001  # the upstream image's user
JAEGER_UI_PORT = 16686
JAEGER_ADMIN_PORT = 14269  # health check endpoint "/"
JAEGER_OTLP_GRPC_PORT = 4317
JAEGER_OTLP_HTTP_PORT = 4318
# ingress-nginx's `controller.metrics.port` default; components/platform.py enables metrics without moving it.
INGRESS_METRICS_PORT = 10254

CONFIG_MAP = "prometheus-config"
RULES_MAP = "prometheus-rules"
DASHBOARDS_MAP = "grafana-dashboards"
GRAFANA_PROVISIONING_MAP = "grafana-provisioning"
CONFIG_DIR = "/etc/prometheus/config"
RULES_DIR = "/etc/prometheus/rules"  # rule_files reads "/etc/prometheus/rules/*.yml"
GRAFANA_ADMIN_SECRET = "grafana-admin"  # owned by the stack, from the secret config key grafanaAdminPassword
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"

PROMETHEUS_URL = f"http://{PROMETHEUS}.{NS_MONITORING}.svc:{PROMETHEUS_PORT}"
GRAFANA_URL = f"http://{GRAFANA}.{NS_MONITORING}.svc:{GRAFANA_PORT}"
PROMETHEUS_HEALTH_URL = f"{PROMETHEUS_URL}/-/healthy"
GRAFANA_HEALTH_URL = f"{GRAFANA_URL}/api/health"
JAEGER_UI_URL = f"http://{JAEGER}.{NS_MONITORING}.svc:{JAEGER_UI_PORT}"

# Sizes and replica counts are module constants (as in components/api.py and data.py) so
# components/quotas.py budgets doc-rag-monitoring's ResourceQuota / LimitRange from the same values.
PROMETHEUS_RESOURCES = {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
RELOADER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
GRAFANA_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
JAEGER_RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
PROMETHEUS_REPLICAS = 1  # a StatefulSet: replaced pod by pod, no surge
GRAFANA_REPLICAS = 1  # Deployments with the default rolling update (25 % surge, rounded up)
JAEGER_REPLICAS = 1

def api_scrape_job() -> dict[str, Any]:
    """The `doc-rag-api` job: keep the annotated endpoints, relabel them, add port, colour and component."""
    return {
        "job_name": rules.JOB,
        "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": [NS_PROD]}}],
        "relabel_configs": [
            # Keep and path, on the annotations of api.SCRAPE_ANNOTATIONS.
            {"source_labels": ["__meta_kubernetes_service_annotation_prometheus_io_scrape"],
             "action": "keep", "regex": api.SCRAPE_ANNOTATIONS["prometheus.io/scrape"]},
            {"source_labels": ["__meta_kubernetes_service_annotation_prometheus_io_path"],
             "action": "replace", "target_label": "__metrics_path__", "regex": "(.+)"},
            # Scrape the annotated port. Every Service port of a pod yields one endpoint target; after this
            # rewrite they share one address and label set, and Prometheus keeps a single target of them.
            {"source_labels": ["__address__", "__meta_kubernetes_service_annotation_prometheus_io_port"],
             "action": "replace", "regex": r"([^:]+)(?::\d+)?;(\d+)", "replacement": "$1:$2",
             "target_label": "__address__"},
            # Colour and component of the pod, so every series splits stable from canary.
            {"source_labels": ["__meta_kubernetes_pod_label_version"], "target_label": rules.COLOR_LABEL},
            {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
             "target_label": rules.COMPONENT_LABEL},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            # No `service` label: at a flip api-service and api-service-canary both select the same pod, and
            # only identical label sets collapse into one target (else `sum by (version)` counts it twice).
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


def _meta_label(label: str) -> str:
    """The discovery meta label of a pod label: `app.kubernetes.io/name` -> `..._app_kubernetes_io_name`."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


def ingress_scrape_job() -> dict[str, Any]:
    """The ingress-nginx controller pods' metrics: pod discovery in doc-rag-ingress, one target per pod."""
    keep_controllers = [{"source_labels": [_meta_label(label)], "action": "keep", "regex": value}
                        for label, value in INGRESS_CONTROLLER_SELECTOR.items()]
    return {
        "job_name": rules.EDGE_JOB,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [NS_INGRESS]}}],
        "relabel_configs": [
            *keep_controllers,
            # The pod role yields a target per container port (http, https, metrics, webhook): keep the metrics one.
            {"source_labels": ["__meta_kubernetes_pod_container_port_number"], "action": "keep",
             "regex": str(INGRESS_METRICS_PORT)},
            # No `namespace` target label: the metric's own `namespace` (the Ingress's) must keep its name.
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


# The operator recomputes its gauges from every report on each scrape, and reports change at most every few
# minutes: once a minute is plenty.
SCANNER_SCRAPE_INTERVAL = "60s"


def scanner_scrape_job() -> dict[str, Any]:
    """Trivy Operator's metrics: the headless Service's A records are the operator pods' addresses. No target
    labels are added: the metrics' own `namespace` (the scanned workload's) must keep its name."""
    return {
        "job_name": rules.SCANNER_JOB,
        "scrape_interval": SCANNER_SCRAPE_INTERVAL,
        "dns_sd_configs": [{"names": [scanner.METRICS_DNS_NAME], "type": "A", "port": scanner.METRICS_PORT}],
    }


def alertmanager_endpoint(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path prefix) of a URL validated by ObservabilityConfig."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname or "", port, parts.path.rstrip("/")


def alerting_config(alertmanager_url: Optional[str]) -> Optional[dict[str, Any]]:
    """Where Prometheus sends firing alerts; None: nowhere (they are only visible in its UI)."""
    if alertmanager_url is None:
        return None
    scheme, host, port, path = alertmanager_endpoint(alertmanager_url)
    target: dict[str, Any] = {"scheme": scheme, "api_version": "v2",
                              "static_configs": [{"targets": [f"{host}:{port}"]}]}
    if path:
        target["path_prefix"] = path
    return {"alertmanagers": [target]}


def prometheus_config(alertmanager_url: Optional[str] = None, scan_images: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "scrape_configs": [
            api_scrape_job(),
            ingress_scrape_job(),
            *([scanner_scrape_job()] if scan_images else []),
            {"job_name": "prometheus", "static_configs": [{"targets": [f"localhost:{PROMETHEUS_PORT}"]}]},
        ],
    }
    alerting = alerting_config(alertmanager_url)
    if alerting is not None:
        config["alerting"] = alerting
    return config


def prometheus_yaml(alertmanager_url: Optional[str] = None, scan_images: bool = False) -> str:
    return yaml.safe_dump(prometheus_config(alertmanager_url, scan_images), sort_keys=False)


@dataclass
class ObservabilityArgs:
    config: ObservabilityConfig
    release: ReleaseConfig
    storage_class_name: str  # the SSD StorageClass (Cluster.storage_class_name)
    namespaces: Mapping[str, pulumi.Resource]  # Namespaces.by_name: monitoring, prod and ingress (discovery Roles)
    grafana_admin_password: pulumi.Output[str]  # Secrets.grafana_admin_password: a secret Output, never in clear
    storage_ready: Sequence[pulumi.Resource] = ()  # the class when this stack creates it (Cluster.storage_ready)
    scan_images: bool = False  # the image scanner is installed (platform.trivyOperator): scrape it


def _metadata(name: str, component: str, **extra: Any) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NS_MONITORING,
                                      labels=labels(component, name=name), **extra)


def _selector(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}


def _http_probe(path: str, port: int, initial_delay: int, period: int = 10) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        initial_delay_seconds=initial_delay, period_seconds=period, timeout_seconds=5, failure_threshold=6,
    )


def _resources(spec: Mapping[str, Mapping[str, str]]) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(requests=dict(spec["requests"]), limits=dict(spec["limits"]))


def _checksum(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class Observability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:observability:Observability", name, None, opts)
        self._namespace = args.namespaces[NS_MONITORING]
        self._prometheus(args)
        self._grafana(args)
        self.jaeger: Optional[k8s.apps.v1.Deployment] = self._jaeger() if args.config.jaeger else None
        self.outputs: dict[str, pulumi.Input] = {
            "prometheusUrl": PROMETHEUS_URL,  # base URL: `ops promote/status/check` query and probe it
            "grafanaUrl": GRAFANA_URL,
            "prometheusHealthUrl": PROMETHEUS_HEALTH_URL,
            "grafanaHealthUrl": GRAFANA_HEALTH_URL,
        }
        if self.jaeger is not None:
            self.outputs["jaegerUrl"] = JAEGER_UI_URL
        self.register_outputs(self.outputs)

    def _in_namespace(self) -> pulumi.ResourceOptions:
        return child(self, depends_on=[self._namespace])

    # -- Prometheus --------------------------------------------------------------------------------------

    def _discovery_role(self, logical_name: str, namespace: str, account: k8s.core.v1.ServiceAccount,
                        args: ObservabilityArgs, rules: list[k8s.rbac.v1.PolicyRuleArgs]) -> None:
        """A Role in `namespace` and its binding to Prometheus' service account."""
        metadata = k8s.meta.v1.ObjectMetaArgs(name="prometheus-discovery", namespace=namespace,
                                              labels=labels("monitoring", name=PROMETHEUS))
        role = k8s.rbac.v1.Role(logical_name, metadata=metadata, rules=rules,
                                opts=child(self, depends_on=[args.namespaces[namespace]]))
        k8s.rbac.v1.RoleBinding(
            logical_name,
            metadata=metadata,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                             name="prometheus-discovery"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=PROMETHEUS, namespace=NS_MONITORING)],
            opts=child(self, depends_on=[role, account]))

    def _prometheus(self, args: ObservabilityArgs) -> None:
        component = "monitoring"
        config_yaml = prometheus_yaml(args.config.alertmanagerUrl, args.scan_images)
        rules_yaml = rules.render_rules(args.release.canary_color, args.release.canaryWeight)
        self.prometheus_config = k8s.core.v1.ConfigMap(
            CONFIG_MAP, metadata=_metadata(CONFIG_MAP, component), data={"prometheus.yml": config_yaml},
            opts=self._in_namespace())
        self.prometheus_rules = k8s.core.v1.ConfigMap(
            RULES_MAP, metadata=_metadata(RULES_MAP, component), data={rules.RULES_FILE: rules_yaml},
            opts=self._in_namespace())

        account = k8s.core.v1.ServiceAccount(
            PROMETHEUS, metadata=_metadata(PROMETHEUS, component),
            automount_service_account_token=True,  # kubernetes_sd_configs reads the API with this token
            opts=self._in_namespace())
        # Discovery read-only and only where it is needed: a Role per namespace, never a ClusterRole.
        read = ["get", "list", "watch"]
        self._discovery_role("prometheus-discovery", NS_PROD, account, args, [
            k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["endpoints", "pods", "services"], verbs=read),
            k8s.rbac.v1.PolicyRuleArgs(api_groups=["discovery.k8s.io"], resources=["endpointslices"], verbs=read)])
        # The edge job's pod discovery in doc-rag-ingress: list/watch only, nothing else there.
        self._discovery_role("prometheus-discovery-ingress", NS_INGRESS, account, args, [
            k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods", "endpoints"], verbs=["list", "watch"])])

        selector = _selector(PROMETHEUS, component)
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="rules", mount_path=RULES_DIR, read_only=True),
        ]
        server = k8s.core.v1.ContainerArgs(
            name=PROMETHEUS,
            image=PROMETHEUS_IMAGE,
            image_pull_policy=PULL_POLICY,
            args=[
                f"--config.file={CONFIG_DIR}/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={args.config.retention}",
                "--web.enable-lifecycle",  # POST /-/reload, used by the reloader below
                f"--web.listen-address=:{PROMETHEUS_PORT}",
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PROMETHEUS_PORT)],
            liveness_probe=_http_probe("/-/healthy", PROMETHEUS_PORT, 30),
            readiness_probe=_http_probe("/-/ready", PROMETHEUS_PORT, 10, 5),
            resources=_resources(PROMETHEUS_RESOURCES),
            security_context=container_security_context(),
            volume_mounts=[*mounts, k8s.core.v1.VolumeMountArgs(name="data", mount_path="/prometheus")],
        )
        reloader = k8s.core.v1.ContainerArgs(
            name="config-reloader",
            image=RELOADER_IMAGE,
            image_pull_policy=PULL_POLICY,
            args=[f"--volume-dir={CONFIG_DIR}", f"--volume-dir={RULES_DIR}",
                  f"--webhook-url=http://127.0.0.1:{PROMETHEUS_PORT}/-/reload",
                  f"--web.listen-address=:{RELOADER_PORT}"],
            ports=[k8s.core.v1.ContainerPortArgs(name="reloader", container_port=RELOADER_PORT)],
            # Its own metrics endpoint is the only thing it serves: up means the watcher is running.
            liveness_probe=_http_probe("/metrics", RELOADER_PORT, 10),
            readiness_probe=_http_probe("/metrics", RELOADER_PORT, 5, 10),
            resources=_resources(RELOADER_RESOURCES),
            security_context=container_security_context(),
            volume_mounts=mounts,
        )
        self.prometheus = k8s.apps.v1.StatefulSet(
            PROMETHEUS,
            metadata=_metadata(PROMETHEUS, component, annotations=checkov_skips(
                "CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_38")),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=PROMETHEUS,
                replicas=PROMETHEUS_REPLICAS,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    # No config checksum here: a changed prometheus.yml or rules file must restart nothing.
                    # The kubelet refreshes the mounted ConfigMaps and the reloader POSTs /-/reload.
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component, name=PROMETHEUS)),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=PROMETHEUS,
                        automount_service_account_token=True,
                        security_context=pod_security_context(PROMETHEUS_UID, fs_group=PROMETHEUS_UID),
                        termination_grace_period_seconds=300,  # let the TSDB flush its head block
                        containers=[server, reloader],
                        volumes=[
                            k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                name=CONFIG_MAP)),
                            k8s.core.v1.VolumeArgs(name="rules", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                name=RULES_MAP)),
                        ],
                    ),
                ),
                volume_claim_templates=[k8s.core.v1.PersistentVolumeClaimArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=labels(component, name=PROMETHEUS)),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=args.storage_class_name,
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                            requests={"storage": args.config.prometheusStorage}),
                    ),
                )],
            ),
            opts=child(self, depends_on=[self._namespace, self.prometheus_config, self.prometheus_rules, account,
                                         *args.storage_ready]),
        )
        k8s.core.v1.Service(
            PROMETHEUS,
            metadata=_metadata(PROMETHEUS, component),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=PROMETHEUS_PORT, target_port="http")],
            ),
            opts=self._in_namespace())

    # -- Grafana -----------------------------------------------------------------------------------------

    def _grafana_admin_secret(self, password: pulumi.Output[str]) -> k8s.core.v1.Secret:
        # string_data from a secret Output: the value reaches the engine wrapped as a secret, never in clear.
        return k8s.core.v1.Secret(
            GRAFANA_ADMIN_SECRET, metadata=_metadata(GRAFANA_ADMIN_SECRET, "dashboards"), type="Opaque",
            string_data={GRAFANA_ADMIN_PASSWORD_KEY: password},
            opts=self._in_namespace())

    def _grafana(self, args: ObservabilityArgs) -> None:
        component = "dashboards"
        admin = self._grafana_admin_secret(args.grafana_admin_password)
        provisioning = k8s.core.v1.ConfigMap(
            GRAFANA_PROVISIONING_MAP, metadata=_metadata(GRAFANA_PROVISIONING_MAP, component),
            data={"datasources.yaml": dashboards.datasources_yaml(PROMETHEUS_URL),
                  "dashboards.yaml": dashboards.provider_yaml()},
            opts=self._in_namespace())
        self.grafana_dashboards = k8s.core.v1.ConfigMap(
            DASHBOARDS_MAP, metadata=_metadata(DASHBOARDS_MAP, component),
            data={dashboards.DASHBOARD_FILE: dashboards.overview_json()},
            opts=self._in_namespace())
        selector = _selector(GRAFANA, component)
        env = {
            "GF_PATHS_DATA": "/var/lib/grafana",
            "GF_PATHS_PROVISIONING": "/etc/grafana/provisioning",
            "GF_LOG_MODE": "console",  # nothing written under the read-only root
            # The admin password is read from the stack's Secret as a file, never from config or env in clear.
            "GF_SECURITY_ADMIN_PASSWORD__FILE": f"/etc/grafana/admin/{GRAFANA_ADMIN_PASSWORD_KEY}",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
            "GF_PLUGINS_PLUGIN_ADMIN_ENABLED": "false",
        }
        container = k8s.core.v1.ContainerArgs(
            name=GRAFANA,
            image=GRAFANA_IMAGE,
            image_pull_policy=PULL_POLICY,
            env=[k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in env.items()],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=GRAFANA_PORT)],
            liveness_probe=_http_probe("/api/health", GRAFANA_PORT, 30),
            readiness_probe=_http_probe("/api/health", GRAFANA_PORT, 10, 5),
            resources=_resources(GRAFANA_RESOURCES),
            security_context=container_security_context(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path="/var/lib/grafana"),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                k8s.core.v1.VolumeMountArgs(name="admin", mount_path="/etc/grafana/admin", read_only=True),
                k8s.core.v1.VolumeMountArgs(name="provisioning", mount_path="/etc/grafana/provisioning",
                                            read_only=True),
                k8s.core.v1.VolumeMountArgs(name="dashboards", mount_path=dashboards.DASHBOARDS_DIR, read_only=True),
            ],
        )
        provisioning_items = [
            k8s.core.v1.KeyToPathArgs(key="datasources.yaml", path="datasources/datasources.yaml"),
            k8s.core.v1.KeyToPathArgs(key="dashboards.yaml", path="dashboards/dashboards.yaml"),
        ]
        k8s.apps.v1.Deployment(
            GRAFANA,
            metadata=_metadata(GRAFANA, component, annotations=checkov_skips(
                "CKV_K8S_43", "CKV_K8S_15", CKV_K8S_40="UID 472 is the image's grafana user, owner of its files")),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=GRAFANA_REPLICAS,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels(component, name=GRAFANA),
                        # Provisioning is read at start: a changed datasource or dashboard rolls the pod.
                        annotations={"doc-rag/provisioning-checksum": _checksum(
                            dashboards.datasources_yaml(PROMETHEUS_URL), dashboards.provider_yaml(),
                            dashboards.overview_json())}),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,  # Grafana never talks to the Kubernetes API
                        security_context=pod_security_context(GRAFANA_UID, fs_group=GRAFANA_UID),
                        containers=[container],
                        volumes=[
                            # Dashboards and datasources are provisioned, so Grafana's database is disposable.
                            k8s.core.v1.VolumeArgs(name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                size_limit="1Gi")),
                            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                size_limit="256Mi")),
                            k8s.core.v1.VolumeArgs(name="admin", secret=k8s.core.v1.SecretVolumeSourceArgs(
                                secret_name=GRAFANA_ADMIN_SECRET,
                                items=[k8s.core.v1.KeyToPathArgs(key=GRAFANA_ADMIN_PASSWORD_KEY,
                                                                 path=GRAFANA_ADMIN_PASSWORD_KEY)])),
                            k8s.core.v1.VolumeArgs(
                                name="provisioning", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=GRAFANA_PROVISIONING_MAP, items=provisioning_items)),
                            k8s.core.v1.VolumeArgs(name="dashboards", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                name=DASHBOARDS_MAP)),
                        ],
                    ),
                ),
            ),
            opts=child(self, depends_on=[self._namespace, admin, provisioning, self.grafana_dashboards]),
        )
        k8s.core.v1.Service(
            GRAFANA,
            metadata=_metadata(GRAFANA, component),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=GRAFANA_PORT, target_port="http")],
            ),
            opts=self._in_namespace())

    # -- Jaeger (optional) -------------------------------------------------------------------------------

    def _jaeger(self) -> k8s.apps.v1.Deployment:
        component = "tracing"
        selector = _selector(JAEGER, component)
        ports = {"ui": JAEGER_UI_PORT, "otlp-grpc": JAEGER_OTLP_GRPC_PORT, "otlp-http": JAEGER_OTLP_HTTP_PORT,
                 "admin": JAEGER_ADMIN_PORT}
        container = k8s.core.v1.ContainerArgs(
            name=JAEGER,
            image=JAEGER_IMAGE,
            image_pull_policy=PULL_POLICY,
            # In-memory storage: traces are for debugging a release, not kept across restarts.
            env=[k8s.core.v1.EnvVarArgs(name="SPAN_STORAGE_TYPE", value="memory"),
                 k8s.core.v1.EnvVarArgs(name="MEMORY_MAX_TRACES", value="50000"),
                 k8s.core.v1.EnvVarArgs(name="COLLECTOR_OTLP_ENABLED", value="true")],
            ports=[k8s.core.v1.ContainerPortArgs(name=name, container_port=port) for name, port in ports.items()],
            liveness_probe=_http_probe("/", JAEGER_ADMIN_PORT, 10),
            readiness_probe=_http_probe("/", JAEGER_ADMIN_PORT, 5, 5),
            resources=_resources(JAEGER_RESOURCES),
            security_context=container_security_context(),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        deployment = k8s.apps.v1.Deployment(
            JAEGER,
            metadata=_metadata(JAEGER, component, annotations=checkov_skips("CKV_K8S_43", "CKV_K8S_15")),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=JAEGER_REPLICAS,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component, name=JAEGER)),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=pod_security_context(JAEGER_UID),
                        containers=[container],
                        volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                            size_limit="256Mi"))],
                    ),
                ),
            ),
            opts=self._in_namespace(),
        )
        k8s.core.v1.Service(
            JAEGER,
            metadata=_metadata(JAEGER, component),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name=name, port=port, target_port=name)
                       for name, port in ports.items()],
            ),
            opts=self._in_namespace())
        return deployment
