"""The pack served the way the Pulumi CLI serves it, called over the real Analyzer gRPC protocol.

`python -u -m pulumi.policy <engine address> policies` runs policies/__main__.py; PolicyPack binds
127.0.0.1:<random>, prints the port on stdout and serves. We call GetAnalyzerInfo, Configure, Analyze and
AnalyzeStack with the SDK's generated stubs, sending properties as the engine does (a protobuf Struct:
numbers as doubles, secrets in their envelope, unknowns as the unknown sentinel).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from typing import Any, Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from ops.runner import RunResult
from ops.stackconfig import PROJECT_DIR
from policies import engine
from policies.model import StackResource
from policies.rules import ALL_RULES, BY_NAME
from tests.policies.test_policy_rules import build, build_stack

MANDATORY, ADVISORY = analyzer_pb2.MANDATORY, analyzer_pb2.ADVISORY


class FakeEngine(engine_pb2_grpc.EngineServicer):
    """The engine's Log endpoint, in case the pack logs through it; records what it receives."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request, context):  # noqa: N802 (gRPC method name)
        self.logs.append(request.message)
        return empty_pb2.Empty()


@pytest.fixture(scope="module")
def engine_address() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(FakeEngine(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def _read_port(process: subprocess.Popen, timeout: float = 60.0) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline().decode().strip()
            if line:
                return int(line)
        if process.poll() is not None:
            break
    raise AssertionError(f"the pack printed no port (exit code {process.poll()})")


@pytest.fixture(scope="module")
def analyzer(engine_address: str) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI_")}
    # What the CLI sets for an analyzer plugin during `pulumi preview -s prod`.
    env.update(PULUMI_PROJECT="doc-rag", PULUMI_STACK="prod", PULUMI_DRY_RUN="true", PULUMI_CONFIG="{}")
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", engine_address, "policies"],
            cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=stderr,
        )
        try:
            try:
                port = _read_port(process)
            except AssertionError:
                stderr.seek(0)
                raise AssertionError(stderr.read().decode()[-4000:]) from None
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=30)
                yield analyzer_pb2_grpc.AnalyzerStub(channel)
        finally:
            process.terminate()
            process.wait(timeout=10)


def to_struct(props: Any) -> struct_pb2.Struct:
    """Properties as the engine marshals them (unknowns become the unknown sentinel)."""
    def plain(value: Any) -> Any:
        if isinstance(value, Unknown):
            return rpc.UNKNOWN
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value

    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(plain(props), default=str)))
    return struct


def analyze(stub, resource: StackResource) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    request = analyzer_pb2.AnalyzeRequest(type=resource.type, properties=to_struct(resource.props),
                                          urn=resource.urn, name=resource.name)
    return list(stub.Analyze(request).diagnostics)


def analyze_stack(stub, resources: list[StackResource]) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    request = analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r.type, properties=to_struct(r.props), urn=r.urn, name=r.name)
        for r in resources
    ])
    return list(stub.AnalyzeStack(request).diagnostics)


def test_analyzer_info_lists_every_rule_with_level_and_config_schema(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "doc-rag" and info.supportsConfig
    policies = {policy.name: policy for policy in info.policies}
    assert set(policies) == set(BY_NAME)
    for rule in ALL_RULES:
        assert policies[rule.name].enforcementLevel == (MANDATORY if rule.level == "mandatory" else ADVISORY)
        assert policies[rule.name].description == rule.description
    allowed = policies["no-loadbalancer-services"].configSchema.properties["allowedNames"]
    assert list(allowed["default"]) == ["api-service-alb"]
    assert list(policies["canary-weight-steps"].configSchema.properties["allowedSteps"]["default"]) == [5, 25, 50, 100]


def test_the_deployment_plans_api_deployment_gets_mandatory_diagnostics(analyzer):
    # The deployment plan's api-deployment with an unpinned image: no securityContext, no probes on the sidecar.
    bad = build({"base": "deployment-blue",
                 "set": {"spec.template.spec.containers.0.image": "doc-rag/api:latest",
                         "spec.template.spec.containers.1": {"name": "sidecar", "image": "busybox"}},
                 "delete": ["spec.template.spec.securityContext", "spec.template.spec.containers.0.securityContext"]})
    diagnostics = analyze(analyzer, bad)
    mandatory = {d.policyName for d in diagnostics if d.enforcementLevel == MANDATORY}
    assert {"images-pinned", "container-resources", "workload-probes", "pod-security-restricted"} <= mandatory
    assert all(d.policyPackName == "doc-rag" for d in diagnostics)
    assert any("mutable tag latest" in d.message for d in diagnostics)


def test_known_good_objects_get_no_diagnostics(analyzer):
    stack = build_stack({})
    for resource in stack:
        assert analyze(analyzer, resource) == [], resource.name
    assert analyze_stack(analyzer, stack) == []


def test_stack_rule_violation_names_the_resource(analyzer):
    stack = build_stack({"without": ["pdb-blue"]})
    diagnostics = analyze_stack(analyzer, stack)
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [("pdb-per-api-colour", MANDATORY)]
    assert diagnostics[0].urn.endswith("::api-deployment-blue")


def test_unknown_during_preview_is_reported_not_passed(analyzer):
    resource = build({"base": "deployment-blue", "set": {"spec.template.spec.containers.0.image": Unknown()}})
    diagnostics = analyze(analyzer, resource)
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
        ("images-pinned", ADVISORY), ("allowed-registries", ADVISORY), ("images-digest", ADVISORY)]
    assert all("can't run policy" in d.message and "during preview" in d.message for d in diagnostics)


def test_pack_config_changes_settings_and_levels(analyzer):
    edge = build({"base": "service-edge"})
    assert analyze(analyzer, edge) == []
    config = struct_pb2.Struct()
    config.update({"allowedNames": ["other-edge"]})
    request = analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        "no-loadbalancer-services": analyzer_pb2.PolicyConfig(enforcementLevel=ADVISORY, properties=config),
    })
    analyzer.Configure(request)
    try:
        diagnostics = analyze(analyzer, edge)
        assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [("no-loadbalancer-services", ADVISORY)]
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest())
    assert analyze(analyzer, edge) == []


def test_prod_plan_gets_no_mandatory_diagnostics(analyzer, prod_run: RunResult):
    resources = [StackResource(r.type, r.name, r.urn, r.inputs) for r in prod_run.resources]
    served = [d for r in prod_run.resources if r.custom for d in analyze(analyzer, StackResource(
        r.type, r.name, r.urn, r.inputs))]
    served += analyze_stack(analyzer, resources)
    assert [(d.policyName, d.message) for d in served if d.enforcementLevel == MANDATORY] == []
    # The server and the offline plan (T4) report the same rules at the same levels.
    custom = {r.urn for r in prod_run.resources if r.custom}
    offline = [d for r in resources if r.urn in custom for d in engine.analyze(r.type, r.props, r.urn)]
    offline += engine.analyze_stack(resources)
    levels = {MANDATORY: "mandatory", ADVISORY: "advisory"}
    assert sorted((d.policyName, levels[d.enforcementLevel]) for d in served) == sorted(
        (d.rule, d.level) for d in offline)
