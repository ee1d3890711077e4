"""What the Pod Security check says for each control, word for word: the good pod (tests/fixtures/security)
with one change, and the exact findings a reviewer reads in the plan. Complements tests/ops/checks/test_pod_security.py,
which names the rules."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from ops.checks import pod_security
from ops.checks.base import PlanContext
from tests.ops.checks.test_pod_security import load

GOOD = load("good-pod.yaml")[0]
C = "containers[app]"


def container(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0]["securityContext"]


CASES: list[tuple[str, Callable[[dict[str, Any]], Any], list[tuple[str, str]]]] = [
    ("hostPID", lambda s: s.update(hostPID=True), [("host-namespaces", "spec.hostPID is true")]),
    ("hostIPC", lambda s: s.update(hostIPC=True), [("host-namespaces", "spec.hostIPC is true")]),
    ("pod hostProcess", lambda s: s["securityContext"].update(windowsOptions={"hostProcess": True}),
     [("host-process", "spec.securityContext.windowsOptions.hostProcess is true")]),
    ("container hostProcess", lambda s: container(s).update(windowsOptions={"hostProcess": True}),
     [("host-process", f"{C}: windowsOptions.hostProcess is true")]),
    ("unsafe sysctl", lambda s: s["securityContext"].update(sysctls=[
        {"name": "net.ipv4.tcp_syncookies", "value": "1"}, {"name": "kernel.msgmax", "value": "1"}]),
     [("sysctls", "sysctl 'kernel.msgmax' is not in the safe set")]),
    ("pod seccomp", lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}),
     [("seccomp", "spec.securityContext.seccompProfile.type is Unconfined"),
      ("seccomp", f"{C}: seccompProfile.type must be RuntimeDefault or Localhost (got Unconfined)")]),
    ("container seccomp", lambda s: container(s).update(seccompProfile={"type": "Unconfined"}),
     [("seccomp", f"{C}: seccompProfile.type is Unconfined"),
      ("seccomp", f"{C}: seccompProfile.type must be RuntimeDefault or Localhost (got Unconfined)")]),
    ("container seccomp Localhost", lambda s: container(s).update(seccompProfile={"type": "Localhost"}), []),
    ("container appArmor", lambda s: container(s).update(appArmorProfile={"type": "Unconfined"}),
     [("apparmor", f"{C}: appArmorProfile.type is Unconfined")]),
    ("hostPort", lambda s: s["containers"][0].update(ports=[{"containerPort": 8080, "hostPort": 8080}]),
     [("host-ports", f"{C}: hostPort 8080")]),
    ("containerPort only", lambda s: s["containers"][0].update(ports=[{"containerPort": 8080}]), []),
    ("procMount", lambda s: container(s).update(procMount="Unmasked"), [("proc-mount", f"{C}: procMount Unmasked")]),
    ("procMount Default", lambda s: container(s).update(procMount="Default"), []),
    ("pod SELinux", lambda s: s["securityContext"].update(seLinuxOptions={"type": "spc_t", "user": "u", "role": "r"}),
     [("selinux", "spec.securityContext.seLinuxOptions.type 'spc_t'"),
      ("selinux", "spec.securityContext.seLinuxOptions.user is set"),
      ("selinux", "spec.securityContext.seLinuxOptions.role is set")]),
    ("container SELinux allowed type", lambda s: container(s).update(seLinuxOptions={"type": "container_t"}), []),
    ("container SELinux role", lambda s: container(s).update(seLinuxOptions={"role": "sysadm_r"}),
     [("selinux", f"{C}.securityContext.seLinuxOptions.role is set")]),
    ("privileged", lambda s: container(s).update(privileged=True), [("privileged", f"{C}: privileged is true")]),
    ("escalation", lambda s: container(s).pop("allowPrivilegeEscalation"),
     [("privilege-escalation", f"{C}: allowPrivilegeEscalation must be false")]),
    ("container root", lambda s: container(s).update(runAsUser=0), [("run-as-non-root-user", f"{C}: runAsUser is 0")]),
    ("container runAsNonRoot false", lambda s: container(s).update(runAsNonRoot=False),
     [("run-as-non-root", f"{C}: runAsNonRoot must be true (pod or container)")]),
    ("runAsNonRoot on the container only", lambda s: (s["securityContext"].pop("runAsNonRoot"),
                                                      container(s).update(runAsNonRoot=True)), []),
    ("secret and projected volumes", lambda s: s["volumes"].extend([{"name": "s", "secret": {"secretName": "x"}},
                                                                     {"name": "p", "projected": {"sources": []}}]), []),
    ("nfs volume", lambda s: s["volumes"].append({"name": "share", "nfs": {"server": "n", "path": "/"}}),
     [("volume-types", "volume 'share' of type ['nfs']")]),
    ("capability added", lambda s: container(s)["capabilities"].update(add=["NET_BIND_SERVICE", "SYS_TIME"]),
     [("capabilities", f"{C}: capabilities.add ['SYS_TIME'] (only NET_BIND_SERVICE allowed)")]),
    ("ephemeral container", lambda s: s.update(ephemeralContainers=[{"name": "debug", "image": "busybox:1.36"}]),
     [("privilege-escalation", "ephemeralContainers[debug]: allowPrivilegeEscalation must be false"),
      ("capabilities", "ephemeralContainers[debug]: capabilities.drop must include ALL")]),
]


@pytest.mark.parametrize("change,expected", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_each_control_names_where_and_what(change, expected: list[tuple[str, str]]):
    pod = copy.deepcopy(GOOD)
    change(pod["spec"])
    findings = pod_security.violations([pod])
    assert [(f.rule.split("/", 1)[1], f.message) for f in findings if f.rule.startswith("pss-")] == expected
    assert {f.subject for f in findings} <= {"Pod/doc-rag-prod/good"}


@pytest.mark.parametrize("annotation,found", [
    ("runtime/default", []), ("localhost/docrag", []),
    ("unconfined", [("apparmor", "annotation container.apparmor.security.beta.kubernetes.io/app=unconfined")]),
])
def test_apparmor_annotations(annotation: str, found: list[tuple[str, str]]):
    pod = copy.deepcopy(GOOD)
    pod["metadata"]["annotations"] = {"container.apparmor.security.beta.kubernetes.io/app": annotation,
                                      "other.example/annotation": "unconfined"}
    assert [(f.rule.split("/", 1)[1], f.message) for f in pod_security.violations([pod])] == found


def test_house_rules_say_what_to_do():
    pod = copy.deepcopy(GOOD)
    del pod["spec"]["securityContext"]["runAsUser"]
    container(pod["spec"])["readOnlyRootFilesystem"] = False
    pod["spec"]["serviceAccountName"] = "builder"
    del pod["spec"]["automountServiceAccountToken"]
    assert [(f.rule, f.message) for f in pod_security.violations([pod])] == [
        ("house/read-only-root-filesystem", f"{C}: readOnlyRootFilesystem must be true (emptyDir for writes)"),
        ("house/explicit-uid", f"{C}: runAsUser unset; pin a non-zero UID (pod or container)"),
        ("house/service-account-token", "mounts a token for service account 'builder', which is not allowlisted"),
    ]


def test_a_token_is_judged_by_the_service_account_when_the_pod_does_not_say():
    pod = copy.deepcopy(GOOD)
    del pod["spec"]["automountServiceAccountToken"]
    account = {"kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "doc-rag-prod"},
               "automountServiceAccountToken": False}
    assert pod_security.violations([pod, account]) == []
    assert [f.rule for f in pod_security.violations([pod])] == ["house/service-account-token"]
    allowed = copy.deepcopy(pod)
    allowed["metadata"]["namespace"] = "doc-rag-monitoring"
    allowed["spec"]["serviceAccount"] = "prometheus"
    assert pod_security.violations([allowed]) == []


def workload(kind: str) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": copy.deepcopy(GOOD["spec"])}
    template["spec"]["containers"][0]["securityContext"]["privileged"] = True
    spec: dict[str, Any] = {"template": template}
    if kind == "CronJob":
        spec = {"schedule": "@daily", "jobTemplate": {"spec": spec}}
    return {"kind": kind, "apiVersion": "v1", "metadata": {"name": kind.lower(), "namespace": "doc-rag-prod"},
            "spec": spec}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"])
def test_every_workload_kind_is_walked(kind: str):
    findings = pod_security.violations([workload(kind)])
    assert [(f.subject, f.rule) for f in findings] == [(f"{kind}/doc-rag-prod/{kind.lower()}",
                                                        "pss-restricted/privileged")]


def test_a_pod_without_a_namespace_is_in_default_and_other_kinds_are_not_walked():
    pod = copy.deepcopy(GOOD)
    del pod["metadata"]["namespace"]
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    service = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"template": {"spec": GOOD["spec"]}}}
    assert [(t.subject, t.namespace) for t in pod_security.pod_templates([pod, service])] == [
        ("Pod/good", "default")]


def test_the_check_counts_the_pod_templates_that_pass(tmp_path):
    bad = copy.deepcopy(GOOD)
    bad["metadata"]["name"] = "bad"
    container(bad["spec"])["privileged"] = True
    context = PlanContext("prod", None, None, [GOOD, bad, workload("Job")], tmp_path, tmp_path)  # type: ignore[arg-type]
    result = pod_security.check(context)
    assert (result.status, result.summary) == ("fail", "1/3 pod templates meet PSS restricted and the house rules")
    assert len(result.findings) == 2
    passed = pod_security.check(PlanContext("prod", None, None, [GOOD], tmp_path, tmp_path))  # type: ignore[arg-type]
    assert (passed.status, passed.summary, passed.findings) == (
        "pass", "1/1 pod templates meet PSS restricted and the house rules", [])
