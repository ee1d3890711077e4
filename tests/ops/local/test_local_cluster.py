"""`ops local up` without the engine, and the pieces `up` is built from (CRDs from our schemas, the local
stack file's secrets, the shell environment). The failures that need the cluster's ports are in
test_e2e_local.py, ahead of the cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.local import bootstrap, stack
from tests.e2e_helpers import copy_project, local_up


def test_up_without_the_engine_says_to_build_it_and_starts_nothing(tmp_path: Path):
    project = copy_project(tmp_path / "project")
    done = local_up(project, DOC_RAG_ENGINE_HOME=str(tmp_path / "no-engine"))
    assert done.returncode == 1
    assert "the engine is not built or not the recipe's (run `make engine`)" in done.stderr
    assert "kube-apiserver: missing from" in done.stderr
    assert not (project / "build/local/cluster/pids").exists()


def test_a_bad_port_base_is_refused_naming_the_variable(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "ops", "local", "status"], cwd=copy_project(tmp_path / "project"),
                          capture_output=True, text=True, env={**os.environ, "DOC_RAG_LOCAL_PORT_BASE": "80"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "DOC_RAG_LOCAL_PORT_BASE = '80': allowed: a port number from 1024 to 65533" in done.stderr


def test_crds_come_from_our_closed_schemas():
    crds = {crd["metadata"]["name"]: crd for crd in bootstrap.custom_resource_definitions()}
    assert set(crds) == {"certificates.cert-manager.io", "clusterissuers.cert-manager.io",
                         "gateways.networking.istio.io", "virtualservices.networking.istio.io",
                         "destinationrules.networking.istio.io", "gateways.gateway.networking.k8s.io",
                         "httproutes.gateway.networking.k8s.io"}
    assert crds["clusterissuers.cert-manager.io"]["spec"]["scope"] == "Cluster"
    schema = crds["virtualservices.networking.istio.io"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert spec["type"] == "object" and "http" in spec["properties"]  # structure kept, not an open object
    # The API server refuses a CRD of a k8s.io group without upstream's approval annotation.
    for name, crd in crds.items():
        if name.endswith(".k8s.io"):
            assert crd["metadata"]["annotations"]["api-approved.kubernetes.io"].startswith("https://github.com/"), name
    text = str(crds)
    assert "$ref" not in text and "additionalProperties': False" not in text and "const" not in text


def test_a_lost_passphrase_drops_the_unreadable_secrets_and_keeps_comments(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    stack_file = tmp_path / "Pulumi.local.yaml"
    stack_file.write_text("# the local stack\nconfig:\n  doc-rag:domain: a.example.com\n"
                          "  doc-rag:postgresPassword:\n    secure: v1:abc:def\n"
                          "  doc-rag:cluster:\n    mode: existing\nencryptionsalt: v1:xyz\n")
    monkeypatch.setattr(stack, "STACK_FILE", stack_file)
    stack._forget_unreadable_secrets()
    assert stack_file.read_text() == ("# the local stack\nconfig:\n  doc-rag:domain: a.example.com\n"
                                      "  doc-rag:cluster:\n    mode: existing\n")


def test_env_points_pulumi_and_kubectl_at_the_local_cluster_only():
    exports = stack.environment(Path("/engine/bin"))
    assert exports["PATH"].startswith("/engine/bin" + os.pathsep)
    assert exports["PULUMI_BACKEND_URL"].startswith("file://") and exports["KUBECONFIG"].endswith("cluster/kubeconfig")
    assert exports["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert "PULUMI_CONFIG_PASSPHRASE" not in exports  # only the file, never the value
    assert "export PULUMI_SKIP_UPDATE_CHECK=true" in stack.shell_exports(exports)
