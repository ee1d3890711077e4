"""T3: kubernetes-validate strict at kubernetesVersion, proven by fixtures it must reject."""

from __future__ import annotations

import pytest
import yaml

from ops.checks import kubernetes_schema
from ops.checks.base import PlanContext
from tests.conftest import FIXTURES

T3 = FIXTURES / "schemas"


def load(name: str) -> dict:
    return yaml.safe_load((T3 / name).read_text())


@pytest.mark.parametrize(("fixture", "expected"), [
    ("typo_field.yaml", "containerPorts"),
    ("wrong_type.yaml", "'three' is not of type 'integer'"),
    ("removed_api.yaml", "does not exist in Kubernetes 1.34"),
    ("mount_without_volume.yaml",
     "spec.template.spec.containers[0].volumeMounts[1].name: 'shm' is not a volume of the pod"),
])
def test_broken_fixture_is_rejected(fixture, expected):
    status, message = kubernetes_schema.validate_manifest(load(fixture), "1.34")
    assert status == "error"
    assert expected in message


def test_crd_kind_we_render_is_validated_by_our_schema():
    # Istio and cert-manager kinds get strict schemas of our own (tests/ops/checks/test_crd_schemas.py).
    assert kubernetes_schema.validate_manifest(load("istio_virtualservice.yaml"), "1.34") == ("ok", "")


def test_crd_kind_without_schema_is_not_a_failure():
    assert kubernetes_schema.validate_manifest(load("crd_unknown_kind.yaml"), "1.34")[0] == "no-schema"


def test_crd_group_is_never_judged_by_a_core_schema():
    # kubernetes-validate files schemas under a group's first label: it would check this against networking.k8s.io.
    ingress = {"apiVersion": "networking.istio.io/v1", "kind": "Ingress", "metadata": {"name": "x"}}
    assert kubernetes_schema.validate_manifest(ingress, "1.34")[0] == "no-schema"


def test_check_fails_the_plan_context_with_a_broken_object(dev_run, tmp_path):
    context = PlanContext("dev", dev_run, dev_run.config.model(), [load("wrong_type.yaml")], tmp_path, tmp_path)
    result = kubernetes_schema.check(context)
    assert result.failed
    assert result.findings[0].subject == "Deployment/doc-rag-prod/wrong-type"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_every_rendered_object_passes_strict(plans, stack):
    outcome, _ = plans.get(stack, checks=[])
    assert outcome.manifests
    failures = [
        (m["kind"], m["metadata"]["name"], message)
        for m in outcome.manifests
        for status, message in [kubernetes_schema.validate_manifest(m, "1.34")]
        if status == "error"
    ]
    assert failures == []


@pytest.mark.parametrize(("api_version", "core"), [
    ("v1", True), ("apps/v1", True), ("networking.k8s.io/v1", True), ("rbac.authorization.k8s.io/v1", True),
    ("policy/v1beta1", True), ("gateway.networking.k8s.io/v1", False), ("networking.istio.io/v1", False),
    ("cert-manager.io/v1", False),
])
def test_core_groups_are_the_built_in_ones(api_version, core):
    assert kubernetes_schema.is_core_group(api_version) is core
