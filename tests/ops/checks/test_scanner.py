"""The image scanner add-on (Trivy Operator in doc-rag-security): the release and its reviewed values, what
prod scrapes and allows around it, and that dev and local stay without it.

The chart cannot be fetched here, so its pods are rebuilt from the values the way the chart's templates place
them (deployment.yaml: podSecurityContext/securityContext; the operator's scan Job: scanJobPodTemplate*) and
judged by the pack's Pod Security rule, which must also reject a weakened copy."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components.config import ConfigError, parse_config
from ops.checks.helm_charts import RELEASE_TYPE
from ops.manifests import manifests
from ops.runner import RunResult
from policies.workload_rules import check_pod_security
from tests.conftest import program

RELEASE = "trivy-operator"
SCANNER_POLICIES = {"trivy-operator-network-policy", "trivy-scan-job-network-policy", "prometheus-scanner-egress"}


@pytest.fixture(scope="module")
def prod() -> RunResult:
    return program("prod")


def _release(run: RunResult) -> dict[str, Any] | None:
    found = [r.inputs for r in run.of_type(RELEASE_TYPE) if r.inputs["name"] == RELEASE]
    return found[0] if found else None


def _policies(run: RunResult) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in manifests(run.resources) if o["kind"] == "NetworkPolicy"}


def _scrape_jobs(run: RunResult) -> dict[str, dict[str, Any]]:
    (config_map,) = [o for o in manifests(run.resources)
                     if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "prometheus-config"]
    return {job["job_name"]: job for job in yaml.safe_load(config_map["data"]["prometheus.yml"])["scrape_configs"]}


# -- the release -------------------------------------------------------------------------------------------

def test_prod_installs_the_pinned_chart_into_doc_rag_security(prod):
    release = _release(prod)
    assert release is not None
    assert (release["chart"], release["version"], release["namespace"]) == ("trivy-operator", "0.34.0",
                                                                          "doc-rag-security")
    assert release["repositoryOpts"]["repo"] == "https://aquasecurity.github.io/helm-charts/"
    (registered,) = [r for r in prod.of_type(RELEASE_TYPE) if r.inputs["name"] == RELEASE]
    namespace = next(r for r in prod.of_type("kubernetes:core/v1:Namespace")
                     if r.inputs["metadata"]["name"] == "doc-rag-security")
    assert namespace.urn in registered.depends_on  # the restricted-labelled namespace exists first


def test_values_scan_only_our_namespaces_with_bounded_jobs(prod):
    values = _release(prod)["values"]  # type: ignore[index]
    assert values["targetNamespaces"] == "doc-rag-prod,doc-rag-monitoring,doc-rag-ingress,doc-rag-security"
    operator = values["operator"]
    assert operator["scanJobsConcurrentLimit"] == 3
    assert operator["replicas"] == 1
    assert (operator["vulnerabilityScannerEnabled"], operator["configAuditScannerEnabled"],
            operator["rbacAssessmentScannerEnabled"]) == (True, True, True)
    # The node-collector (hostPath, hostPID) and what builds on it stay off in a restricted namespace.
    assert operator["infraAssessmentScannerEnabled"] is False
    assert operator["clusterComplianceEnabled"] is False
    assert values["trivyOperator"]["scanJobsInSameNamespace"] is False
    assert values["trivyOperator"]["scanJobAutomountServiceAccountToken"] is False
    trivy = values["trivy"]
    assert (trivy["mode"], trivy["command"]) == ("Standalone", "image")
    assert (trivy["dbRegistry"], trivy["dbRepository"]) == ("mirror.gcr.io", "aquasec/trivy-db")
    # No check bundle download: the operator's NetworkPolicy allows it the API server only.
    assert (trivy["useBuiltinRegoPolicies"], trivy["useEmbeddedRegoPolicies"]) == ("false", "true")
    assert trivy["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi", "ephemeralStorage": "4Gi"}
    assert values["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert values["serviceMonitor"] == {"enabled": False}
    assert values["service"] == {"headless": True, "metricsPort": 80}


# -- its pods meet Pod Security "restricted" -----------------------------------------------------------------

def operator_pod(values: dict[str, Any]) -> dict[str, Any]:
    """The operator Deployment's pod spec as templates/deployment.yaml builds it from the values."""
    return {"securityContext": values["podSecurityContext"],
            "volumes": [{"name": "cache-policies", "emptyDir": {}}],
            "containers": [{"name": "trivy-operator", "securityContext": values["securityContext"],
                            "ports": [{"name": "metrics", "containerPort": 8080}]}]}


