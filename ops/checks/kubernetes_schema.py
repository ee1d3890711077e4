"""T3: every rendered object validated with kubernetes-validate, strict, at the stack's kubernetesVersion.

Strict mode refuses unknown fields, so a typo'd field fails, not only a wrong type. An object of a core
API group without a schema (a removed API such as policy/v1beta1 PodSecurityPolicy, or a misspelt kind)
fails. CRD groups have no upstream schema: the kinds we render (Istio Gateway/VirtualService/
DestinationRule, cert-manager Certificate/ClusterIssuer) are validated as strictly by crd_schema; any
other CRD kind is reported as not checked.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from ops.checks import crd_schema, schema_cache
from ops.checks.base import CheckResult, Finding, PlanContext
from ops.manifests import manifest_id

# Groups served by the Kubernetes API server itself; everything else is a CRD group.
# Groups the API server itself serves (built in, never CRDs). Listed rather than matched by `.k8s.io`:
# gateway.networking.k8s.io and other SIG projects use that suffix for CRDs.
_CORE_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "extensions",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
    "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
    "storagemigration.k8s.io",
}


def is_core_group(api_version: str) -> bool:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group in _CORE_GROUPS


def validate_manifest(manifest: dict[str, Any], kubernetes_version: str) -> tuple[str, str]:
    """("ok" | "error" | "no-schema", message) for one object."""
    api_version = manifest.get("apiVersion", "")
    if not is_core_group(api_version):
        # Never kubernetes-validate: it files a schema under the group's first label, so it would judge
        # e.g. networking.istio.io/v1 by networking.k8s.io/v1's schemas.
        return crd_schema.validate(manifest, kubernetes_version)
    try:
        schema_cache.validate(manifest, kubernetes_version, strict=True)  # kubernetes-validate, schemas read once
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "(object)"
        return "error", f"{where}: {error.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return "error", (
            f"{api_version} {manifest.get('kind')} does not exist in Kubernetes {kubernetes_version} "
            "(removed API or misspelt kind)"
        )
    unknown = unknown_volume_mounts(manifest)
    if unknown:
        return "error", "; ".join(unknown)
    return "ok", ""


def _pod_spec(manifest: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "Pod":
        return "spec", spec
    if manifest.get("kind") == "CronJob":
        return "spec.jobTemplate.spec.template.spec", (
            ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    return "spec.template.spec", (spec.get("template") or {}).get("spec") or {}


def unknown_volume_mounts(manifest: dict[str, Any]) -> list[str]:
    """Mounts of volumes the pod does not declare: the schema allows them, the API server refuses the object
    ("volumeMounts[n].name: Not found")."""
    where, pod = _pod_spec(manifest)
    declared = {volume.get("name") for volume in pod.get("volumes") or []}
    if manifest.get("kind") == "StatefulSet":
        declared |= {(claim.get("metadata") or {}).get("name")
                     for claim in (manifest.get("spec") or {}).get("volumeClaimTemplates") or []}
    return [
        f"{where}.{field}[{index}].volumeMounts[{mount_index}].name: {mount.get('name')!r} is not a volume of the pod"
        for field in ("initContainers", "containers")
        for index, container in enumerate(pod.get(field) or [])
        for mount_index, mount in enumerate(container.get("volumeMounts") or [])
        if mount.get("name") not in declared
    ]


def check(context: PlanContext) -> CheckResult:
    version = context.config.kubernetesVersion
    findings: list[Finding] = []
    unchecked = 0
    for manifest in context.manifests:
        status, message = validate_manifest(manifest, version)
        if status == "error":
            findings.append(Finding(manifest_id(manifest), message, rule="kubernetes-schema"))
        elif status == "no-schema":
            unchecked += 1
    total = len(context.manifests)
    summary = f"{total - len(findings) - unchecked}/{total} objects valid at {version} (strict)"
    if unchecked:
        summary += f", {unchecked} CRD objects without schema"
    return CheckResult("fail" if findings else "pass", summary, findings)
