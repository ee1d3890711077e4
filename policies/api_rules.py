"""Rules on Kubernetes API versions: nothing removed or deprecated (PodSecurityPolicy was removed in 1.25)."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from policies.k8s import kind_of, kubernetes_kind
from policies.model import ResourceRule, Settings

# Beta APIs removed from Kubernetes by 1.32 (see the Kubernetes deprecated API migration guide).
REMOVED_API_VERSIONS = [
    "extensions/v1beta1",
    "apps/v1beta1",
    "apps/v1beta2",
    "policy/v1beta1",
    "networking.k8s.io/v1beta1",
    "batch/v1beta1",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "rbac.authorization.k8s.io/v1beta1",
    "storage.k8s.io/v1beta1",
    "admissionregistration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiregistration.k8s.io/v1beta1",
    "certificates.k8s.io/v1beta1",
    "coordination.k8s.io/v1beta1",
    "scheduling.k8s.io/v1beta1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1beta1",
    "node.k8s.io/v1beta1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
]


def check_api_versions(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    found = kubernetes_kind(type_)
    if found is None:
        return
    removed = [str(version) for version in settings["removedApiVersions"]]
    # The type token and the object's apiVersion normally agree; check both so neither hides the other.
    versions = {found[0], str(props.get("apiVersion") or found[0])}
    for version in sorted(versions & set(removed)):
        yield f"{kind_of(type_)} uses {version}, which is removed or deprecated; use its GA API"


NO_REMOVED_APIS = ResourceRule(
    name="no-removed-apis",
    description=("No object uses a removed or deprecated Kubernetes API version "
                 "(policy/v1beta1, extensions/v1beta1, ...)."),
    level="mandatory",
    config={"removedApiVersions": {
        "type": "array", "items": {"type": "string"}, "default": REMOVED_API_VERSIONS,
        "description": "apiVersions refused",
    }},
    check=check_api_versions,
)

RULES = [NO_REMOVED_APIS]
