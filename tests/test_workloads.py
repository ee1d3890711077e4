"""Workloads (issue 3): the seed's values on rendered manifests, stable names, strict schemas, no secret in clear."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import kubernetes_validate
import pytest
import yaml

from components import api, data
from ops.checks.kubernetes_schema import validate_manifest
from ops.stackconfig import SECRET_PLACEHOLDER
from tests.workloads_helpers import diff, lookup, objects, render, render_diff, schema_errors

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "workloads"
PROD = "doc-rag-prod"
C_API = "spec.template.spec.containers[name=api]"
C_PG = "spec.template.spec.containers[name=postgres]"
C_REDIS = "spec.template.spec.containers[name=redis]"
POD = "spec.template.spec"


@pytest.fixture(scope="module")
def run():
    return render()


@pytest.fixture(scope="module")
def rendered(run):
    return objects(run)


def _api_rows(color: str, image: str) -> list[tuple[str, str, object]]:
    obj = f"Deployment/{PROD}/api-deployment-{color}"
    return [(obj, path, value) for path, value in [
        ("metadata.labels.{app.kubernetes.io/name}", "doc-rag"),
        ("metadata.labels.{app.kubernetes.io/component}", "api"),
        ("metadata.labels.version", color),
        # app.kubernetes.io/version is the application's version: the image tag, on the Deployment and its pods.
        ("metadata.labels.{app.kubernetes.io/version}", image.rsplit(":", 1)[1]),
        ("spec.template.metadata.labels.{app.kubernetes.io/version}", image.rsplit(":", 1)[1]),
        ("spec.selector.matchLabels", {"app.kubernetes.io/name": "doc-rag", "app.kubernetes.io/component": "api",
                                       "version": color}),
        ("spec.template.metadata.labels.version", color),
        ("spec.strategy.type", "RollingUpdate"),
        ("spec.strategy.rollingUpdate.maxUnavailable", 1),
        ("spec.strategy.rollingUpdate.maxSurge", 2),
        (f"{C_API}.image", image),
        (f"{C_API}.ports[containerPort=8080].name", "http"),
        (f"{C_API}.ports[containerPort=9090].name", "metrics"),
        (f"{C_API}.env[name=RUST_LOG].value", "info"),
        (f"{C_API}.env[name=DATABASE_URL].valueFrom.secretKeyRef", {"name": "doc-rag-secrets", "key": "database-url"}),
        (f"{C_API}.resources.requests", {"cpu": "500m", "memory": "1Gi"}),
        (f"{C_API}.resources.limits", {"cpu": "2", "memory": "2Gi"}),
        (f"{C_API}.livenessProbe.httpGet", {"path": "/health", "port": 8080}),
        (f"{C_API}.livenessProbe.initialDelaySeconds", 30),
        (f"{C_API}.livenessProbe.periodSeconds", 10),
        (f"{C_API}.readinessProbe.httpGet", {"path": "/ready", "port": 8080}),
        (f"{C_API}.readinessProbe.initialDelaySeconds", 5),
        (f"{C_API}.readinessProbe.periodSeconds", 5),
        # Drain: the pod keeps serving 10 s after deletion while endpoints propagate; the grace period covers
        # that plus the longest budgeted request (3 tries x 10 s) plus 5 s to exit.
        (f"{C_API}.lifecycle", {"preStop": {"sleep": {"seconds": 10}}}),
        (f"{POD}.terminationGracePeriodSeconds", 45),
        (f"{C_API}.securityContext.readOnlyRootFilesystem", True),
        (f"{POD}.securityContext.runAsUser", 1001),
        (f"{POD}.securityContext.runAsGroup", 1001),
        (f"{POD}.securityContext.runAsNonRoot", True),
        (f"{POD}.serviceAccountName", "doc-rag-api"),
        (f"{POD}.automountServiceAccountToken", False),
        (f"{POD}.topologySpreadConstraints[0].topologyKey", "topology.kubernetes.io/zone"),
        (f"{POD}.topologySpreadConstraints[0].maxSkew", 1),
        # ScheduleAnyway: a surge or a lost zone never leaves replacement pods pending.
        (f"{POD}.topologySpreadConstraints[0].whenUnsatisfiable", "ScheduleAnyway"),
        (f"{POD}.topologySpreadConstraints[0].labelSelector.matchLabels.version", color),
        ("spec.template.metadata.annotations", {"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                                                "prometheus.io/path": "/metrics"}),
    ]] + [
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "apiVersion", "autoscaling/v2"),
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "spec.scaleTargetRef",
         {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"api-deployment-{color}"}),
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "spec.minReplicas", 3),
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "spec.maxReplicas", api.HPA_MAX_REPLICAS),
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "spec.metrics[0].resource.name", "cpu"),
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "spec.metrics[0].resource.target",
         {"type": "Utilization", "averageUtilization": 70}),
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "spec.metrics[1].resource.name", "memory"),
        (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", "spec.metrics[1].resource.target",
         {"type": "Utilization", "averageUtilization": 80}),
        (f"PodDisruptionBudget/{PROD}/api-pdb-{color}", "apiVersion", "policy/v1"),
        (f"PodDisruptionBudget/{PROD}/api-pdb-{color}", "spec.maxUnavailable", 1),
        (f"PodDisruptionBudget/{PROD}/api-pdb-{color}", "spec.selector.matchLabels.version", color),
    ]


STS_PG = f"StatefulSet/{PROD}/postgres"
STS_REDIS = f"StatefulSet/{PROD}/redis"

# (object, path, value the seed or the issue requires)
SEED_TABLE: list[tuple[str, str, object]] = [
    *_api_rows("blue", "doc-rag/api:v1.0.0"),
    *_api_rows("green", "doc-rag/api:v1.1.0"),
    (f"ServiceAccount/{PROD}/doc-rag-api", "automountServiceAccountToken", False),
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
    (STS_PG, "spec.selector.matchLabels.{app.kubernetes.io/name}", "postgres"),  # the seed's NetworkPolicy
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


@pytest.mark.parametrize("obj,path,expected", SEED_TABLE, ids=[f"{o}:{p}" for o, p, _ in SEED_TABLE])
def test_seed_value(rendered, obj, path, expected):
    assert obj in rendered, f"{obj} not rendered"
    assert lookup(rendered[obj], path) == expected


def test_lookup_fails_on_a_wrong_value(rendered):
    """The table is able to fail: a changed value is noticed."""
    deployment = rendered[f"Deployment/{PROD}/api-deployment-blue"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "4"
    assert lookup(broken, f"{C_API}.resources.limits") != {"cpu": "2", "memory": "2Gi"}


def test_every_container_restricted(rendered):
    for key, obj in rendered.items():
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, key
        assert pod["securityContext"]["runAsUser"] > 0, key
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, key
            assert context["capabilities"]["drop"] == ["ALL"], key
            assert context["seccompProfile"]["type"] == "RuntimeDefault", key
            assert context["readOnlyRootFilesystem"] is True, key
            assert container["resources"]["limits"] and container["resources"]["requests"], key


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
    procedure = (Path(__file__).resolve().parent.parent / "docs" / "traffic.md").read_text()
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


def test_live_colour_leaves_replicas_to_its_hpa(rendered):
    """spec.replicas is the HPA's (server-side apply would conflict with its scale writes): unset on a live
    colour, the seed's 3 is the HPA's minReplicas, and no force annotation."""
    for color in ("blue", "green"):
        deployment = rendered[f"Deployment/{PROD}/api-deployment-{color}"]
        assert "replicas" not in deployment["spec"], color
        assert "pulumi.com/patchForce" not in deployment["metadata"]["annotations"], color
        assert rendered[f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}"]["spec"]["minReplicas"] == 3


def test_retired_colour_gets_no_hpa_and_no_pdb():
    """The dev stack retires green (replicas 0): its Deployment stays (stable name), scaled to 0, forcing
    the field over the HPA's last write to it."""
    rendered = objects(render("release.green.replicas=0"))
    assert rendered[f"Deployment/{PROD}/api-deployment-green"]["spec"]["replicas"] == 0
    assert rendered[f"Deployment/{PROD}/api-deployment-green"]["metadata"]["annotations"][
        "pulumi.com/patchForce"] == "true"
    assert f"HorizontalPodAutoscaler/{PROD}/api-hpa-green" not in rendered
    assert f"PodDisruptionBudget/{PROD}/api-pdb-green" not in rendered
    assert f"HorizontalPodAutoscaler/{PROD}/api-hpa-blue" in rendered
    assert f"PodDisruptionBudget/{PROD}/api-pdb-blue" in rendered