def scan_job_pod(values: dict[str, Any]) -> dict[str, Any]:
    """A scan Job's pod: the pod and container contexts the operator copies from scanJobPodTemplate*."""
    container = values["trivyOperator"]["scanJobPodTemplateContainerSecurityContext"]
    return {"securityContext": values["trivyOperator"]["scanJobPodTemplatePodSecurityContext"],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "initContainers": [{"name": "init", "securityContext": container}],
            "containers": [{"name": "scan", "securityContext": container}]}


def _judge(pod: dict[str, Any]) -> list[str]:
    return list(check_pod_security("kubernetes:core/v1:Pod", {"spec": pod}, {}))


def test_operator_and_scan_job_pods_are_restricted(prod):
    values = _release(prod)["values"]  # type: ignore[index]
    assert _judge(operator_pod(values)) == []
    assert _judge(scan_job_pod(values)) == []
    assert values["podSecurityContext"]["runAsUser"] == 10000  # the operator image's own user
    assert values["trivyOperator"]["scanJobPodTemplatePodSecurityContext"]["runAsUser"] == 65534


def _drop(key: str):
    """Remove `key` from the operator's pod and container context (either alone would still satisfy the rule)."""
    def weaken(values: dict[str, Any]) -> None:
        values["podSecurityContext"].pop(key, None)
        values["securityContext"].pop(key, None)
    return weaken


@pytest.mark.parametrize("weaken, expected", [
    (_drop("runAsNonRoot"), "runAsNonRoot"),
    (_drop("seccompProfile"), "seccompProfile"),
    (lambda v: v["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
])
def test_a_weakened_operator_pod_is_refused(prod, weaken, expected):
    values = copy.deepcopy(_release(prod)["values"])  # type: ignore[index]
    weaken(values)
    assert any(expected in problem for problem in _judge(operator_pod(values)))


# The chart's own defaults (values.yaml at v0.32.0): no user, no seccomp profile.
CHART_CONTAINER_DEFAULT = {"privileged": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                           "capabilities": {"drop": ["ALL"]}}


def test_the_charts_defaults_would_be_refused_in_doc_rag_security(prod):
    """Why the values set contexts at all: with the chart's defaults both pods fail "restricted"."""
    values = copy.deepcopy(_release(prod)["values"])  # type: ignore[index]
    values["podSecurityContext"], values["securityContext"] = {}, CHART_CONTAINER_DEFAULT
    values["trivyOperator"]["scanJobPodTemplatePodSecurityContext"] = {}
    values["trivyOperator"]["scanJobPodTemplateContainerSecurityContext"] = CHART_CONTAINER_DEFAULT
    for pod in (operator_pod(values), scan_job_pod(values)):
        problems = " ".join(_judge(pod))
        assert "runAsNonRoot" in problems and "seccompProfile" in problems and "runAsUser" in problems


# -- flows and scrape in prod ------------------------------------------------------------------------------

def test_prod_renders_the_scanner_policies_and_scrape_job(prod):
    assert SCANNER_POLICIES <= set(_policies(prod))
    job = _scrape_jobs(prod)["trivy-operator"]
    assert job == {"job_name": "trivy-operator", "scrape_interval": "60s",
                   "dns_sd_configs": [{"names": ["trivy-operator.doc-rag-security.svc"], "type": "A",
                                       "port": 8080}]}


def test_scan_jobs_reach_https_outside_the_vpc_only(prod):
    policy = _policies(prod)["trivy-scan-job-network-policy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/managed-by": "trivy-operator",
                                                            "vulnerabilityReport.scanner": "Trivy"}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and policy["spec"]["ingress"] == []
    https = policy["spec"]["egress"][1]
    assert https == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/16", "169.254.169.254/32"]}}],
                     "ports": [{"port": 443, "protocol": "TCP"}]}


# -- dev and local keep it off; the switch and the minimum ---------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "local"])
def test_dev_and_local_run_no_scanner(stack):
    run = program(stack)
    assert _release(run) is None
    assert not SCANNER_POLICIES & set(_policies(run))
    assert "trivy-operator" not in _scrape_jobs(run)
    in_security = [o["metadata"]["name"] for o in manifests(run.resources)
                   if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "doc-rag-security"]
    assert in_security == ["default-deny-all"]


def test_the_switch_turns_release_flows_and_scrape_off():
    run = program("prod", ["platform.trivyOperator.install=false"], preview=True)
    assert _release(run) is None
    assert not SCANNER_POLICIES & set(_policies(run))
    assert "trivy-operator" not in _scrape_jobs(run)


def test_an_older_chart_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as error:
        parse_config({"release": {"blue": {"image": "doc-rag/api:v1"}, "green": {"image": "doc-rag/api:v2"}},
                      "platform": {"acmeEmail": "platform@docrag.io",
                                   "trivyOperator": {"install": True, "version": "0.33.2"}}})
    assert "platform.trivyOperator.version = '0.33.2': allowed: 0.34.0 or newer" in str(error.value)
