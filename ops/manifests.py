"""Turn what the program registered into Kubernetes manifests and redacted plan data.

Values reach the monitor as the engine would send them: numbers as floats, secrets in Pulumi's secret
envelope, unknowns (during a preview) as the SDK's Unknown marker. Here integral floats become ints,
secrets become REDACTED and unknowns become UNKNOWN, so nothing written to disk carries a secret.
"""

from __future__ import annotations

from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from ops.runner import Registered

REDACTED = "[secret]"
UNKNOWN = "[unknown]"

# Kubernetes resources that are not one object of the API (Helm releases, YAML groups, providers).
_NOT_MANIFESTS = ("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _redact(value: Any) -> Any:
    """A secret map keeps its keys (e.g. a Secret's stringData keys), every value is redacted."""
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return REDACTED


def clean(value: Any) -> Any:
    """Normalise one value for writing: secrets redacted, unknowns marked, integral floats as ints."""
    if _is_secret(value):
        return _redact(value.get("value"))
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_manifest(resource: Registered) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:") and not resource.type.startswith(
        _NOT_MANIFESTS
    ) and not resource.type.startswith("pulumi:providers:")


def to_manifest(resource: Registered) -> dict[str, Any]:
    """The object as `kubectl apply` would receive it (apiVersion and kind first)."""
    inputs = clean(resource.inputs)
    manifest = {"apiVersion": inputs.pop("apiVersion"), "kind": inputs.pop("kind")}
    manifest.update(inputs)
    return manifest


def manifests(resources: list[Registered]) -> list[dict[str, Any]]:
    return [to_manifest(resource) for resource in resources if is_manifest(resource)]


def manifest_id(manifest: dict[str, Any]) -> str:
    """`Kind/namespace/name` (namespace omitted for cluster-scoped objects)."""
    metadata = manifest.get("metadata") or {}
    parts = [manifest.get("kind", "?"), metadata.get("namespace"), metadata.get("name", "?")]
    return "/".join(str(part) for part in parts if part)
