"""Security layer: quotas that fit the peak, limit ranges, PSS namespace labels, pinned images, pull policy."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import pytest
import yaml

from components import quotas
from components.checkov_exceptions import checkov_skips
from components.config import ConfigError, check_image, parse_config
from components.container_hardening import PULL_POLICY
from ops.checks.pod_security import pod_templates
from ops.manifests import manifests
from ops.runner import RunResult, run_program
from tests.conftest import FIXTURES, program

WORKLOAD_NAMESPACES = ("doc-rag-prod", "doc-rag-monitoring")

# -- peak demand, recomputed from the rendered manifests (independently of components/quotas.py) --------

_UNITS = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def qty(text: Any) -> Decimal:
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text)).groups()  # type: ignore[union-attr]
    return Decimal(number) * _UNITS[unit]


def surge(workload: dict[str, Any], replicas: int) -> int:
    if workload["kind"] != "Deployment":
        return 0  # StatefulSets replace pods one by one without surge
    value = ((workload["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100) if replicas else 1
    return int(value)


def service_demand(service: dict[str, Any]) -> dict[str, int]:
    """What one Service counts against services.loadbalancers / services.nodeports (the quota evaluator's
    rules: a NodePort Service takes a node port per port; a LoadBalancer one the balancer, and node ports
    unless allocateLoadBalancerNodePorts is false)."""
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    kind = spec.get("type", "ClusterIP")
    if kind == "NodePort":
        return {"services.nodeports": len(ports)}
    if kind == "LoadBalancer":
        allocated = spec.get("allocateLoadBalancerNodePorts", True)
        return {"services.loadbalancers": 1,
                "services.nodeports": len(ports) if allocated else sum(1 for port in ports if port.get("nodePort"))}
    return {}


def acme_solver_nodeports(objects: list[dict[str, Any]], namespace: str) -> int:
    """cert-manager's HTTP-01 solver Service (not in our manifests) for a certificate issued in `namespace`:
    one NodePort unless the issuer's http01 ingress solver sets serviceType ClusterIP."""
    issuers = {(o["metadata"].get("annotations") or {}).get("cert-manager.io/cluster-issuer") for o in objects
               if o["kind"] == "Ingress" and o["metadata"]["namespace"] == namespace}
    issuers |= {o["spec"]["issuerRef"]["name"] for o in objects
                if o["kind"] == "Certificate" and o["metadata"]["namespace"] == namespace}
    issuers.discard(None)
    if not issuers:
        return 0
    rendered = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterIssuer"}
    for name in issuers:
        solvers = (((rendered.get(name) or {}).get("spec") or {}).get("acme") or {}).get("solvers") or [{}]
        # An issuer we do not render (an existing cluster's) is assumed to use cert-manager's default.
        if any(((solver.get("http01") or {}).get("ingress") or {}).get("serviceType", "NodePort") != "ClusterIP"
               for solver in solvers):
            return 1
    return 0


def peak_demand(objects: list[dict[str, Any]], namespace: str) -> dict[str, Decimal]:
    """Sum over Deployments/StatefulSets of per-pod requests/limits x (HPA max or replicas + surge)."""
    hpa_max = {o["spec"]["scaleTargetRef"]["name"]: o["spec"]["maxReplicas"] for o in objects
               if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["namespace"] == namespace}
    need = {key: Decimal(0) for key in ("pods", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory",
                                         "persistentvolumeclaims", "requests.storage", "services.loadbalancers",
                                         "services.nodeports")}
    for service in objects:
        if service["kind"] == "Service" and service["metadata"]["namespace"] == namespace:
            for key, count in service_demand(service).items():
                need[key] += count
    need["services.nodeports"] += acme_solver_nodeports(objects, namespace)
    for workload in objects:
        if workload["kind"] not in ("Deployment", "StatefulSet") or workload["metadata"]["namespace"] != namespace:
            continue
        replicas = int(workload["spec"].get("replicas", 1))
        pods = hpa_max.get(workload["metadata"]["name"], replicas)
        pods += surge(workload, pods)
        need["pods"] += pods
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    need[f"{kind}.{resource}"] += pods * qty(container["resources"][kind][resource])
        for claim in workload["spec"].get("volumeClaimTemplates") or []:
            need["persistentvolumeclaims"] += replicas
            need["requests.storage"] += replicas * qty(claim["spec"]["resources"]["requests"]["storage"])
    return need


def shortfalls(objects: list[dict[str, Any]], namespace: str) -> list[str]:
    found = [o for o in objects if o["kind"] == "ResourceQuota" and o["metadata"]["namespace"] == namespace]
    if len(found) != 1:
        return [f"{namespace}: {len(found)} ResourceQuotas"]
    hard = found[0]["spec"]["hard"]
    need = peak_demand(objects, namespace)
    return [f"{namespace} {key}: need {value}, quota {hard.get(key)}" for key, value in need.items()
            if key not in hard or qty(hard[key]) < value]


