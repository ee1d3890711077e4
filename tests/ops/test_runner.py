"""The program under the SDK monitor: both stacks, preview and update, one explicit provider, secrets."""

from __future__ import annotations

import pytest
from pulumi.runtime import rpc

from components.config import ConfigError
from ops.runner import run_program
from ops.stackconfig import load_stack_config


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_both_stacks_run_in_preview_and_update(stack, preview):
    run = run_program(stack, preview=preview)
    namespaces = {r.inputs["metadata"]["name"] for r in run.of_type("kubernetes:core/v1:Namespace")}
    ours = {"doc-rag-prod", "doc-rag-monitoring", "doc-rag-security", "doc-rag-ingress"}
    add_ons = {"cert-manager", "istio-system"} if stack == "prod" else set()  # dev installs no add-ons
    assert namespaces == ours | add_ons
    assert run.outputs["activeColor"] == "blue"
    # The endpoints `ops promote/status/check` read when no flag names them.
    assert run.outputs["apiUrl"] == f"https://{run.config.model().domain}"
    assert run.outputs["prometheusUrl"] == "http://prometheus.doc-rag-monitoring.svc:9090"


def test_every_kubernetes_resource_uses_the_one_explicit_provider(prod_run):
    providers = prod_run.of_type("pulumi:providers:kubernetes")
    assert len(providers) == 1
    reference = f"{providers[0].urn}::{providers[0].name}-id"
    k8s = [r for r in prod_run.resources if r.type.startswith("kubernetes:")]
    assert k8s and all(r.provider == reference for r in k8s), {r.name for r in k8s if r.provider != reference}


def test_every_resource_is_parented_under_the_top_component(prod_run):
    top = prod_run.named("doc-rag")
    assert top.type == "doc-rag:index:DocRag"
    by_urn = {r.urn: r for r in prod_run.resources}

    def reaches_top(resource):
        while resource.parent in by_urn:
            resource = by_urn[resource.parent]
        return resource is top

    assert [r.name for r in prod_run.resources if not reaches_top(r)] == []


def test_missing_secret_is_a_clear_error_under_a_real_up():
    """Without the plan's placeholder (as under `pulumi up`), the program refuses and says how to fix it."""
    config = load_stack_config("dev")
    del config.values["postgresPassword"]
    with pytest.raises(ConfigError, match=r"postgresPassword: not set.*pulumi config set --secret postgresPassword"):
        run_program("dev", stack_config=config)


def test_nothing_is_registered_when_config_is_invalid():
    from pulumi.runtime import settings

    with pytest.raises(ConfigError):
        run_program("dev", ["release.canaryWeight=33"])
    monitor = settings.get_monitor()
    assert monitor.registered == []


def test_secret_config_reaches_resources_only_inside_the_secret_envelope(dev_run):
    secret_objects = [r for r in dev_run.of_type("kubernetes:core/v1:Secret")]
    assert secret_objects, "doc-rag-secrets must exist"
    for resource in secret_objects:
        string_data = resource.inputs.get("stringData")
        assert string_data.get(rpc._special_sig_key) == rpc._special_secret_sig
