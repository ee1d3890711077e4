"""Every container image the prod stack runs, written out as literals (the pins the README and the deployment
plan name), so a changed or mistyped constant in a component is caught rather than echoed back by the test."""

from __future__ import annotations

from ops.checks.pod_security import pod_templates
from ops.manifests import manifests
from ops.runner import RunResult

KUBECTL = "registry.k8s.io/kubectl:v1.34.2"
EXPECTED = {
    "Deployment/doc-rag-prod/api-deployment-blue": {"api": "doc-rag/api:v1.0.0"},
    "Deployment/doc-rag-prod/api-deployment-green": {"api": "doc-rag/api:v1.1.0"},
    "StatefulSet/doc-rag-prod/postgres": {"postgres": "doc-rag/postgres-pgbackrest:16-alpine-2.54.2"},
    "StatefulSet/doc-rag-prod/redis": {"redis": "redis:7.4.1-alpine"},
    "StatefulSet/doc-rag-monitoring/prometheus": {"prometheus": "quay.io/prometheus/prometheus:v2.55.1",
                                                  "config-reloader": "ghcr.io/jimmidyson/configmap-reload:v0.14.0"},
    "Deployment/doc-rag-monitoring/grafana": {"grafana": "docker.io/grafana/grafana:11.3.1"},
    "CronJob/doc-rag-prod/postgres-backup-full": {"stanza-create": KUBECTL, "backup": KUBECTL},
    "CronJob/doc-rag-prod/postgres-backup-diff": {"stanza-create": KUBECTL, "backup": KUBECTL},
}


def test_every_prod_workload_runs_exactly_the_pinned_images(prod_run: RunResult):
    seen = {template.subject: {container["name"]: container["image"] for key in ("initContainers", "containers")
                               for container in template.spec.get(key) or []}
            for template in pod_templates(manifests(prod_run.resources))}
    assert seen == EXPECTED
