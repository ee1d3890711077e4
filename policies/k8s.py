"""Reading Kubernetes objects as Pulumi registers them: type tokens, metadata, pod specs, label selectors.

Props may be pulumi_policy's unknown-checking proxies (Mapping/Sequence, not dict/list): every helper
tests against the abstract types, and reading an unknown value raises UnknownValueError, which the
pack and the offline engine both turn into "could not run during preview".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Iterator, Optional

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")

# Where the pod template sits in each workload kind.
_POD_TEMPLATE_PATH = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}


def is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def dig(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]... or None where a level is missing (unknowns still raise)."""
    for key in path:
        if not is_mapping(value) or key not in value:
            return None
        value = value[key]
    return value


def items(value: Any) -> list[Any]:
    return list(value) if is_list(value) else []


def kubernetes_kind(type_token: str) -> Optional[tuple[str, str]]:
    """`kubernetes:apps/v1:Deployment` -> ("apps/v1", "Deployment"); core/v1 -> "v1"; else None."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group_version = parts[1][len("core/"):] if parts[1].startswith("core/") else parts[1]
    return group_version, parts[2]


def kind_of(type_token: str) -> str:
    found = kubernetes_kind(type_token)
    return found[1] if found else ""


def name_of(props: Mapping[str, Any]) -> str:
    return str(dig(props, "metadata", "name") or "")


def namespace_of(props: Mapping[str, Any]) -> str:
    return str(dig(props, "metadata", "namespace") or "default")


def labels_of(value: Any) -> dict[str, Any]:
    labels = dig(value, "metadata", "labels")
    return {key: labels[key] for key in labels} if is_mapping(labels) else {}


def annotations_of(props: Mapping[str, Any]) -> dict[str, Any]:
    annotations = dig(props, "metadata", "annotations")
    return {key: annotations[key] for key in annotations} if is_mapping(annotations) else {}


def pod_template(type_token: str, props: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The object holding the pod's metadata and spec (the Pod itself for a bare Pod)."""
    path = _POD_TEMPLATE_PATH.get(kind_of(type_token))
    if path is None:
        return None
    template = dig(props, *path) if path else props
    return template if is_mapping(template) else None


def pod_spec(type_token: str, props: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    template = pod_template(type_token, props)
    spec = dig(template, "spec") if template is not None else None
    return spec if is_mapping(spec) else None


def containers(spec: Mapping[str, Any], *, init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, container) for containers, then init and ephemeral containers when `init`."""
    groups = (("containers", "container"), ("initContainers", "init container"),
              ("ephemeralContainers", "ephemeral container"))
    for key, label in groups if init else groups[:1]:
        for container in items(spec.get(key)):
            if is_mapping(container):
                yield f"{label} {container.get('name', '?')!s}", container


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set; an empty selector matches all."""
    if not is_mapping(selector):
        return False
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(key) != match_labels[key] for key in match_labels):
        return False
    for expression in items(selector.get("matchExpressions")):
        key, operator = expression.get("key"), expression.get("operator")
        values = items(expression.get("values"))
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # the API server refuses an unknown operator; never read it as "matches everything"
    return True


# What int() reads back: one optional minus and ASCII digits ("--5" and "²" are digits to isdigit(), not to int()).
_INTEGER = re.compile(r"-?[0-9]+")


def to_int(value: Any) -> Optional[int]:
    """Numbers arrive as floats and annotations as strings: "25", 25.0 and 25 all read as 25."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None
