"""Helpers shared by the workloads/traffic tests: rendering, path lookup, diffs, strict validation."""

from __future__ import annotations

import re
from typing import Any, Iterator

from pulumi.runtime import rpc

from ops.checks.kubernetes_schema import validate_manifest
from ops.manifests import REDACTED, clean, is_manifest, manifest_id, to_manifest
from ops.runner import RunResult, run_program
from ops.stackconfig import load_stack_config
from tests.conftest import program, with_secrets

# The dev stack needs no AWS; both colours get replicas so every object exists.
BASE = ("release.green.replicas=3",)


def render(*overrides: str, stack: str = "dev", postgres_password: str | None = None) -> RunResult:
    """The program for `stack`; `postgres_password` as the engine passes a decrypted secret (a plain `--set`
    of a secret key is refused)."""
    if postgres_password is None:
        return program(stack, BASE + tuple(overrides))  # once per config in a test process
    config = load_stack_config(stack, BASE + tuple(overrides))
    with_secrets(config, postgresPassword=postgres_password)
    return run_program(stack, stack_config=config)


def _keep_secret_keys(value: Any) -> Any:
    """Like ops.manifests.clean, but a secret mapping keeps its keys (values redacted) so the object
    still has the shape the schema expects. Never returns a secret value."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        inner = value.get("value")
        return {key: REDACTED for key in inner} if isinstance(inner, dict) else REDACTED
    if isinstance(value, dict):
        return {key: _keep_secret_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keep_secret_keys(item) for item in value]
    return value


def objects(run: RunResult) -> dict[str, dict[str, Any]]:
    """manifest_id -> manifest, secrets redacted per key."""
    result = {}
    for resource in run.resources:
        if is_manifest(resource):
            manifest = clean(_keep_secret_keys(resource.inputs))
            manifest = {"apiVersion": manifest.pop("apiVersion"), "kind": manifest.pop("kind"), **manifest}
            result[manifest_id(manifest)] = manifest
    return result


def plain_manifests(run: RunResult) -> list[dict[str, Any]]:
    return [to_manifest(resource) for resource in run.resources if is_manifest(resource)]


_SEGMENT = re.compile(r"([^.\[\]]+)(?:\[([^\]]+)\])?")


def lookup(obj: Any, path: str) -> Any:
    """`spec.template.spec.containers[name=api].ports[0].containerPort`; annotations keys in {…} braces."""
    for part in _split(path):
        if part.startswith("{"):
            obj = obj[part[1:-1]]
            continue
        match = _SEGMENT.fullmatch(part)
        assert match, part
        key, index = match.groups()
        obj = obj[key]
        if index is None:
            continue
        if "=" in index:
            field, wanted = index.split("=", 1)
            found = [item for item in obj if str(item.get(field)) == wanted]
            assert len(found) == 1, f"{path}: {len(found)} items with {field}={wanted}"
            obj = found[0]
        else:
            obj = obj[int(index)]
    return obj


def _split(path: str) -> Iterator[str]:
    buffer, depth = "", 0
    for char in path:
        if char == "." and depth == 0:
            yield buffer
            buffer = ""
            continue
        depth += char in "[{"
        depth -= char in "]}"
        buffer += char
    if buffer:
        yield buffer


def diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Paths whose values differ between two JSON-like values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            out += diff(a, b, f"{path}[{index}]")
        return out
    return [] if old == new else [path]


def render_diff(old: RunResult, new: RunResult) -> dict[str, list[str]]:
    """manifest_id -> changed paths; added/removed objects appear with the path '<added>'/'<removed>'."""
    a, b = objects(old), objects(new)
    changes: dict[str, list[str]] = {}
    for key in sorted(set(a) | set(b)):
        if key not in a:
            changes[key] = ["<added>"]
        elif key not in b:
            changes[key] = ["<removed>"]
        elif paths := diff(a[key], b[key]):
            changes[key] = paths
    return changes


def schema_errors(run: RunResult, kubernetes_version: str = "1.34") -> list[str]:
    errors = []
    for key, manifest in objects(run).items():
        status, message = validate_manifest(manifest, kubernetes_version)
        # "no-schema" is only returned for CRD groups (Istio, cert-manager); core groups without one fail.
        if status == "error":
            errors.append(f"{key}: {message}")
    return errors


OUR_COMPONENTS = ("doc-rag:traffic:Traffic", "doc-rag:api:Api", "doc-rag:data:Data")


def ids_of(run: RunResult, components: tuple[str, ...] = OUR_COMPONENTS) -> set[str]:
    """manifest ids of the objects whose parent component is one of `components`."""
    result = set()
    for resource in run.resources:
        if is_manifest(resource) and any(f"{token}$" in resource.urn for token in components):
            manifest = to_manifest(resource)
            result.add(manifest_id(manifest))
    return result
