"""Every rendered workload of the dev stack (the API's and the data layer's, and the rest): restricted
containers and strict schemas, proven by fixtures the schema check must reject."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from ops.checks.kubernetes_schema import validate_manifest
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.workloads_helpers import objects, render, schema_errors

FIXTURES = ALL_FIXTURES / "workloads"


@pytest.fixture(scope="module")
def run():
    return render()


@pytest.fixture(scope="module")
def rendered(run):
    return objects(run)


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


def test_all_manifests_pass_strict_schema(run):
    assert schema_errors(run) == []


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("broken-*.yaml")))
def test_strict_schema_rejects_broken_fixture(fixture):
    manifest = yaml.safe_load((FIXTURES / fixture).read_text())
    status, message = validate_manifest(manifest, "1.34")
    assert status == "error", message
    with pytest.raises((kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError)):
        kubernetes_validate.validate(manifest, "1.34", strict=True)