@pytest.mark.parametrize("stack, overrides", [
    ("prod", []),
    ("dev", []),
    ("prod", ["release.blue.replicas=20", "release.green.replicas=0"]),  # HPA maximum follows the replicas
    ("dev", ["observability.jaeger=true", "observability.prometheusStorage=200Gi", "postgres.storage=500Gi"]),
])
def test_quota_fits_the_peak_of_every_workload(stack: str, overrides: list[str], prod_run: RunResult,
                                               dev_run: RunResult) -> None:
    run = {"prod": prod_run, "dev": dev_run}[stack] if not overrides else program(stack, overrides)
    objects = manifests(run.resources)
    for namespace in WORKLOAD_NAMESPACES:
        assert shortfalls(objects, namespace) == []
        assert peak_demand(objects, namespace)["pods"] > 0, "nothing counted: the walk is broken"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_no_stray_load_balancer_or_node_port_in_prod_or_monitoring(stack: str, prod_run: RunResult,
                                                                  dev_run: RunResult) -> None:
    """Exactly what is needed, no more: no LoadBalancer Service anywhere but doc-rag-ingress (where the one NLB
    lives), and node ports only for cert-manager's HTTP-01 solver in doc-rag-prod."""
    objects = manifests((prod_run if stack == "prod" else dev_run).resources)
    for namespace in WORKLOAD_NAMESPACES:
        hard = next(o for o in objects if o["kind"] == "ResourceQuota"
                    and o["metadata"]["namespace"] == namespace)["spec"]["hard"]
        need = peak_demand(objects, namespace)
        assert hard["services.loadbalancers"] == "0" == str(need["services.loadbalancers"]), namespace
        assert hard["services.nodeports"] == str(need["services.nodeports"]), (
            f"{namespace}: quota allows {hard['services.nodeports']} node ports, {need['services.nodeports']} "
            "needed (quotas.ACME_SOLVER_NODEPORTS follows the ClusterIssuer's http01 solver serviceType)")
    exposed = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects
               if o["kind"] == "Service" and service_demand(o)]
    assert len(exposed) == 1 and exposed[0][0] == "doc-rag-ingress", exposed  # the NLB in front of ingress-nginx


def test_a_stray_load_balancer_or_node_port_does_not_fit_the_quota() -> None:
    objects = [doc for doc in yaml.safe_load_all((FIXTURES / "security" / "stray-load-balancer.yaml").read_text())
               if doc]
    problems = shortfalls(objects, "doc-rag-prod")
    assert "doc-rag-prod services.loadbalancers: need 1, quota 0" in problems
    # 2 ports of the LoadBalancer Service + 1 of the NodePort one + 1 for the ACME solver of the Ingress.
    assert "doc-rag-prod services.nodeports: need 4, quota 1" in problems


def test_the_deployment_plan_numbers(prod_run: RunResult) -> None:
    """Prod: two colours at the HPA max (10) plus surge 2, Postgres, Redis; the quota adds one ACME solver pod and
    the two Postgres backup jobs (full and differential may overlap)."""
    need = peak_demand(manifests(prod_run.resources), "doc-rag-prod")
    assert need["pods"] == 2 * (10 + 2) + 1 + 1
    assert need["requests.cpu"] == Decimal("12.6") and need["limits.memory"] == 48 * 2**30 + 4 * 2**30 + 512 * 2**20
    hard = next(o for o in manifests(prod_run.resources) if o["kind"] == "ResourceQuota"
                and o["metadata"]["namespace"] == "doc-rag-prod")["spec"]["hard"]
    assert hard["pods"] == "29" and hard["requests.storage"] == "110Gi"


