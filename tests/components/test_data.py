"""The data component (components/data.py): the deployment plan's values on the rendered Secret, Postgres and Redis, and
no password in clear or on a command line."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest
import yaml

from components import data
from ops.stackconfig import SECRET_PLACEHOLDER
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.conftest import PROJECT_DIR
from tests.workloads_helpers import lookup, objects, render, render_diff

FIXTURES = ALL_FIXTURES / "workloads"
PROD = "doc-rag-prod"
C_PG = "spec.template.spec.containers[name=postgres]"
C_REDIS = "spec.template.spec.containers[name=redis]"
POD = "spec.template.spec"


@pytest.fixture(scope="module")
def run():
    return render()


@pytest.fixture(scope="module")
def rendered(run):
    return objects(run)


STS_PG = STS_PG = f"StatefulSet/{PROD}/postgres"
STS_REDIS = f"StatefulSet/{PROD}/redis"

# (object, path, value the deployment plan or an issue requires)
PLAN_VALUES: list[tuple[str, str, object]] = [
    (f"Secret/{PROD}/doc-rag-secrets", "stringData",
     {"postgres-password": "[secret]", "database-url": "[secret]", "redis-password": "[secret]",
      "redis-url": "[secret]", "redis.conf": "[secret]"}),
    (STS_PG, "spec.serviceName", "postgres-service"),
    (STS_PG, "spec.replicas", 1),
    (STS_PG, f"{C_PG}.image", "postgres:16-alpine"),
    (STS_PG, f"{C_PG}.env[name=POSTGRES_DB].value", "docrag"),
    (STS_PG, f"{C_PG}.env[name=POSTGRES_USER].value", "docrag"),
    (STS_PG, f"{C_PG}.env[name=POSTGRES_PASSWORD].valueFrom.secretKeyRef",
     {"name": "doc-rag-secrets", "key": "postgres-password"}),
    (STS_PG, f"{C_PG}.env[name=PGDATA].value", "/var/lib/postgresql/data/pgdata"),
    (STS_PG, f"{C_PG}.ports[0].containerPort", 5432),
    (STS_PG, f"{C_PG}.volumeMounts[name=postgres-storage].mountPath", "/var/lib/postgresql/data"),
    (STS_PG, f"{C_PG}.volumeMounts[name=postgres-config].mountPath", "/etc/postgresql/postgresql.conf"),
    (STS_PG, f"{C_PG}.volumeMounts[name=postgres-config].subPath", "postgresql.conf"),
    # The mounted file is actually used: the server is started with it as config_file.
    (STS_PG, f"{C_PG}.args", ["-c", "config_file=/etc/postgresql/postgresql.conf"]),
    (STS_PG, f"{C_PG}.volumeMounts[name=run].mountPath", "/var/run/postgresql"),
    (STS_PG, f"{C_PG}.volumeMounts[name=tmp].mountPath", "/tmp"),
    # Parallel queries' dynamic shared memory lives in /dev/shm, 64 MiB in a container unless mounted.
    (STS_PG, f"{C_PG}.volumeMounts[name=shm].mountPath", "/dev/shm"),
    (STS_PG, f"{POD}.volumes[name=shm].emptyDir", {"medium": "Memory", "sizeLimit": "1Gi"}),
    (STS_PG, f"{C_PG}.securityContext.readOnlyRootFilesystem", True),
    (STS_PG, f"{C_PG}.readinessProbe.exec.command[0]", "pg_isready"),
    (STS_PG, f"{C_PG}.livenessProbe.exec.command[0]", "pg_isready"),
    (STS_PG, f"{POD}.securityContext.runAsUser", 70),
    (STS_PG, f"{POD}.securityContext.fsGroup", 70),
    (STS_PG, f"{POD}.volumes[name=postgres-config].configMap.name", "postgres-config"),
    (STS_PG, "spec.volumeClaimTemplates[0].metadata.name", "postgres-storage"),
    (STS_PG, "spec.volumeClaimTemplates[0].spec.accessModes", ["ReadWriteOnce"]),
    (STS_PG, "spec.volumeClaimTemplates[0].spec.resources.requests.storage", "100Gi"),
    (STS_PG, "spec.volumeClaimTemplates[0].spec.storageClassName", "gp3"),
    (STS_PG, "spec.selector.matchLabels.{app.kubernetes.io/name}", "postgres"),  # the deployment plan's NetworkPolicy
    (f"ConfigMap/{PROD}/postgres-config", "data.{postgresql.conf}", data.POSTGRESQL_CONF),
    (f"Service/{PROD}/postgres-service", "spec.ports[0].port", 5432),
    (f"Service/{PROD}/postgres-service", "spec.selector.{app.kubernetes.io/name}", "postgres"),
    (f"Service/{PROD}/redis-service", "spec.ports[0].port", 6379),
    (f"Service/{PROD}/redis-service", "spec.selector.{app.kubernetes.io/name}", "redis"),
    (STS_REDIS, f"{C_REDIS}.image", "redis:7.4.1-alpine"),
    # The password reaches redis-server in a config file from the Secret, never on its command line.
    (STS_REDIS, f"{C_REDIS}.command", ["redis-server"]),
    (STS_REDIS, f"{C_REDIS}.args", ["/etc/redis/redis.conf", "--appendonly", "yes", "--dir", "/data",
                                    "--port", "6379"]),
    (STS_REDIS, f"{C_REDIS}.volumeMounts[name=redis-config]",
     {"name": "redis-config", "mountPath": "/etc/redis", "readOnly": True}),
    (STS_REDIS, f"{POD}.volumes[name=redis-config].secret",
     {"secretName": "doc-rag-secrets", "defaultMode": 0o440, "items": [{"key": "redis.conf", "path": "redis.conf"}]}),
    # redis-cli in the probes reads the password from REDISCLI_AUTH, so no probe command line holds it.
    (STS_REDIS, f"{C_REDIS}.env", [{"name": "REDISCLI_AUTH", "valueFrom": {
        "secretKeyRef": {"name": "doc-rag-secrets", "key": "redis-password"}}}]),
    (STS_REDIS, f"{C_REDIS}.readinessProbe.exec.command[0]", "sh"),
    (STS_REDIS, f"{C_REDIS}.livenessProbe.exec.command[0]", "sh"),
    (STS_REDIS, f"{C_REDIS}.securityContext.runAsNonRoot", True),
    (STS_REDIS, f"{POD}.securityContext.runAsUser", 999),
    (STS_REDIS, "spec.volumeClaimTemplates[0].spec.storageClassName", "gp3"),
    (STS_REDIS, f"{C_REDIS}.volumeMounts[name=redis-storage].mountPath", "/data"),
]


@pytest.mark.parametrize("obj,path,expected", PLAN_VALUES, ids=[f"{o}:{p}" for o, p, _ in PLAN_VALUES])
def test_deployment_plan_value(rendered, obj, path, expected):
    assert obj in rendered, f"{obj} not rendered"
    assert lookup(rendered[obj], path) == expected


def test_secret_values_are_secret_and_composed_in_cluster(run):
    """The Secret's values reach the engine only inside the secret envelope; the URL points at the
    in-cluster services; the redis password is derived, not equal to the postgres one."""
    from pulumi.runtime import rpc

    envelope = run.named("doc-rag-secrets").inputs["stringData"]
    assert envelope[rpc._special_sig_key] == rpc._special_secret_sig
    values = envelope["value"]  # inspected, never printed
    assert values["postgres-password"] == SECRET_PLACEHOLDER
    assert values["database-url"].startswith("postgresql://docrag:")
    assert values["database-url"].endswith("@postgres-service.doc-rag-prod.svc.cluster.local:5432/docrag")
    assert values["redis-password"] == data.redis_password(SECRET_PLACEHOLDER)
    assert values["redis-password"] != SECRET_PLACEHOLDER
    assert values["redis-url"].endswith("@redis-service.doc-rag-prod.svc.cluster.local:6379/0")
    # The file redis-server is started with sets exactly the password the clients and probes use.
    assert values["redis.conf"] == f"requirepass {values['redis-password']}\n"


# A kubelet-expanded $(VAR) naming a password, or redis' --requirepass flag: either puts a secret into
# /proc/<pid>/cmdline, readable by every process in the pod.
_PASSWORD_ON_CMDLINE = re.compile(r"\$\([^)]*PASSWORD[^)]*\)|--requirepass", re.IGNORECASE)
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _command_lines(value: Any) -> Iterator[str]:
    """Every string of a `command` or `args` list under `value` (container, probes, lifecycle hooks)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("command", "args") and isinstance(item, list):
                yield from (str(part) for part in item)
            else:
                yield from _command_lines(item)
    elif isinstance(value, list):
        for item in value:
            yield from _command_lines(item)


