"""Rules on what runs in a pod: pinned images from allowed registries, resources, probes, Pod Security."""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Iterator, Mapping

from policies.k8s import containers, dig, is_mapping, items, kind_of, pod_spec
from policies.model import ResourceRule, Settings

# name[:tag][@digest]; the tag sits after the last "/" so a registry port is not mistaken for a tag.
_DIGEST_RE = re.compile(r"@sha256:[a-f0-9]{64}$")


def image_problem(image: Any) -> str:
    """"" when the image is pinned (a tag other than latest, or a digest); otherwise why not."""
    if not isinstance(image, str) or not image:
        return "has no image"
    if _DIGEST_RE.search(image):
        return ""
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (an untagged image means latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the mutable tag latest"
    return ""


def registry_of(image: str) -> str:
    """Docker's rule: the first path part is a registry only if it has a dot or a port, or is localhost."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def check_images_pinned(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    spec = pod_spec(type_, props)
    if spec is None:
        return
    for label, container in containers(spec):
        problem = image_problem(container.get("image"))
        if problem:
            yield f"{label}: {problem}; pin a version tag or an @sha256 digest"


def check_allowed_registries(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    spec = pod_spec(type_, props)
    allowed = [str(pattern) for pattern in settings["allowedRegistries"]]
    if spec is None or not allowed:
        return
    for label, container in containers(spec):
        image = container.get("image")
        if isinstance(image, str) and image:
            registry = registry_of(image)
            if not any(fnmatch.fnmatch(registry, pattern) for pattern in allowed):
                yield f"{label}: image {image!r} comes from registry {registry!r}, not one of {allowed}"


def check_container_resources(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    spec = pod_spec(type_, props)
    if spec is None:
        return
    for label, container in containers(spec):
        missing = [
            f"{section}.{resource}"
            for section in ("requests", "limits")
            for resource in settings["resources"]
            if dig(container, "resources", section, resource) in (None, "")
        ]
        if missing:
            yield f"{label} does not set resources {', '.join(missing)}"


_PROBED_KINDS = ("Deployment", "StatefulSet")


def check_probes(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    if kind_of(type_) not in _PROBED_KINDS:
        return
    spec = pod_spec(type_, props)
    if spec is None:
        return
    for label, container in containers(spec, init=False):
        missing = [probe for probe in ("livenessProbe", "readinessProbe") if not is_mapping(container.get(probe))]
        if missing:
            yield f"{label} has no {' and no '.join(missing)}"


# Volume sources the "restricted" profile allows (every other source, hostPath first, is refused).
_RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}
_SECCOMP_ALLOWED = ("RuntimeDefault", "Localhost")


def _effective(container: Mapping[str, Any], pod: Mapping[str, Any], key: str) -> Any:
    """A container's securityContext field, falling back to the pod's (as the kubelet does)."""
    value = dig(container, "securityContext", key)
    return value if value is not None else dig(pod, key)


def check_pod_security(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    spec = pod_spec(type_, props)
    if spec is None:
        return
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host) is True:
            yield f"pod sets {host}: true"
    for volume in items(spec.get("volumes")):
        if is_mapping(volume):
            sources = [key for key in volume if key != "name"]
            for source in sources:
                if source not in _RESTRICTED_VOLUMES:
                    yield f"volume {volume.get('name', '?')!s} uses {source} (not allowed by restricted)"
    pod = spec.get("securityContext") or {}
    for label, container in containers(spec):
        context = container.get("securityContext") or {}
        if context.get("privileged") is True:
            yield f"{label} is privileged"
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{label} must set allowPrivilegeEscalation: false"
        drop = items(dig(context, "capabilities", "drop"))
        if "ALL" not in drop:
            yield f"{label} must drop ALL capabilities"
        added = [cap for cap in items(dig(context, "capabilities", "add")) if cap != "NET_BIND_SERVICE"]
        if added:
            yield f"{label} adds capabilities {added} (only NET_BIND_SERVICE is allowed)"
        if _effective(container, pod, "runAsNonRoot") is not True:
            yield f"{label} must run with runAsNonRoot: true (pod or container securityContext)"
        uid = _effective(container, pod, "runAsUser")
        if uid is None:
            yield f"{label} sets no runAsUser (a fixed non-zero UID)"
        elif uid == 0:
            yield f"{label} runs as UID 0"
        seccomp = dig(context, "seccompProfile", "type") or dig(pod, "seccompProfile", "type")
        if seccomp not in _SECCOMP_ALLOWED:
            yield f"{label} needs seccompProfile.type RuntimeDefault (or Localhost), has {seccomp!r}"
        for port in items(container.get("ports")):
            if is_mapping(port) and port.get("hostPort") not in (None, 0):
                yield f"{label} uses hostPort {port.get('hostPort')}"


_DEFAULT_REGISTRIES = [
    "docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "gcr.io", "public.ecr.aws", "*.dkr.ecr.*.amazonaws.com",
]

IMAGES_PINNED = ResourceRule(
    name="images-pinned",
    description="Every container image is pinned: a version tag (not latest) or an @sha256 digest.",
    level="mandatory",
    check=check_images_pinned,
)
ALLOWED_REGISTRIES = ResourceRule(
    name="allowed-registries",
    description="Container images come from an allowed registry (an empty list allows any).",
    level="mandatory",
    config={"allowedRegistries": {
        "type": "array", "items": {"type": "string"}, "default": _DEFAULT_REGISTRIES,
        "description": "registry host patterns (fnmatch); images without a registry are docker.io",
    }},
    check=check_allowed_registries,
)
CONTAINER_RESOURCES = ResourceRule(
    name="container-resources",
    description="Every container sets resource requests and limits.",
    level="mandatory",
    config={"resources": {
        "type": "array", "items": {"type": "string"}, "default": ["cpu", "memory"],
        "description": "resources every container must request and limit",
    }},
    check=check_container_resources,
)
WORKLOAD_PROBES = ResourceRule(
    name="workload-probes",
    description="Deployments and StatefulSets give every container a liveness and a readiness probe.",
    level="mandatory",
    check=check_probes,
)
POD_SECURITY_RESTRICTED = ResourceRule(
    name="pod-security-restricted",
    description=(
        "Pods meet Pod Security Standards \"restricted\": runAsNonRoot with a non-zero UID, seccomp "
        "RuntimeDefault, drop ALL, no privilege escalation, not privileged, no host namespaces, hostPath or hostPort."
    ),
    level="mandatory",
    check=check_pod_security,
)

RULES = [IMAGES_PINNED, ALLOWED_REGISTRIES, CONTAINER_RESOURCES, WORKLOAD_PROBES, POD_SECURITY_RESTRICTED]

