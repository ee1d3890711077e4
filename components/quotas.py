"""ResourceQuota and LimitRange sizes for doc-rag-prod and doc-rag-monitoring.

Quotas are computed from the workloads' own resource constants (components/api.py, data.py and
observability.py) so the workloads, a full surge of both colours and the HPA maximum always fit; no
LoadBalancer Service and no NodePort may appear in either namespace (the ACME solver's Service is ClusterIP).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from components import api, data
from components import backup as pg_backup
from components import observability as obs
from components.config import COLORS, DocRagConfig
from components.meta import NS_MONITORING, NS_PROD

# cert-manager's HTTP-01 solver pod, in doc-rag-prod while a certificate is issued or renewed.
ACME_SOLVER_RESOURCES = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
# The solver's Service: the ClusterIssuer (components/platform.py) sets the http01 ingress solver's
# serviceType to ClusterIP (cert-manager's default would be a NodePort), so no node port is needed.
ACME_SOLVER_NODEPORTS = 0

Resources = Mapping[str, Mapping[str, str]]  # {"requests": {"cpu": ..., "memory": ...}, "limits": {...}}

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$")
_UNITS = {"": 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value: str) -> float:
    """A Kubernetes quantity in base units (cores, bytes)."""
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"not a quantity this module sizes with: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def cpu_text(cores: float) -> str:
    millis = math.ceil(round(cores * 1000, 6))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_text(size: float) -> str:
    mebibytes = math.ceil(size / 2**20)
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


@dataclass(frozen=True)
class Workload:
    """The most pods of one workload that can exist at once, and each pod's containers' resources."""

    name: str
    pods: int
    containers: tuple[Resources, ...]


def prod_workloads(config: DocRagConfig) -> list[Workload]:
    # Both colours are budgeted at their HPA maximum plus a full surge even when one is retired, so a
    # release that brings it back never races the quota update inside the same `pulumi up`.
    workloads = [
        Workload(api.deployment_name(color), api.max_replicas(config.release.color(color)) + api.MAX_SURGE,
                 (api.API_RESOURCES,))
        for color in COLORS
    ]
    # StatefulSets roll one pod at a time without surge.
    workloads += [Workload(data.POSTGRES_NAME, 1, (data.POSTGRES_RESOURCES,)),
                  Workload(data.REDIS_NAME, 1, (data.REDIS_RESOURCES,)),
                  # cert-manager's solver pod while a certificate is issued or renewed.
                  Workload("acme-http01-solver", 1, (ACME_SOLVER_RESOURCES,))]
    if config.backups:
        # Full and differential jobs never overlap with themselves (Forbid), but may with each other.
        workloads.append(Workload(pg_backup.RUNNER, len(pg_backup.SCHEDULES), (pg_backup.RUNNER_RESOURCES,)))
    return workloads


def default_surge(replicas: int) -> int:
    """A Deployment's default rolling-update surge: 25 % of its replicas, rounded up."""
    return math.ceil(replicas * 25 / 100)


def monitoring_workloads(config: DocRagConfig) -> list[Workload]:
    # Sizes from components/observability.py. Jaeger is budgeted even when off, so turning it on needs no
    # quota change.
    return [Workload(obs.PROMETHEUS, obs.PROMETHEUS_REPLICAS, (obs.PROMETHEUS_RESOURCES, obs.RELOADER_RESOURCES)),
            Workload(obs.GRAFANA, obs.GRAFANA_REPLICAS + default_surge(obs.GRAFANA_REPLICAS),
                     (obs.GRAFANA_RESOURCES,)),
            Workload(obs.JAEGER, obs.JAEGER_REPLICAS + default_surge(obs.JAEGER_REPLICAS), (obs.JAEGER_RESOURCES,))]


def quota_hard(workloads: Sequence[Workload], claims: Sequence[str], nodeports: int = 0) -> dict[str, str]:
    """Room for the workloads' peak and their claims. No LoadBalancer Service at all: the only public NLB is
    ingress-nginx's, in doc-rag-ingress; NodePorts only as many as `nodeports`."""
    totals = {"requests.cpu": 0.0, "requests.memory": 0.0, "limits.cpu": 0.0, "limits.memory": 0.0}
    for workload in workloads:
        for container in workload.containers:
            for kind in ("requests", "limits"):
                totals[f"{kind}.cpu"] += workload.pods * quantity(container[kind]["cpu"])
                totals[f"{kind}.memory"] += workload.pods * quantity(container[kind]["memory"])
    return {
        "pods": str(sum(workload.pods for workload in workloads)),
        "requests.cpu": cpu_text(totals["requests.cpu"]),
        "requests.memory": memory_text(totals["requests.memory"]),
        "limits.cpu": cpu_text(totals["limits.cpu"]),
        "limits.memory": memory_text(totals["limits.memory"]),
        "persistentvolumeclaims": str(len(claims)),
        "requests.storage": memory_text(sum(quantity(claim) for claim in claims)),
        "services.loadbalancers": "0",
        "services.nodeports": str(nodeports),
    }


def container_max(workloads: Sequence[Workload]) -> dict[str, str]:
    """LimitRange max: the largest container limit we run, so nothing bigger is admitted."""
    cpu = max(quantity(c["limits"]["cpu"]) for w in workloads for c in w.containers)
    memory = max(quantity(c["limits"]["memory"]) for w in workloads for c in w.containers)
    return {"cpu": cpu_text(cpu), "memory": memory_text(memory)}


# A container that declares nothing (an injected sidecar, a debug pod) still counts against the quota.
DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMIT = {"cpu": "500m", "memory": "512Mi"}


@dataclass(frozen=True)
class Budget:
    namespace: str
    hard: dict[str, str]
    container_max: dict[str, str]


def budgets(config: DocRagConfig) -> list[Budget]:
    prod = prod_workloads(config)
    monitoring = monitoring_workloads(config)
    return [
        Budget(NS_PROD, quota_hard(prod, [config.postgres.storage, data.REDIS_STORAGE], ACME_SOLVER_NODEPORTS),
               container_max(prod)),
        Budget(NS_MONITORING, quota_hard(monitoring, [config.observability.prometheusStorage]),
               container_max(monitoring)),
    ]
