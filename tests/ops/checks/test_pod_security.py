"""T5 (ours): Pod Security Standards "restricted" plus the house rules, on every pod template we render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.checks import pod_security
from ops.checks.base import PlanContext
from ops.manifests import manifests
from ops.runner import RunResult
from tests.conftest import FIXTURES

SECURITY = FIXTURES / "security"


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((SECURITY / name).read_text()) if doc]


def rules(findings: list) -> set[str]:
    return {finding.rule for finding in findings}


@pytest.mark.program
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_every_rendered_pod_template_is_restricted(stack: str, prod_run: RunResult, dev_run: RunResult) -> None:
    objects = manifests((prod_run if stack == "prod" else dev_run).resources)
    templates = list(pod_security.pod_templates(objects))
    # The API colours, Postgres, Redis, Prometheus, Grafana at least: an empty walk proves nothing.
    subjects = {template.subject for template in templates}
    assert {"Deployment/doc-rag-prod/api-deployment-blue", "Deployment/doc-rag-prod/api-deployment-green",
            "StatefulSet/doc-rag-prod/postgres", "StatefulSet/doc-rag-prod/redis",
            "StatefulSet/doc-rag-monitoring/prometheus", "Deployment/doc-rag-monitoring/grafana"} <= subjects
    findings = pod_security.violations(objects)
    assert findings == [], "\n".join(f"{f.subject}: {f.rule}: {f.message}" for f in findings)


def test_good_fixture_passes() -> None:
    # NET_BIND_SERVICE is the one capability restricted lets a container add.
    assert pod_security.violations(load("good-pod.yaml")) == []


@pytest.mark.parametrize("fixture, expected", [
    ("privileged-pod.yaml", {"pss-restricted/privileged"}),
    ("root-pod.yaml", {"pss-restricted/run-as-non-root", "pss-restricted/run-as-non-root-user"}),
    ("hostpath-pod.yaml", {"pss-restricted/host-path-volumes", "pss-restricted/volume-types"}),
    ("host-network-cronjob.yaml", {"pss-restricted/host-namespaces"}),
    ("capabilities-job.yaml", {"pss-restricted/capabilities", "pss-restricted/seccomp",
                               "pss-restricted/privilege-escalation"}),
    ("drop-some-capabilities-deployment.yaml", {"pss-restricted/capabilities"}),
    ("house-rules-statefulset.yaml", {"house/read-only-root-filesystem", "house/service-account-token"}),
])
def test_broken_fixture_is_rejected(fixture: str, expected: set[str]) -> None:
    findings = pod_security.violations(load(fixture))
    assert rules(findings) == expected, [f"{f.rule}: {f.message}" for f in findings]


def test_a_pod_after_objects_without_a_pod_template_is_still_checked() -> None:
    # Rendered manifests interleave namespaces and ConfigMaps with workloads: the walk skips them and goes on.
    others = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doc-rag-prod"}},
              {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "doc-rag-prod"}}]
    findings = pod_security.violations([*others, *load("privileged-pod.yaml")])
    assert rules(findings) == {"pss-restricted/privileged"}, [f"{f.rule}: {f.message}" for f in findings]


@pytest.mark.program
def test_check_fails_the_plan_on_a_broken_pod(tmp_path: Path, prod_run: RunResult) -> None:
    objects = manifests(prod_run.resources) + load("privileged-pod.yaml")
    context = PlanContext("prod", prod_run, prod_run.config.model(), objects, tmp_path, tmp_path)
    result = pod_security.check(context)
    assert result.status == "fail"
    assert [f.subject for f in result.findings] == ["Pod/doc-rag-prod/privileged"]


@pytest.mark.parametrize("mutate, rule", [
    (lambda spec: spec["securityContext"].update(seccompProfile={"type": "Unconfined"}), "pss-restricted/seccomp"),
    (lambda spec: spec["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
     "pss-restricted/sysctls"),
    (lambda spec: spec["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]),
     "pss-restricted/host-ports"),
    (lambda spec: spec["containers"][0]["securityContext"].update(runAsNonRoot=False),
     "pss-restricted/run-as-non-root"),
    (lambda spec: spec["containers"][0]["securityContext"].update(procMount="Unmasked"), "pss-restricted/proc-mount"),
    (lambda spec: spec["containers"][0]["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
     "pss-restricted/selinux"),
    (lambda spec: spec["volumes"].append({"name": "nfs", "nfs": {"server": "x", "path": "/"}}),
     "pss-restricted/volume-types"),
    # restricted requires ALL in drop: dropping a few named ones keeps the rest (CAP_CHOWN, CAP_SETUID, ...).
    (lambda spec: spec["containers"][0]["securityContext"].update(capabilities={"drop": ["NET_RAW", "SYS_ADMIN"]}),
     "pss-restricted/capabilities"),
    (lambda spec: spec["containers"][0]["securityContext"].update(capabilities={}), "pss-restricted/capabilities"),
    (lambda spec: spec["containers"][0]["securityContext"].update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
     "pss-restricted/capabilities"),
    (lambda spec: spec["securityContext"].pop("runAsUser"), "house/explicit-uid"),
    (lambda spec: spec.pop("automountServiceAccountToken"), "house/service-account-token"),
])
def test_each_rule_fires_on_one_change(mutate, rule: str) -> None:
    pod = load("good-pod.yaml")[0]
    mutate(pod["spec"])
    assert rule in rules(pod_security.violations([pod]))


def test_token_allowlist_and_service_account_inheritance() -> None:
    pod = load("good-pod.yaml")[0]
    pod["spec"].pop("automountServiceAccountToken")
    pod["spec"]["serviceAccountName"] = "api"
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "api", "namespace": "doc-rag-prod"}, "automountServiceAccountToken": False}
    # The pod inherits "no token" from its ServiceAccount.
    assert pod_security.violations([pod, account]) == []
    # Prometheus' account is the one allowed to mount a token (Kubernetes service discovery).
    pod["metadata"]["namespace"] = "doc-rag-monitoring"
    pod["spec"]["serviceAccountName"] = "prometheus"
    assert pod_security.violations([pod]) == []
