"""The API component (components/api.py): the deployment plan's values on its rendered Deployments, HPAs, PDBs and
ServiceAccount, stable names, the version label, a retired colour."""

from __future__ import annotations

import json
import re

import pytest

from components import api
from tests.workloads_helpers import diff, lookup, objects, render, render_diff

PROD = "doc-rag-prod"
C_API = "spec.template.spec.containers[name=api]"
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


# (object, path, value the deployment plan or an issue requires)
PLAN_VALUES: list[tuple[str, str, object]] = [
    *_api_rows("blue", "doc-rag/api:v1.0.0"),
    *_api_rows("green", "doc-rag/api:v1.1.0"),
    (f"ServiceAccount/{PROD}/doc-rag-api", "automountServiceAccountToken", False),
]


@pytest.mark.parametrize("obj,path,expected", PLAN_VALUES, ids=[f"{o}:{p}" for o, p, _ in PLAN_VALUES])
def test_deployment_plan_value(rendered, obj, path, expected):
    assert obj in rendered, f"{obj} not rendered"
    assert lookup(rendered[obj], path) == expected


def test_lookup_fails_on_a_wrong_value(rendered):
    """The table is able to fail: a changed value is noticed."""
    deployment = rendered[f"Deployment/{PROD}/api-deployment-blue"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "4"
    assert lookup(broken, f"{C_API}.resources.limits") != {"cpu": "2", "memory": "2Gi"}


def test_live_colour_leaves_replicas_to_its_hpa(rendered):
    """spec.replicas is the HPA's (server-side apply would conflict with its scale writes): unset on a live
    colour, the deployment plan's 3 is the HPA's minReplicas, and no force annotation."""
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