def _urns(run, type_prefix: str = "") -> set[str]:
    return {r.urn for r in run.resources if r.type.startswith(type_prefix)}


@pytest.mark.parametrize("override,allowed_paths", [
    # Which colour serves lives in the traffic layer: Deployments do not change at all.
    ("release.activeColor=green", set()),
    # A new image is an in-place rolling update of the same Deployment.
    ("release.blue.image=doc-rag/api:v1.2.0", {f"{C_API}.image"}),
    ("release.green.image=doc-rag/api:v1.2.0", {f"{C_API}.image"}),
    # Pinned by digest: the tag stays the version label; only the image moves.
    (f"release.green.image=doc-rag/api:v1.1.0@sha256:{'a' * 64}", {f"{C_API}.image"}),
])
def test_names_stable_and_deployments_never_replaced(run, override, allowed_paths):
    other = render(override)
    assert _urns(other, "kubernetes:apps/v1:Deployment") == _urns(run, "kubernetes:apps/v1:Deployment")
    assert {r.urn for r in other.resources} == {r.urn for r in run.resources}
    before, after = objects(run), objects(other)
    for color in ("blue", "green"):
        key = f"Deployment/{PROD}/api-deployment-{color}"
        changed = diff(before[key], after[key])
        version = override.rsplit(":", 1)[-1] if "@" not in override else ""
        expected = {"spec.template.spec.containers[0].image", *(
            {"metadata.labels.app.kubernetes.io/version", "spec.template.metadata.labels.app.kubernetes.io/version"}
            if version else ())} if allowed_paths and color in override else set()
        assert set(changed) == expected, (key, changed)
        # Immutable fields (a change would force a replace) never move.
        assert before[key]["spec"]["selector"] == after[key]["spec"]["selector"]
        assert before[key]["metadata"]["name"] == after[key]["metadata"]["name"]
    mine = ("StatefulSet/", "Secret/", f"ConfigMap/{PROD}/postgres-config", "HorizontalPodAutoscaler/",
            "PodDisruptionBudget/", "ServiceAccount/")
    assert not [key for key in render_diff(run, other) if key.startswith(mine)]


