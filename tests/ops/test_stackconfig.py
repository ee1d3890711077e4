"""Config is assembled as the Pulumi CLI assembles it, and `--set` follows `pulumi config set --path`."""

from __future__ import annotations

import json

import pytest
import yaml

from ops.stackconfig import SECRET_PLACEHOLDER, UsageError, apply_set, load_stack_config, parse_set_value
from tests.conftest import PROJECT_DIR


@pytest.mark.parametrize(("assignment", "expected"), [
    ("release.canaryWeight=25", {"release": {"canaryWeight": 25}}),
    ("doc-rag:release.canaryWeight=25", {"release": {"canaryWeight": 25}}),
    ("release.activeColor=green", {"release": {"activeColor": "green"}}),
    ("observability.enabled=true", {"observability": {"enabled": True}}),
    ("domain=api.example.org", {"domain": "api.example.org"}),
    ("release.steps[1]=30", {"release": {"steps": [5, 30, 50]}}),
])
def test_set_path_semantics(assignment, expected):
    values = {"release": {"steps": [5, 25, 50]}} if "steps" in assignment else {}
    apply_set(values, assignment)
    for key, value in expected.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                assert values[key][inner] == inner_value
        else:
            assert values[key] == value


@pytest.mark.parametrize("assignment", ["release.canaryWeight", "=5", "aws:region=us-west-2", "release..x=1"])
def test_malformed_set_is_a_usage_error(assignment):
    with pytest.raises(UsageError):
        apply_set({}, assignment)


def test_engine_config_is_project_qualified_json_with_secrets_marked():
    config = load_stack_config("prod")
    engine = config.engine_config()
    assert json.loads(engine["doc-rag:release"])["blue"]["image"] == "doc-rag/api:v1.0.0"
    assert engine["doc-rag:domain"] == "api.docrag.example.com"
    assert engine["aws:region"] == "us-east-1"
    assert config.engine_secret_keys() == ["doc-rag:grafanaAdminPassword", "doc-rag:postgresPassword"]


def test_missing_secret_gets_a_placeholder_and_is_reported():
    config = load_stack_config("prod")
    assert config.placeholders == ["grafanaAdminPassword", "postgresPassword"]
    assert config.values["postgresPassword"] == SECRET_PLACEHOLDER
    assert config.values["grafanaAdminPassword"] == SECRET_PLACEHOLDER


def test_unknown_stack_names_the_stacks_there_are():
    with pytest.raises(UsageError, match=r"allowed: \['dev', 'local', 'prod'\]"):
        load_stack_config("staging")


@pytest.mark.parametrize(("text", "expected"), [("25", 25), ("+5", 5), ("-3", -3), ("0", 0), ("007", "007"),
                                                ("true", True), ("10s", "10s"), ("0.1", "0.1")])
def test_set_values_are_typed_like_the_cli(text, expected):
    assert parse_set_value(text) == expected


def test_nested_ciphertext_becomes_a_placeholder_and_marks_the_key_secret(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    stack["config"]["doc-rag:cluster"]["kubeconfig"] = {"secure": "v1:abc:def"}
    (tmp_path / "Pulumi.enc.yaml").write_text(yaml.safe_dump(stack))
    config = load_stack_config("enc", project_dir=tmp_path)
    assert config.values["cluster"]["kubeconfig"] == SECRET_PLACEHOLDER
    assert "cluster.kubeconfig" in config.placeholders
    assert "doc-rag:cluster" in config.engine_secret_keys()
    assert config.model().cluster.mode == "existing"  # the rest of the key is still read


@pytest.mark.parametrize(("content", "message"), [
    ("config:\n  doc-rag:release: [\n", "Pulumi.broken.yaml is not valid YAML at line 3, column 1"),
    ("- a\n- b\n", "Pulumi.broken.yaml: allowed: a mapping at the top level (`config:` ...), not a list"),
])
def test_a_stack_file_that_is_not_a_yaml_mapping_is_a_usage_error_naming_it(tmp_path, content, message):
    """exit 2 with the file and the place, never a PyYAML traceback or an AttributeError."""
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.broken.yaml").write_text(content)
    with pytest.raises(UsageError) as raised:
        load_stack_config("broken", project_dir=tmp_path)
    assert message in str(raised.value)