def passwords_on_command_lines(manifest: dict[str, Any]) -> list[str]:
    """`<kind>/<name>: <container>: <offending part>` for every pod spec anywhere in the manifest."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key in _CONTAINER_LISTS:
                for container in value.get(key) or []:
                    found.extend(f"{manifest['kind']}/{manifest['metadata']['name']}: {container['name']}: {part}"
                                 for part in _command_lines(container) if _PASSWORD_ON_CMDLINE.search(part))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(manifest)
    return found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_password_on_any_command_line(run, stack):
    checked = objects(run if stack == "dev" else render(stack="prod"))
    pods = [key for key, obj in checked.items() if "containers" in json.dumps(obj)]
    assert f"StatefulSet/{PROD}/redis" in pods
    assert [hit for obj in checked.values() for hit in passwords_on_command_lines(obj)] == []


def test_password_on_command_line_fixture_is_rejected():
    """The old redis start line and its variants (command, init container, probe) are each reported."""
    manifests = list(yaml.safe_load_all((FIXTURES / "password-on-command-line.yaml").read_text()))
    for manifest in manifests:
        assert passwords_on_command_lines(manifest), manifest["metadata"]["name"]


def test_no_secret_in_clear_in_manifests(run):
    text = json.dumps(objects(run))
    assert SECRET_PLACEHOLDER not in text
    assert data.redis_password(SECRET_PLACEHOLDER) not in text


def test_a_new_password_changes_only_the_secret(run):
    """Rotation is not automatic: a new postgresPassword rewrites doc-rag-secrets and nothing else (no pod
    template moves), so the documented procedure (ALTER ROLE, restart Redis and the API) is what applies it."""
    other = render(postgres_password="another-placeholder")
    before = run.named("doc-rag-secrets").inputs["stringData"]["value"]
    after = other.named("doc-rag-secrets").inputs["stringData"]["value"]
    changed = sorted(key for key in before if before[key] != after[key])  # key names only, never values
    assert changed == ["database-url", "postgres-password", "redis-password", "redis-url", "redis.conf"]
    assert render_diff(run, other) == {}  # secrets redacted: every other object is identical
    assert "rotates" not in (data.redis_password.__doc__ or "")
    procedure = (PROJECT_DIR / "docs" / "traffic.md").read_text()
    for step in ("\\password docrag", "rollout restart statefulset/redis",
                 "rollout restart deployment/api-deployment-blue"):
        assert step in procedure, step


def test_database_url_escapes_the_password():
    """A password with URL metacharacters is percent-encoded, so the URL still parses."""
    from pulumi.runtime import rpc

    run = render(postgres_password="p@ss:w/rd")
    envelope = run.named("doc-rag-secrets").inputs["stringData"]
    assert envelope[rpc._special_sig_key] == rpc._special_secret_sig
    assert envelope["value"]["database-url"].startswith("postgresql://docrag:p%40ss%3Aw%2Frd@postgres-service.")
