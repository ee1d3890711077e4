"""Pod Security edges the per-control table does not reach: a workload's pod-template metadata, a UID pinned on the
container only, the token a pod inherits from its service account (which defaults to mounting one), and the exact
findings for a root UID, a hostPath volume and a nameless container. The good pod (tests/fixtures/security) with
one change each; expected findings are literals."""

from __future__ import annotations

import copy
from typing import Any

from ops.checks import pod_security
from tests.ops.checks.test_pod_security import load

GOOD = load("good-pod.yaml")[0]


def good_pod(namespace: str | None = "doc-rag-prod") -> dict[str, Any]:
    pod = copy.deepcopy(GOOD)
    if namespace is None:
        del pod["metadata"]["namespace"]
    else:
        pod["metadata"]["namespace"] = namespace
    return pod


def findings(*manifests: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.rule, f.message) for f in pod_security.violations(list(manifests))]


def test_the_good_pod_has_no_finding():
    assert findings(good_pod()) == []


def test_a_deployments_pod_template_annotations_are_checked():
    pod = good_pod()
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "api", "namespace": "doc-rag-prod"},
                  "spec": {"template": {"metadata": {"annotations": {
                      "container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
                      "spec": pod["spec"]}}}
    assert findings(deployment) == [
        ("pss-restricted/apparmor", "annotation container.apparmor.security.beta.kubernetes.io/app=unconfined")]


def test_a_uid_pinned_on_the_container_alone_is_explicit():
    pod = good_pod()
    del pod["spec"]["securityContext"]["runAsUser"]
    pod["spec"]["containers"][0]["securityContext"]["runAsUser"] = 1001
    assert findings(pod) == []
    del pod["spec"]["containers"][0]["securityContext"]["runAsUser"]
    assert findings(pod) == [
        ("house/explicit-uid", "containers[app]: runAsUser unset; pin a non-zero UID (pod or container)")]


def service_account(name: str, namespace: str | None, **fields: Any) -> dict[str, Any]:
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata, **fields}


def inheriting(account: str, namespace: str | None = "doc-rag-prod") -> dict[str, Any]:
    pod = good_pod(namespace)
    del pod["spec"]["automountServiceAccountToken"]
    pod["spec"]["serviceAccountName"] = account
    return pod


def test_a_pod_inherits_its_service_accounts_token_setting_which_defaults_to_mounting():
    token = ("house/service-account-token", "mounts a token for service account 'app', which is not allowlisted")
    assert findings(inheriting("app")) == [token]
    assert findings(inheriting("app"), service_account("app", "doc-rag-prod")) == [token]
    off = service_account("app", "doc-rag-prod", automountServiceAccountToken=False)
    assert findings(inheriting("app"), off) == []


def test_a_service_account_without_a_namespace_is_the_default_namespaces():
    off = service_account("app", None, automountServiceAccountToken=False)
    assert findings(inheriting("app", namespace=None), off) == []


def test_exact_findings_for_a_root_uid_a_host_path_and_a_nameless_container():
    pod = good_pod()
    pod["spec"]["securityContext"]["runAsUser"] = 0
    assert ("pss-restricted/run-as-non-root-user", "spec.securityContext.runAsUser is 0") in findings(pod)
    pod = good_pod()
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    assert findings(pod) == [("pss-restricted/host-path-volumes", "volume 'host' is a hostPath"),
                             ("pss-restricted/volume-types", "volume 'host' of type ['hostPath']")]
    pod = good_pod()
    del pod["spec"]["containers"][0]["name"]
    pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    assert findings(pod) == [("house/read-only-root-filesystem",
                              "containers[?]: readOnlyRootFilesystem must be true (emptyDir for writes)")]
