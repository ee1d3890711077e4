"""Strict schemas for the CRD objects we render, the part of tier T3 that kubernetes-validate cannot do.

kubernetes-validate knows only the API server's own groups, so an Istio or cert-manager object would pass
T3 unchecked and a typo (`perTryTimout`, `credentialname`) would reach the cluster, where a CRD's
structural schema silently prunes unknown fields. crd_schemas/<group>_<version>_<Kind>.json are schemas
written for this project from the Istio, cert-manager and Gateway API v1 references (ours, not the upstream
CRDs): every object level we use refuses unknown fields, with types, enums and required fields, plus the
rules the projects' admission webhooks add (one of several alternatives, ...). `metadata` is Kubernetes'
own ObjectMeta taken from kubernetes-validate at the stack's kubernetesVersion, so it is held to the same
standard as a core object's. A CRD kind without a file here is reported "no-schema" (allowed, counted in the summary).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import kubernetes_validate
from jsonschema import Draft202012Validator, ValidationError
from kubernetes_validate.utils import VersionNotSupportedError
from packaging.version import Version
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).with_name("crd_schemas")

_STRICT_SUFFIX = "-local-strict"


def file_name(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{group}_{version}_{kind}.json"


@lru_cache(maxsize=None)
def schemas() -> dict[tuple[str, str], Path]:
    """(apiVersion, kind) -> schema file, for every CRD kind that has one (looked up, never built from input)."""
    found = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        properties = json.loads(path.read_text(encoding="utf-8"))["properties"]
        found[(properties["apiVersion"]["const"], properties["kind"]["const"])] = path
    return found


def _schema_minor(kubernetes_version: str) -> str:
    """kubernetes-validate's schema set for a version: the newest one not newer than it (as it picks)."""
    wanted = Version(".".join(kubernetes_version.lstrip("v").split(".")[:2]))
    root = resources.files(kubernetes_validate) / "kubernetes-json-schema"
    available = sorted(
        Version(entry.name[1:-len(_STRICT_SUFFIX)])
        for entry in root.iterdir()
        if entry.name.startswith("v") and entry.name.endswith(_STRICT_SUFFIX)
    )
    candidates = [v for v in available if (v.major, v.minor) <= (wanted.major, wanted.minor)]
    if not candidates or (wanted.major, wanted.minor) > (available[-1].major, available[-1].minor):
        raise VersionNotSupportedError(kubernetes_version)
    return str(candidates[-1])


@lru_cache(maxsize=None)
def _kubernetes_definitions(kubernetes_version: str) -> Resource:
    """Kubernetes' own definitions (ObjectMeta, ...), strict, as kubernetes-validate ships them."""
    schema_set = f"v{_schema_minor(kubernetes_version)}{_STRICT_SUFFIX}"
    path = resources.files(kubernetes_validate) / "kubernetes-json-schema" / schema_set / "_definitions.json"
    return Resource.from_contents(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=None)
def _validator(path: Path, kubernetes_version: str) -> Draft202012Validator:
    schema = json.loads(path.read_text(encoding="utf-8"))
    registry: Registry = _kubernetes_definitions(kubernetes_version) @ Registry()
    return Draft202012Validator(schema, registry=registry)


def _required_sets(schema: Any) -> list[list[str]]:
    """The field sets of `{"required": [...]}` / `{"anyOf": [{"required": [...]}, ...]}`."""
    if isinstance(schema, dict) and "required" in schema:
        return [schema["required"]]
    if isinstance(schema, dict) and "anyOf" in schema:
        return [s["required"] for s in schema["anyOf"] if isinstance(s, dict) and "required" in s]
    return []


def _describe(error: ValidationError) -> str:
    """jsonschema's message, except for the combinators, whose default message dumps the whole object."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "not":
        clashes = [fields for fields in _required_sets(error.validator_value) if set(fields) <= set(instance)]
        if clashes:
            return "; ".join(" and ".join(repr(f) for f in fields) + " exclude each other" for fields in clashes)
    if error.validator == "anyOf":
        alternatives = _required_sets({"anyOf": error.validator_value})
        if alternatives and len(alternatives) == len(error.validator_value):
            return "needs one of " + ", ".join(repr(a[0]) if len(a) == 1 else repr(a) for a in alternatives)
    if error.validator == "pattern" and "$comment" in error.schema:
        return f"{error.instance!r} is not a {error.schema['$comment']}"
    if error.validator in ("maxProperties", "minProperties"):
        low, high = error.schema.get("minProperties"), error.schema.get("maxProperties")
        if low == high:
            amount = f"exactly {high} of {{}} must"
        elif error.validator == "maxProperties":
            amount = f"at most {high} of {{}} may"
        else:
            amount = f"at least {low} of {{}} must"
        allowed = sorted(error.schema.get("properties", {}))
        return f"{amount.format(allowed)} be set (got {sorted(instance)})"
    return error.message


def validate(manifest: dict[str, Any], kubernetes_version: str) -> tuple[str, str]:
    """("ok" | "error" | "no-schema", message) for one object of a CRD group."""
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    path = schemas().get((api_version, kind))
    if path is None:
        return "no-schema", f"{api_version} {kind}: a CRD kind without a schema in ops/checks/crd_schemas"
    validator = _validator(path, kubernetes_version)
    errors = sorted(validator.iter_errors(manifest), key=lambda error: [str(part) for part in error.absolute_path])
    if not errors:
        return "ok", ""
    return "error", "; ".join(
        f"{'.'.join(str(part) for part in error.absolute_path) or '(object)'}: {_describe(error)}" for error in errors
    )
