"""Container hardening every pod we build shares: the Pod Security Standards "restricted" security contexts
and the image pull policy. (The namespaces' Pod Security labels are components/namespaces.py's.)"""

from __future__ import annotations

from typing import Optional

import pulumi_kubernetes as k8s

# Every image is pinned (a tag the config validates, or an @sha256 digest): the node's copy is the
# right one, and a registry outage must not stop a pod from restarting.
PULL_POLICY = "IfNotPresent"

RUNTIME_DEFAULT = k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")


def container_security_context(read_only_root_filesystem: bool = True) -> k8s.core.v1.SecurityContextArgs:
    """Non-root, no privilege escalation, every capability dropped, RuntimeDefault seccomp."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=read_only_root_filesystem,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=RUNTIME_DEFAULT,
    )


def pod_security_context(uid: int, fs_group: Optional[int] = None) -> k8s.core.v1.PodSecurityContextArgs:
    """Pod-level identity: a fixed non-zero UID/GID; fs_group where a volume must be writable."""
    if uid == 0:
        raise ValueError("restricted pods never run as UID 0")
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=fs_group,
        fs_group_change_policy="OnRootMismatch" if fs_group is not None else None,
        seccomp_profile=RUNTIME_DEFAULT,
    )
