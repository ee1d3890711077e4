"""T5: Pod Security Standards "restricted", asserted on every pod template the program renders.

checkov has no PSS profile, and no API server is here to run the PodSecurity admission plugin, so the
profile's controls are re-stated below from https://kubernetes.io/docs/concepts/security/pod-security-standards/
(baseline controls first, then the restricted ones), followed by two house rules the profile does not
have: a read-only root filesystem and no service-account token unless the account is allowlisted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ops.checks.base import CheckResult, Finding, PlanContext
from ops.manifests import manifest_id

# Kinds whose objects carry a pod template, and where it sits.
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_TEMPLATE_METADATA: dict[str, tuple[str, ...]] = {
    kind: path[:-1] + ("metadata",) for kind, path in _TEMPLATE_PATHS.items() if kind != "Pod"
}

# Restricted: "Volume Types" control.
ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
# Baseline: "Sysctls" control (safe set as of Kubernetes 1.29+).
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
ALLOWED_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})

# House rule: service accounts whose pods may mount an API token, and why (docs/security.md).
# Prometheus discovers scrape targets through the Kubernetes API (kubernetes_sd_configs); the Postgres backup
# jobs `kubectl exec` pgBackRest in postgres-0 (components/backup.py: a Role for that one pod).
TOKEN_ALLOWED_SERVICE_ACCOUNTS = frozenset({("doc-rag-monitoring", "prometheus"), ("doc-rag-prod", "postgres-backup")})


@dataclass(frozen=True)
class PodTemplate:
    subject: str  # Kind/namespace/name of the owning object
    namespace: str
    metadata: dict[str, Any]
    spec: dict[str, Any]


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def pod_templates(manifests: list[dict[str, Any]]) -> Iterator[PodTemplate]:
    """Every pod spec in the manifests, whatever workload kind wraps it."""
    for manifest in manifests:
        kind = manifest.get("kind", "")
        if kind not in _TEMPLATE_PATHS:
            continue
        spec = _dig(manifest, _TEMPLATE_PATHS[kind]) or {}
        if kind == "Pod":
            metadata = manifest.get("metadata") or {}
        else:
            metadata = _dig(manifest, _TEMPLATE_METADATA[kind]) or {}
        namespace = (manifest.get("metadata") or {}).get("namespace") or "default"
        yield PodTemplate(manifest_id(manifest), namespace, metadata, spec)


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


def _baseline(spec: dict[str, Any], metadata: dict[str, Any]) -> Iterator[tuple[str, str]]:
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield "host-namespaces", f"spec.{field} is true"
    if _dig(pod_sc, ("windowsOptions", "hostProcess")):
        yield "host-process", "spec.securityContext.windowsOptions.hostProcess is true"
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield "host-path-volumes", f"volume {volume.get('name')!r} is a hostPath"
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield "sysctls", f"sysctl {sysctl.get('name')!r} is not in the safe set"
    if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield "seccomp", "spec.securityContext.seccompProfile.type is Unconfined"
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            yield "apparmor", f"annotation {key}={value}"
    yield from _selinux("spec.securityContext", pod_sc)
    for where, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            yield "privileged", f"{where}: privileged is true"
        if _dig(sc, ("windowsOptions", "hostProcess")):
            yield "host-process", f"{where}: windowsOptions.hostProcess is true"
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                yield "host-ports", f"{where}: hostPort {port['hostPort']}"
        if sc.get("procMount", "Default") != "Default":
            yield "proc-mount", f"{where}: procMount {sc['procMount']}"
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            yield "seccomp", f"{where}: seccompProfile.type is Unconfined"
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            yield "apparmor", f"{where}: appArmorProfile.type is Unconfined"
        yield from _selinux(f"{where}.securityContext", sc)


def _selinux(where: str, sc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    options = sc.get("seLinuxOptions") or {}
    if options.get("type", "") not in ALLOWED_SELINUX_TYPES:
        yield "selinux", f"{where}.seLinuxOptions.type {options['type']!r}"
    for field in ("user", "role"):
        if options.get(field):
            yield "selinux", f"{where}.seLinuxOptions.{field} is set"


def _restricted(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    pod_sc = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            yield "volume-types", f"volume {volume.get('name')!r} of type {sorted(kinds - ALLOWED_VOLUME_TYPES)}"
    if pod_sc.get("runAsUser") == 0:
        yield "run-as-non-root-user", "spec.securityContext.runAsUser is 0"
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for where, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            yield "privilege-escalation", f"{where}: allowPrivilegeEscalation must be false"
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            yield "run-as-non-root", f"{where}: runAsNonRoot must be true (pod or container)"
        if sc.get("runAsUser") == 0:
            yield "run-as-non-root-user", f"{where}: runAsUser is 0"
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in SECCOMP_ALLOWED:
            yield "seccomp", f"{where}: seccompProfile.type must be RuntimeDefault or Localhost (got {seccomp})"
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield "capabilities", f"{where}: capabilities.drop must include ALL"
        added = set(capabilities.get("add") or []) - ADDABLE_CAPABILITIES
        if added:
            yield "capabilities", f"{where}: capabilities.add {sorted(added)} (only NET_BIND_SERVICE allowed)"


def _house(pod: PodTemplate, service_accounts: dict[tuple[str, str], dict[str, Any]]) -> Iterator[tuple[str, str]]:
    spec = pod.spec
    pod_sc = spec.get("securityContext") or {}
    for where, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            yield "read-only-root-filesystem", f"{where}: readOnlyRootFilesystem must be true (emptyDir for writes)"
        if (sc.get("runAsUser") or pod_sc.get("runAsUser")) is None:
            yield "explicit-uid", f"{where}: runAsUser unset; pin a non-zero UID (pod or container)"
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    mounts = spec.get("automountServiceAccountToken")
    if mounts is None:  # the pod inherits its service account's setting, which defaults to true
        mounts = (service_accounts.get((pod.namespace, account)) or {}).get("automountServiceAccountToken", True)
    if mounts is not False and (pod.namespace, account) not in TOKEN_ALLOWED_SERVICE_ACCOUNTS:
        yield "service-account-token", f"mounts a token for service account {account!r}, which is not allowlisted"


def violations(manifests: list[dict[str, Any]]) -> list[Finding]:
    """Every restricted-profile and house-rule violation, one Finding each."""
    service_accounts = {
        ((m.get("metadata") or {}).get("namespace") or "default", (m.get("metadata") or {}).get("name", "")): m
        for m in manifests if m.get("kind") == "ServiceAccount"
    }
    findings: list[Finding] = []
    for pod in pod_templates(manifests):
        for rule, message in (*_baseline(pod.spec, pod.metadata), *_restricted(pod.spec)):
            findings.append(Finding(pod.subject, message, rule=f"pss-restricted/{rule}"))
        for rule, message in _house(pod, service_accounts):
            findings.append(Finding(pod.subject, message, rule=f"house/{rule}"))
    return findings


def check(context: PlanContext) -> CheckResult:
    pods = list(pod_templates(context.manifests))
    findings = violations(context.manifests)
    bad = len({finding.subject for finding in findings})
    summary = f"{len(pods) - bad}/{len(pods)} pod templates meet PSS restricted and the house rules"
    return CheckResult("fail" if findings else "pass", summary, findings)
