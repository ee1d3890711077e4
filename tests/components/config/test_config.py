"""The typed config model: every contract field validated, errors name key path, value and what is allowed."""

from __future__ import annotations

import copy

import pytest

from components.config import ConfigError, DocRagConfig, parse_config
from components.config.defaults import default_mismatches
from ops.stackconfig import load_stack_config, project_defaults
from tests.conftest import PROJECT_DIR, run_plan

# (--set override, key path the message must name, text the message must contain)
BAD_VALUES = [
    ("release.canaryWeight=33", "release.canaryWeight", "allowed: 0 or one of release.steps [5, 25, 50, 100]"),
    ("release.canaryWeight=-5", "release.canaryWeight", "greater than or equal to 0"),
    ("release.activeColor=red", "release.activeColor", "'blue' or 'green'"),
    ("release.steps=[5,25]", "release.steps", "list"),
    ("release.steps[1]=3", "release.steps", "strictly increasing"),
    ("release.blue.image=doc-rag/api:latest", "release.blue.image", "latest"),
    ("release.green.image=doc-rag/api", "release.green.image", "pinned"),
    ("release.green.image=Not An Image", "release.green.image", "image reference"),
    ("release.blue.replicas=-1", "release.blue.replicas", "greater than or equal to 0"),
    ("release.canaryWieght=5", "release.canaryWieght", "unknown key"),
    ("release.retire=always", "release.retire", "'afterStabilization' or 'manual'"),
    ("release.gates.holdOnPageAlerts=maybe", "release.gates.holdOnPageAlerts", "valid boolean"),
    ("domain=not_a_domain", "domain", "DNS name"),
    ("kubernetesVersion=1.20", "kubernetesVersion", "allowed: one of"),
    ("cluster.mode=gke", "cluster.mode", "'eks' or 'existing'"),
    ("cluster.minNodes=6", "cluster.minNodes", "maxNodes"),
    ("cluster.desiredNodes=9", "cluster.desiredNodes", "maxNodes"),
    ("cluster.volumeIops=500", "cluster.volumeIops", "greater than or equal to 1000"),
    ("cluster.availabilityZones=1", "cluster.availabilityZones", "greater than or equal to 2"),
    ("cluster.vpcCidr=10.0.0.0/8", "cluster.vpcCidr", "/16 and /20"),
    ("cluster.nodeInstanceType=huge", "cluster.nodeInstanceType", "pattern"),
    ("traffic.rateLimitRps=0", "traffic.rateLimitRps", "greater than or equal to 1"),
    ("traffic.rateLimitConnections=0", "traffic.rateLimitConnections", "greater than or equal to 1"),
    ("traffic.retries=11", "traffic.retries", "less than or equal to 10"),
    ("traffic.perTryTimeout=ten", "traffic.perTryTimeout", "duration"),
    ("traffic.faultDelay=5", "traffic.faultDelay", "duration"),
    ("traffic.faultDelayPercent=101", "traffic.faultDelayPercent", "less than or equal to 100"),
    ("postgres.storage=lots", "postgres.storage", "quantity"),
    ("postgres.image=postgres", "postgres.image", "pinned"),
    ("unknownKey=1", "unknownKey", "unknown key"),
]


@pytest.mark.parametrize(("override", "key", "allowed"), BAD_VALUES, ids=[case[0] for case in BAD_VALUES])
def test_bad_value_stops_the_plan_with_exit_2_naming_key_and_allowed(tmp_path, override, key, allowed):
    outcome, printed = run_plan(tmp_path, "prod", (override,))
    assert outcome.exit_code == 2
    problem_lines = [line for line in outcome.error.splitlines() if line.strip().startswith(f"- {key}")]
    assert problem_lines, f"message does not name {key}: {outcome.error}"
    assert allowed in outcome.error
    assert "Traceback" not in printed
    assert not (tmp_path / "plan").exists(), "nothing may be written for an invalid config"


def test_pulumi_yaml_defaults_equal_the_model_defaults():
    """Pulumi.yaml's typed config block and the pydantic model must never disagree."""
    declared, _ = project_defaults()
    assert set(declared) == {"domain", "kubernetesVersion", "cluster", "traffic", "platform", "postgres",
                             "observability", "costAssumptions"}
    assert default_mismatches(declared) == []


# (where Pulumi.yaml's defaults go wrong, the value, the message default_mismatches must give)
WRONG_DEFAULTS = [
    ("cluster.minNodes", 4, "cluster.minNodes: Pulumi.yaml declares 4, the model's default is 3"),
    ("platform.istio.version", "1.30.4",
     "platform.istio.version: Pulumi.yaml declares '1.30.4', the model's default is '1.30.5'"),
    ("kubernetesVersion", 1.34, "kubernetesVersion: Pulumi.yaml declares 1.34, the model's default is '1.34'"),
    ("observability.jaeger", 0, "observability.jaeger: Pulumi.yaml declares 0, the model's default is false"),
    ("traffic.retry", 3, "traffic.retry: Pulumi.yaml declares a default for a key the model does not have"),
    ("release", {"activeColor": "blue"},
     "release: Pulumi.yaml declares a default for a key the model has no default for"),
]


@pytest.mark.parametrize(("path", "value", "message"), WRONG_DEFAULTS, ids=[case[0] for case in WRONG_DEFAULTS])
def test_a_wrong_pulumi_yaml_default_is_named_by_its_key(path, value, message):
    declared = copy.deepcopy(project_defaults()[0])
    *parents, leaf = path.split(".")
    section = declared
    for parent in parents:
        section = section[parent]
    section[leaf] = value
    assert default_mismatches(declared) == [message]


def test_every_stack_file_is_valid():
    for stack_file in PROJECT_DIR.glob("Pulumi.*.yaml"):
        stack = stack_file.name.split(".")[1]
        assert isinstance(load_stack_config(stack).model(), DocRagConfig)


@pytest.mark.parametrize("image", [
    "doc-rag/api:v1.0.0",
    "registry.example.com:5000/team/api:1.2.3",
    "doc-rag/api@sha256:" + "a" * 64,
    "doc-rag/api:v1.0.0@sha256:" + "b" * 64,
])
def test_pinned_images_and_digests_are_accepted(image):
    raw = {"release": {"blue": {"image": image}, "green": {"image": "doc-rag/api:v2"}}}
    assert parse_config(raw).release.blue.image == image


def test_several_problems_are_reported_together():
    raw = {"release": {"blue": {"image": "x:latest"}, "green": {"image": "y"}}, "domain": "x"}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    named = sorted(problem.split(" ")[0] for problem in caught.value.problems)
    assert named == ["domain", "release.blue.image", "release.green.image"]
