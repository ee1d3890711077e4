"""Live drift as `pulumi refresh --preview-only --json` reports it (a fixture trimmed from a real run on the
local cluster: the canary weight annotated with kubectl, and a Service deleted)."""

from __future__ import annotations

import json

from ops.live_drift import DriftedField, drift_report, drifted_fields, main
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "ops" / "refresh-preview-drift.json"
WEIGHT = 'metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]'


def test_an_edited_field_and_a_deleted_object_are_named_with_both_values():
    fields = drifted_fields(json.loads(FIXTURE.read_text()))
    assert fields == [
        DriftedField("Ingress", "doc-rag-prod/api-ingress", WEIGHT, stack="0", live="30"),
        DriftedField("Service", "doc-rag-ingress/api-service-alb", ""),
    ]
    assert fields[0].describe() == f"Ingress doc-rag-prod/api-ingress {WEIGHT}: stack '0', live '30'"
    assert fields[1].describe() == "Service doc-rag-ingress/api-service-alb: deleted outside Pulumi"


def test_a_refresh_that_only_reads_is_no_drift():
    assert drifted_fields({"steps": [{"op": "refresh", "urn": "urn:a::b"}, {"op": "same", "urn": "urn:a::c"}]}) == []
    assert drifted_fields({}) == []


def test_a_field_absent_on_one_side_and_list_indices_are_read():
    step = {"op": "update", "urn": "urn:pulumi:local::doc-rag::kubernetes:core/v1:Service::api-service",
            "oldState": {"outputs": {"metadata": {"name": "api-service"}, "spec": {"ports": [{"port": 80}]}}},
            "newState": {"outputs": {"metadata": {"name": "api-service"}, "spec": {"ports": [{"port": 81}],
                                                                                   "selector": {"version": "x"}}}},
            "detailedDiff": {"spec.ports[0].port": {"kind": "update"}, "spec.selector.version": {"kind": "add"}}}
    fields = drifted_fields({"steps": [step]})
    assert [(f.field, f.stack, f.live) for f in fields] == [("spec.ports[0].port", 80, 81),
                                                           ("spec.selector.version", None, "x")]
    assert fields[1].describe().endswith("stack absent, live 'x'")


def test_the_report_names_every_field_and_both_ways_out():
    text = drift_report("local", drifted_fields(json.loads(FIXTURE.read_text())))
    assert "changed outside Pulumi" in text and WEIGHT in text and "api-service-alb: deleted" in text
    assert "`pulumi up --refresh --stack local`" in text and "release.canaryWeight" in text


def test_the_workflow_command_annotates_each_field_and_fails_only_on_drift(tmp_path, capsys):
    assert main([str(FIXTURE), "--stack", "prod", "--github"]) == 1
    printed = capsys.readouterr().out
    assert printed.count("::error title=drift in stack prod::") == 2 and f"api-ingress {WEIGHT}" in printed
    clean = tmp_path / "clean.json"
    clean.write_text('{"steps": [{"op": "refresh", "urn": "urn:a::b"}]}')
    assert main([str(clean), "--stack", "prod"]) == 0 and "no drift" in capsys.readouterr().out
    clean.write_text("[1]")
    assert main([str(clean), "--stack", "prod"]) == 2 and "not the JSON" in capsys.readouterr().out