# A Kubernetes label value: at most 63 characters, alphanumeric at both ends, [-_.] allowed inside.
LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@pytest.mark.parametrize("image,version", [
    ("doc-rag/api:v1.1.0", "v1.1.0"),
    (f"doc-rag/api:v1.1.0@sha256:{'a' * 64}", "v1.1.0"),  # the digest-less tag
    (f"doc-rag/api@sha256:{'a' * 64}", "digest"),  # pinned by digest only
    (f"registry.example.com:5000/doc-rag/api@sha256:{'b' * 64}", "digest"),  # a registry port is not a tag
    ("registry.example.com:5000/doc-rag/api:2024.06.01", "2024.06.01"),
    ("doc-rag/api:_build-" + "x" * 120 + "_", "build-" + "x" * 56),  # clipped to 63, alphanumeric ends
])
def test_version_label_is_the_image_tag(image, version):
    assert api.image_version(image) == version
    assert LABEL_VALUE.match(api.image_version(image))


def test_label_value_pattern_rejects_what_the_api_server_would():
    """The pattern above is able to fail: raw tags that are not label values are refused."""
    for raw in ("_build", "v1.0-", "x" * 64):
        assert not LABEL_VALUE.match(raw), raw


def test_version_label_stays_out_of_selectors_and_companions(rendered):
    """app.kubernetes.io/version moves with every release: no selector (Deployment, Service, PDB, topology
    spread) holds it, and the HPA/PDB carry only the colour."""
    for key, obj in rendered.items():
        spec = json.loads(json.dumps(obj.get("spec", {})))
        spec.get("template", {}).pop("metadata", None)  # the pod's own labels carry it; selectors must not
        text = json.dumps(spec)
        assert "app.kubernetes.io/version" not in text, key
    for color in ("blue", "green"):
        for key in (f"HorizontalPodAutoscaler/{PROD}/api-hpa-{color}", f"PodDisruptionBudget/{PROD}/api-pdb-{color}"):
            assert "app.kubernetes.io/version" not in rendered[key]["metadata"]["labels"], key
            assert rendered[key]["metadata"]["labels"]["version"] == color


def test_all_manifests_pass_strict_schema(run):
    assert schema_errors(run) == []


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("broken-*.yaml")))
def test_strict_schema_rejects_broken_fixture(fixture):
    manifest = yaml.safe_load((FIXTURES / fixture).read_text())
    status, message = validate_manifest(manifest, "1.34")
    assert status == "error", message
    with pytest.raises((kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError)):
        kubernetes_validate.validate(manifest, "1.34", strict=True)
