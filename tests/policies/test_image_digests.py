"""release.requireDigest: validated in config, carried to the API Deployments as the annotation the policy pack's
images-digest-required reads, and the plan's T4 verdict in both directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, parse_config
from ops.manifests import manifests
from ops.runner import RunResult
from policies.digest_rules import REQUIRE_DIGEST_ANNOTATION
from tests.conftest import program, run_plan

BLUE = "doc-rag/api:v1.0.0@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
GREEN = "doc-rag/api@sha256:9b2a6f1c0d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
REQUIRED = ["release.requireDigest=true", f"release.blue.image={BLUE}", f"release.green.image={GREEN}"]


def _api_deployments(run: RunResult) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in manifests(run.resources)
            if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("api-deployment-")}


def test_off_by_default_and_no_annotation():
    release = {"blue": {"image": "doc-rag/api:v1"}, "green": {"image": "doc-rag/api:v2"}}
    assert parse_config({"release": release}).release.requireDigest is False
    for deployment in _api_deployments(program("prod")).values():
        assert REQUIRE_DIGEST_ANNOTATION not in deployment["metadata"].get("annotations", {})


def test_required_digests_annotate_both_api_deployments():
    deployments = _api_deployments(program("prod", REQUIRED))
    assert set(deployments) == {"api-deployment-blue", "api-deployment-green"}
    for deployment in deployments.values():
        assert deployment["metadata"]["annotations"]["doc-rag/require-digest"] == "true"
    assert deployments["api-deployment-green"]["spec"]["template"]["spec"]["containers"][0]["image"] == GREEN


@pytest.mark.parametrize("colour, image", [("blue", "doc-rag/api:v1.0.0"), ("green", "doc-rag/api:v1.1.0")])
def test_a_tag_only_release_image_is_refused_naming_the_key(colour, image):
    images = {"blue": {"image": BLUE}, "green": {"image": GREEN}, colour: {"image": image}}
    with pytest.raises(ConfigError) as error:
        parse_config({"release": {"requireDigest": True, **images}})
    assert (f"release.{colour}.image = {image!r}: allowed with requireDigest: true: an image pinned by digest"
            in str(error.value))


def test_requireDigest_takes_a_boolean_only():
    with pytest.raises(ConfigError) as error:
        parse_config({"release": {"requireDigest": "sometimes", "blue": {"image": BLUE}, "green": {"image": GREEN}}})
    assert "release.requireDigest = 'sometimes'" in str(error.value)


def test_the_plan_exits_2_on_a_tag_only_image_with_digests_required(tmp_path: Path):
    outcome, printed = run_plan(tmp_path, "prod", ("release.requireDigest=true",))
    assert outcome.exit_code == 2
    assert "release.blue.image = 'doc-rag/api:v1.0.0'" in printed


def _digest_findings(outcome) -> set[tuple[str, str, str]]:
    _, result = outcome.checks["policy-pack"]
    return {(f.rule, f.level, f.subject) for f in result.findings if f.rule.startswith("images-digest")}


def test_prod_today_is_advised_for_every_tag_only_image_and_passes(plans):
    outcome, _ = plans.get("prod")
    assert outcome.exit_code == 0
    found = _digest_findings(outcome)
    assert ("images-digest", "advisory", "Deployment/doc-rag-prod/api-deployment-blue") in found
    assert ("images-digest", "advisory", "StatefulSet/doc-rag-prod/postgres") in found
    assert {level for _, level, _ in found} == {"advisory"}


def test_with_digests_required_the_api_passes_and_the_rest_stays_advised(plans):
    outcome, _ = plans.get("prod", tuple(REQUIRED))
    assert outcome.exit_code == 0
    found = _digest_findings(outcome)
    assert not [finding for finding in found if "api-deployment" in finding[2]]
    assert ("images-digest", "advisory", "StatefulSet/doc-rag-prod/postgres") in found
