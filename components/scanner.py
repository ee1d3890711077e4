"""The in-cluster image scanner: Trivy Operator's Helm values, pod labels and ports, as data.

Pure (no resources): components/platform.py installs the chart with `values()`, components/network_policies.py
writes the scanner's NetworkPolicies from the labels and ports below, components/observability.py scrapes
its metrics. Every key is read from the chart at tag v0.32.0 of aquasecurity/trivy-operator (chart 0.34.0,
deploy/helm/values.yaml and templates/); the chart cannot be fetched here, so what it renders from these
values is reviewed, not validated (docs/security.md, "The scanner").

What runs in doc-rag-security:
- the operator (a Deployment, pods `app.kubernetes.io/name: trivy-operator`): watches workloads in
  SCANNED_NAMESPACES through the API server, audits their config and RBAC in-process (embedded checks, nothing
  downloaded), serves metrics on 8080;
- scan Jobs it creates there (pods `app.kubernetes.io/managed-by: trivy-operator`), at most
  SCAN_JOBS_CONCURRENT at once: Trivy in `image` mode pulls the vulnerability database, an OCI artifact on
  mirror.gcr.io, and the scanned image's layers from its registry, both over HTTPS. Neither is an address a
  NetworkPolicy can name, so the jobs get 443 to any address outside the cluster's network.
"""

from __future__ import annotations

from typing import Any

from components.meta import NS_INGRESS, NS_MONITORING, NS_PROD, NS_SECURITY

RELEASE = "trivy-operator"  # release name = the chart's fullname: Deployment, Service and pod labels follow it
NAMESPACE = NS_SECURITY
CHART_REPOSITORY = "https://aquasecurity.github.io/helm-charts/"

# The workloads of this system, and nothing else of the cluster.
SCANNED_NAMESPACES = (NS_PROD, NS_MONITORING, NS_INGRESS, NS_SECURITY)

# The chart's selector labels (templates/_helpers.tpl "trivy-operator.selectorLabels").
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": RELEASE, "app.kubernetes.io/instance": RELEASE}
# What the operator puts on its vulnerability scan Jobs' pods (pkg/vulnerabilityreport/builder.go).
SCAN_JOB_POD_LABELS = {"app.kubernetes.io/managed-by": "trivy-operator", "vulnerabilityReport.scanner": "Trivy"}

METRICS_PORT = 8080  # container port `metrics` (OPERATOR_METRICS_BIND_ADDRESS ":8080")
# The chart's Service is headless, so its DNS name resolves to the operator pods themselves: Prometheus finds
# them by DNS and needs no Role in doc-rag-security.
METRICS_DNS_NAME = f"{RELEASE}.{NAMESPACE}.svc"

# Where Trivy fetches its vulnerability databases (OCI artifacts, HTTPS). mirror.gcr.io is the chart's default
# since it moved off ghcr.io's rate limits; named here so docs and tests say the same.
DB_REGISTRY = "mirror.gcr.io"
DB_REPOSITORY = "aquasec/trivy-db"
JAVA_DB_REPOSITORY = "aquasec/trivy-java-db"
HTTPS_PORT = 443

# Sized for 3-5 nodes of 4 vCPU / 16 GiB: three jobs at once (one per node at the minimum size) take at
# most 1.5 CPU and 3 GiB together, well inside one node's share of headroom.
SCAN_JOBS_CONCURRENT = 3
SCAN_JOB_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "512Mi", "ephemeralStorage": "2Gi"},
    # The unpacked databases (hundreds of MiB each) and the image layers go to the job's /tmp emptyDir.
    "limits": {"cpu": "500m", "memory": "1Gi", "ephemeralStorage": "4Gi"},
}
OPERATOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}

OPERATOR_UID = 10000  # the operator image's own user (build/trivy-operator/Dockerfile: USER 10000)
# The Trivy image declares no user (it would run as root); `image` mode reads nothing of the node's and
# writes only its cache under /tmp (an emptyDir), so nobody is enough.
SCANNER_UID = 65534

_RUNTIME_DEFAULT = {"type": "RuntimeDefault"}


def _pod_security_context(uid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": _RUNTIME_DEFAULT}


def _container_security_context() -> dict[str, Any]:
    return {"privileged": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}, "seccompProfile": _RUNTIME_DEFAULT}


def values() -> dict[str, Any]:
    """The chart values: our namespaces only, bounded scanning, Pod Security "restricted" pods, no ServiceMonitor."""
    return {
        "targetNamespaces": ",".join(SCANNED_NAMESPACES),
        "operator": {
            "replicas": 1,
            "scanJobsConcurrentLimit": SCAN_JOBS_CONCURRENT,
            "scanJobTimeout": "5m",
            "scanJobsRetryDelay": "5m",  # a failing registry is not hammered every 30 s
            "vulnerabilityScannerEnabled": True,
            "vulnerabilityScannerScanOnlyCurrentRevisions": True,
            "configAuditScannerEnabled": True,
            "configAuditScannerScanOnlyCurrentRevisions": True,
            "rbacAssessmentScannerEnabled": True,
            "exposedSecretScannerEnabled": True,
            # Off: the node-collector Job mounts hostPath and shares the host PID namespace, which Pod Security
            # "restricted" (doc-rag-security) refuses; the compliance reports build on its data.
            "infraAssessmentScannerEnabled": False,
            "clusterComplianceEnabled": False,
            # Off: SBOM reports are large objects in etcd and nothing here reads them.
            "sbomGenerationEnabled": False,
            "builtInTrivyServer": False,
            "scannerReportTTL": "24h",  # reports are rescanned daily, so new CVEs reach old images
            "metricsFindingsEnabled": True,
            "metricsVulnIdEnabled": False,  # one series per CVE is too many; the reports list them
        },
        "trivyOperator": {
            # Scan Jobs run in doc-rag-security, under its NetworkPolicies, not in the scanned namespaces.
            "scanJobsInSameNamespace": False,
            "scanJobAutomountServiceAccountToken": False,
            "scanJobPodTemplatePodSecurityContext": _pod_security_context(SCANNER_UID),
            "scanJobPodTemplateContainerSecurityContext": _container_security_context(),
        },
        "trivy": {
            "mode": "Standalone",
            "command": "image",
            "severity": "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",
            "ignoreUnfixed": False,
            "slow": True,
            "timeout": "5m0s",
            "dbRegistry": DB_REGISTRY,
            "dbRepository": DB_REPOSITORY,
            "javaDbRegistry": DB_REGISTRY,
            "javaDbRepository": JAVA_DB_REPOSITORY,
            "resources": SCAN_JOB_RESOURCES,
            # Config audits use the checks compiled into the operator: it downloads no check bundle
            # (mirror.gcr.io/aquasec/trivy-checks), so its NetworkPolicy needs nothing but the API server.
            "useBuiltinRegoPolicies": "false",
            "useEmbeddedRegoPolicies": "true",
        },
        "podSecurityContext": _pod_security_context(OPERATOR_UID),
        "securityContext": _container_security_context(),
        "resources": OPERATOR_RESOURCES,
        # Our Prometheus scrapes the operator itself (components/observability.py): no operator CRDs needed.
        "serviceMonitor": {"enabled": False},
        "service": {"headless": True, "metricsPort": 80},
    }