def test_monitoring_quota_follows_the_sizes_in_components_observability(monkeypatch: pytest.MonkeyPatch) -> None:
    """One source of truth: grow Grafana in components/observability.py and doc-rag-monitoring's quota and
    LimitRange follow (a copy of the numbers in components/quotas.py would leave them behind)."""
    from components import observability

    bigger = {"requests": {"cpu": "3", "memory": "6Gi"}, "limits": {"cpu": "3", "memory": "6Gi"}}
    monkeypatch.setattr(observability, "GRAFANA_RESOURCES", bigger)
    monkeypatch.setattr(observability, "GRAFANA_REPLICAS", 3)
    objects = manifests(run_program("dev").resources)
    grafana = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "grafana")
    assert grafana["spec"]["replicas"] == 3
    assert grafana["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == bigger["limits"]
    assert shortfalls(objects, "doc-rag-monitoring") == []
    limit_range = next(o for o in objects if o["kind"] == "LimitRange"
                       and o["metadata"]["namespace"] == "doc-rag-monitoring")
    assert limit_range["spec"]["limits"][0]["max"]["memory"] == "6Gi"


def test_a_quota_that_ignores_the_hpa_maximum_is_caught() -> None:
    objects = [doc for doc in yaml.safe_load_all((FIXTURES / "security" / "quota-too-small.yaml").read_text())
               if doc]
    problems = shortfalls(objects, "doc-rag-prod")
    assert any(problem.startswith("doc-rag-prod pods:") for problem in problems)
    assert any(problem.startswith("doc-rag-prod limits.cpu:") for problem in problems)


def test_limit_range_admits_every_container_and_every_container_declares_resources(prod_run: RunResult) -> None:
    objects = manifests(prod_run.resources)
    for namespace in WORKLOAD_NAMESPACES:
        limit_range = next(o for o in objects if o["kind"] == "LimitRange" and o["metadata"]["namespace"] == namespace)
        item = limit_range["spec"]["limits"][0]
        assert item["type"] == "Container" and item["default"] and item["defaultRequest"]
        for template in pod_templates(objects):
            if template.namespace != namespace:
                continue
            for container in template.spec["containers"]:
                limits = container["resources"]["limits"]
                assert container["resources"]["requests"], template.subject
                for resource in ("cpu", "memory"):
                    assert qty(limits[resource]) <= qty(item["max"][resource]), (template.subject, resource)


def test_quantity_helpers_round_up() -> None:
    assert quotas.cpu_text(12.6) == "12600m" and quotas.cpu_text(51.0) == "51"
    assert quotas.memory_text(25.25 * 2**30) == "25856Mi" and quotas.memory_text(2**31) == "2Gi"
    with pytest.raises(ValueError):
        quotas.quantity("12 cores")


# -- Pod Security Standards on the namespaces -------------------------------------------------------------

def test_namespaces_enforce_restricted_where_our_workloads_run(prod_run: RunResult) -> None:
    namespaces = {o["metadata"]["name"]: o["metadata"]["labels"] for o in manifests(prod_run.resources)
                  if o["kind"] == "Namespace"}
    for name in ("doc-rag-prod", "doc-rag-monitoring", "doc-rag-security"):
        assert namespaces[name]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert namespaces[name]["pod-security.kubernetes.io/enforce-version"] == "v1.34"
    # The ingress namespace: baseline enforced, restricted audited and warned (docs/security.md says why).
    ingress = namespaces["doc-rag-ingress"]
    assert ingress["pod-security.kubernetes.io/enforce"] == "baseline"
    assert ingress["pod-security.kubernetes.io/audit"] == ingress["pod-security.kubernetes.io/warn"] == "restricted"
    # No namespace where one of our pods runs is left below restricted.
    ours = {template.namespace for template in pod_templates(manifests(prod_run.resources))}
    assert all(namespaces[name]["pod-security.kubernetes.io/enforce"] == "restricted" for name in ours)


# -- images -----------------------------------------------------------------------------------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("image", [
    f"doc-rag/api@{DIGEST}",
    f"doc-rag/api:v1.2.0@{DIGEST}",
    f"123456789012.dkr.ecr.us-east-1.amazonaws.com/doc-rag/api@{DIGEST}",
    f"registry.example.com:5000/doc-rag/api:latest@{DIGEST}",  # a digest pins even a `latest` tag
])
def test_digests_are_accepted(image: str) -> None:
    assert check_image(image) == image


@pytest.mark.parametrize("image", [
    "doc-rag/api@sha256:" + "0" * 63,  # too short
    "doc-rag/api@sha256:" + "G" * 64,  # not hex
    "doc-rag/api@md5:" + "0" * 32,
    "doc-rag/api",  # untagged means latest
    "doc-rag/api:latest",
])
def test_unpinned_or_malformed_images_are_refused(image: str) -> None:
    with pytest.raises(ValueError):
        check_image(image)


def test_a_digest_reaches_the_deployment_and_a_bad_one_is_a_config_error() -> None:
    run = program("prod", [f"release.green.image=doc-rag/api:v1.1.0@{DIGEST}"])
    green = next(o for o in manifests(run.resources) if o["kind"] == "Deployment"
                 and o["metadata"]["name"] == "api-deployment-green")
    assert green["spec"]["template"]["spec"]["containers"][0]["image"].endswith(DIGEST)
    with pytest.raises(ConfigError, match=r"release\.green\.image"):
        parse_config({"release": {"blue": {"image": "doc-rag/api:v1"}, "green": {"image": "doc-rag/api@sha256:1"}}})


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_every_container_pulls_if_not_present(stack: str, prod_run: RunResult, dev_run: RunResult) -> None:
    templates = list(pod_templates(manifests((prod_run if stack == "prod" else dev_run).resources)))
    assert templates
    for template in templates:
        for container in template.spec.get("initContainers", []) + template.spec["containers"]:
            assert container.get("imagePullPolicy") == PULL_POLICY == "IfNotPresent", (template.subject, container)


def test_checkov_skip_annotations_are_numbered_and_reasoned() -> None:
    annotations = checkov_skips("CKV_K8S_43", CKV_K8S_40="the image's own user")
    assert annotations == {"checkov.io/skip1": f"CKV_K8S_43={security_reason('CKV_K8S_43')}",
                           "checkov.io/skip2": "CKV_K8S_40=the image's own user"}
    with pytest.raises(ValueError):
        checkov_skips(CKV_K8S_40="a=b")
    with pytest.raises(KeyError):
        checkov_skips("CKV_K8S_999")


def security_reason(check_id: str) -> str:
    from components.checkov_exceptions import REASONS

    return REASONS[check_id]
