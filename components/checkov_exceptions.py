"""The justified checkov exceptions every workload shares.

An exception to a checkov check is never a command-line flag: it is an inline annotation on the object
(`checkov.io/skipN: CKV_K8S_xx=reason`), so the reason travels with the manifest. The reasons live here,
once; docs/security.md lists every one. tests/ops/checks/test_checkov.py keeps the two in step and fails on a reason
no rendered object uses (a stale exception is an invitation to skip a check that now passes).
"""

from __future__ import annotations

from typing import Mapping

import pulumi_kubernetes as k8s

REASONS: dict[str, str] = {
    "CKV_K8S_43": "image pinned by an exact version tag; release and postgres images also accept a digest "
                  "(repo@sha256:...) in the stack config",
    "CKV_K8S_15": "IfNotPresent is deliberate for pinned images: restarts do not depend on the registry",
    "CKV_K8S_35": "the seed passes this secret as an env var (secretKeyRef); the value stays in a Secret and is "
                  "never logged",
    "CKV_K8S_38": "Prometheus discovers scrape targets through the Kubernetes API (read-only Role in doc-rag-prod)",
}


def checkov_skips(*check_ids: str, **reasons: str) -> dict[str, str]:
    """The annotations that make checkov skip `check_ids` (reasons from REASONS) and `reasons` (given here,
    for a reason specific to one workload, e.g. CKV_K8S_40="the image's own user")."""
    merged = {check_id: REASONS[check_id] for check_id in check_ids}
    merged.update(reasons)
    for check_id, reason in merged.items():
        if "=" in reason or not reason.strip():
            raise ValueError(f"checkov skip {check_id}: the reason must be non-empty text without '='")
    return {f"checkov.io/skip{n}": f"{check_id}={reason}" for n, (check_id, reason) in enumerate(merged.items(), 1)}


def annotated(metadata: k8s.meta.v1.ObjectMetaArgs, annotations: Mapping[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
    """`metadata` with `annotations` added (existing annotations kept)."""
    existing = metadata.annotations if isinstance(metadata.annotations, Mapping) else {}
    metadata.annotations = {**existing, **annotations}
    return metadata
