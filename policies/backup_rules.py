"""Stack rule on data safety: in a production stack, every stateful workload of the application's namespaces
has a scheduled backup (`namespaces`: doc-rag-prod; Prometheus' metrics in doc-rag-monitoring are not kept).

"Stateful" is a StatefulSet with volume claim templates (its data outlives its pods); "has a backup" is a
CronJob in the same namespace labelled `doc-rag/backup-of: <StatefulSet name>` (components/backup.py). A
stack is production when its name, read from the resources' URNs, is one of `productionStacks`: dev and
local stacks need none (dev renders without backups; local backs up to a bucket that is not real).
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

from policies.k8s import dig, items, kind_of, labels_of, name_of, namespace_of
from policies.model import Settings, StackResource, StackRule, Violation

BACKUP_OF_LABEL = "doc-rag/backup-of"  # the label components/backup.py puts on its CronJobs


def stack_of(urn: str) -> Optional[str]:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> the stack name."""
    parts = urn.split(":", 2)
    return parts[2].split("::", 1)[0] if len(parts) == 3 and parts[:2] == ["urn", "pulumi"] else None


def check_backups(resources: Sequence[StackResource], settings: Settings) -> Iterator[Violation]:
    production = {str(stack) for stack in settings["productionStacks"]}
    exempt = {str(workload) for workload in settings["exemptWorkloads"]}
    namespaces = {str(namespace) for namespace in settings["namespaces"]}
    backed_up = {
        (namespace_of(r.props), str(labels_of(r.props)[BACKUP_OF_LABEL]))
        for r in resources
        if kind_of(r.type) == "CronJob" and BACKUP_OF_LABEL in labels_of(r.props)
    }
    for resource in resources:
        if kind_of(resource.type) != "StatefulSet" or stack_of(resource.urn) not in production:
            continue
        if namespace_of(resource.props) not in namespaces:
            continue
        if not items(dig(resource.props, "spec", "volumeClaimTemplates")):
            continue
        workload = (namespace_of(resource.props), name_of(resource.props))
        if f"{workload[0]}/{workload[1]}" in exempt or workload in backed_up:
            continue
        yield Violation(
            f"StatefulSet {workload[0]}/{workload[1]} keeps data on volume claims but no CronJob labelled "
            f"{BACKUP_OF_LABEL}: {workload[1]} backs it up (production stack {stack_of(resource.urn)!r}; "
            "turn on postgres.backup)", resource.urn)


STATEFUL_WORKLOAD_BACKUP = StackRule(
    name="stateful-workload-backup",
    description="In a production stack, every StatefulSet with volume claims in doc-rag-prod has a backup CronJob "
                "(label doc-rag/backup-of: <name>) in its namespace.",
    level="mandatory",
    config={
        "productionStacks": {
            "type": "array", "items": {"type": "string"}, "default": ["prod"],
            "description": "stacks whose stateful workloads must be backed up",
        },
        "namespaces": {
            "type": "array", "items": {"type": "string"}, "default": ["doc-rag-prod"],
            "description": "namespaces whose StatefulSets hold data that must be backed up",
        },
        "exemptWorkloads": {
            "type": "array", "items": {"type": "string"}, "default": ["doc-rag-prod/redis"],
            "description": "namespace/name of StatefulSets that need no backup (Redis is a cache: the API "
                           "rebuilds it from Postgres)",
        },
    },
    check=check_backups,
)

RULES = [STATEFUL_WORKLOAD_BACKUP]
