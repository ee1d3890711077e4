"""T3 for CRD objects: our strict schemas for the Istio and cert-manager kinds we render.

Every CRD object the program renders (prod, dev, dev with Jaeger) must validate; each broken fixture must
be rejected for its one defect (the same object with that defect repaired validates), and the schema
files themselves must be well-formed, named after what they describe, and closed at every object level.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest
import yaml
from jsonschema import Draft202012Validator

from ops.checks import crd_schema, kubernetes_schema
from ops.checks.base import PlanContext
from ops.manifests import manifests
from ops.runner import RunResult
from tests.conftest import FIXTURES, program

T3 = FIXTURES / "schemas"
RENDERED_KINDS = {
    ("networking.istio.io/v1", "Gateway"),
    ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("cert-manager.io/v1", "Certificate"),
    ("cert-manager.io/v1", "ClusterIssuer"),
}
# Rendered only when traffic.edge is gateway.
GATEWAY_API_KINDS = {("gateway.networking.k8s.io/v1", "Gateway"), ("gateway.networking.k8s.io/v1", "HTTPRoute")}


def load(name: str) -> dict:
    return yaml.safe_load((T3 / name).read_text())


def crd_objects(run: RunResult) -> list[dict[str, Any]]:
    return [m for m in manifests(run.resources) if not kubernetes_schema.is_core_group(m["apiVersion"])]


@pytest.fixture(scope="module")
def dev_jaeger_run() -> RunResult:
    return program("dev", ("observability.jaeger=true",))


@pytest.fixture(scope="module")
def prod_gateway_run() -> RunResult:
    return program("prod", ("traffic.edge=gateway",))


@pytest.mark.parametrize("run_fixture,kinds", [("prod_run", RENDERED_KINDS), ("dev_run", RENDERED_KINDS),
                                               ("dev_jaeger_run", RENDERED_KINDS),
                                               ("prod_gateway_run", RENDERED_KINDS | GATEWAY_API_KINDS)])
def test_every_rendered_crd_object_passes_strict(request, run_fixture, kinds):
    run: RunResult = request.getfixturevalue(run_fixture)
    version = run.config.model().kubernetesVersion
    objects = crd_objects(run)
    assert {(m["apiVersion"], m["kind"]) for m in objects} == kinds
    results = {(m["kind"], m["metadata"]["name"]): kubernetes_schema.validate_manifest(m, version) for m in objects}
    assert results == {key: ("ok", "") for key in results}


def test_the_check_leaves_no_crd_object_unchecked(prod_run, tmp_path):
    config = prod_run.config.model()
    context = PlanContext("prod", prod_run, config, manifests(prod_run.resources), tmp_path, tmp_path)
    result = kubernetes_schema.check(context)
    assert not result.failed, result.findings
    assert "without schema" not in result.summary


def test_the_check_fails_on_a_broken_crd_object(dev_run, tmp_path):
    broken = load("crd_virtualservice_pertrytimout.yaml")
    context = PlanContext("dev", dev_run, dev_run.config.model(), [broken], tmp_path, tmp_path)
    result = kubernetes_schema.check(context)
    assert result.failed
    assert [f.subject for f in result.findings] == ["VirtualService/doc-rag-prod/doc-rag-vs"]
    assert "perTryTimout" in result.findings[0].message


def _rename(path: list[Any], old: str, new: str) -> Callable[[dict], None]:
    def fix(manifest: dict) -> None:
        node = manifest
        for part in path:
            node = node[part]
        node[new] = node.pop(old)
    return fix


def _labels_as_map(manifest: dict) -> None:
    subset = manifest["spec"]["subsets"][0]
    subset["labels"] = {key: value for item in subset["labels"] for key, value in item.items()}


def _add_secret_name(manifest: dict) -> None:
    manifest["spec"]["secretName"] = "doc-rag-tls"


BROKEN = [
    ("crd_virtualservice_pertrytimout.yaml", "spec.http.0.retries: Additional properties are not allowed "
     "('perTryTimout' was unexpected)", _rename(["spec", "http", 0, "retries"], "perTryTimout", "perTryTimeout")),
    ("crd_gateway_credentialname.yaml", "spec.servers.0.tls: Additional properties are not allowed "
     "('credentialname' was unexpected)", _rename(["spec", "servers", 0, "tls"], "credentialname", "credentialName")),
    ("crd_destinationrule_labels_list.yaml", "spec.subsets.0.labels: [{'version': 'blue'}] is not of type 'object'",
     _labels_as_map),
    ("crd_certificate_no_secretname.yaml", "spec: 'secretName' is a required property", _add_secret_name),
    ("crd_clusterissuer_unknown_solver_key.yaml", "spec.acme.solvers.0: Additional properties are not allowed "
     "('selectors' was unexpected)", _rename(["spec", "acme", "solvers", 0], "selectors", "selector")),
    ("crd_httproute_backendref_wieght.yaml", "spec.rules.0.backendRefs.1: Additional properties are not allowed "
     "('wieght' was unexpected)", _rename(["spec", "rules", 0, "backendRefs", 1], "wieght", "weight")),
    ("crd_gateway_api_listener_protocol.yaml",
     "spec.listeners.0.protocol: 'https' is not one of ['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP']",
     lambda manifest: manifest["spec"]["listeners"][0].update(protocol="HTTPS")),
]


@pytest.mark.parametrize(("fixture", "expected", "fix"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_fixture_is_rejected_for_its_defect(fixture, expected, fix):
    broken = load(fixture)
    assert kubernetes_schema.validate_manifest(broken, "1.34") == ("error", expected)
    repaired = copy.deepcopy(broken)
    fix(repaired)
    assert kubernetes_schema.validate_manifest(repaired, "1.34") == ("ok", "")


def _with(fixture: str, change: Callable[[dict], Any]) -> dict:
    """A broken fixture repaired (so valid), then given one other defect."""
    manifest = load(fixture)
    {name: fix for name, _, fix in BROKEN}[fixture](manifest)
    change(manifest)
    return manifest


def _set(path: list[Any], value: Any) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        node = manifest
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return change


def _drop(path: list[Any]) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        node = manifest
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    return change


VS = "crd_virtualservice_pertrytimout.yaml"
ISSUER = "crd_clusterissuer_unknown_solver_key.yaml"
SOLVER = ["spec", "acme", "solvers", 0]
RULES = [
    ("metadata is Kubernetes' ObjectMeta", VS, _set(["metadata", "lables"], {"a": "b"}),
     "metadata: Additional properties are not allowed ('lables' was unexpected)"),
    ("a duration is a string", VS, _set(["spec", "http", 0, "fault", "delay", "fixedDelay"], 5),
     "spec.http.0.fault.delay.fixedDelay: 5 is not of type 'string'"),
    ("a duration has a unit", VS, _set(["spec", "http", 0, "retries", "perTryTimeout"], "10"),
     "spec.http.0.retries.perTryTimeout: '10' is not a protobuf Duration as Istio accepts it (Go duration syntax"),
    ("a port number is an integer", VS, _set(["spec", "http", 0, "route", 0, "destination", "port", "number"], "8080"),
     "spec.http.0.route.0.destination.port.number: '8080' is not of type 'integer'"),
    ("a StringMatch is one of exact/prefix/regex", VS, _set(["spec", "http", 0, "match", 0, "uri", "exact"], "/a"),
     "spec.http.0.match.0.uri: at most 1 of ['exact', 'prefix', 'regex'] may be set (got ['exact', 'prefix'])"),
    ("a percentage is at most 100", VS, _set(["spec", "http", 0, "fault", "delay", "percentage", "value"], 150),
     "spec.http.0.fault.delay.percentage.value: 150 is greater than the maximum of 100"),
    ("Gateway TLS mode is an enum", "crd_gateway_credentialname.yaml",
     _set(["spec", "servers", 0, "tls"], {"mode": "simple", "credentialName": "doc-rag-tls"}),
     "spec.servers.0.tls.mode: 'simple' is not one of"),
    ("a Certificate needs a subject or SAN", "crd_certificate_no_secretname.yaml",
     _drop(["spec", "dnsNames"]),
     "spec: needs one of 'commonName', 'literalSubject', 'dnsNames'"),
    ("a cert-manager.io issuerRef kind is Issuer or ClusterIssuer", "crd_certificate_no_secretname.yaml",
     _set(["spec", "issuerRef", "kind"], "ClusterIsuer"),
     "spec.issuerRef.kind: 'ClusterIsuer' is not one of ['', 'Issuer', 'ClusterIssuer']"),
    ("a solver has one type", ISSUER, _set([*SOLVER, "dns01"], {"route53": {}}),
     "spec.acme.solvers.0: 'http01' and 'dns01' exclude each other"),
    ("an HTTP01 solver has one kind", ISSUER, _set([*SOLVER, "http01"], {}),
     "spec.acme.solvers.0.http01: exactly 1 of ['gatewayHTTPRoute', 'ingress'] must be set (got [])"),
    ("one of ingressClassName and class", ISSUER, _set([*SOLVER, "http01", "ingress", "class"], "nginx"),
     "spec.acme.solvers.0.http01.ingress: 'class' and 'ingressClassName' exclude each other"),
    ("the solver Service is ClusterIP or NodePort", ISSUER,
     _set([*SOLVER, "http01", "ingress", "serviceType"], "LoadBalancer"),
     "spec.acme.solvers.0.http01.ingress.serviceType: 'LoadBalancer' is not one of ['', 'ClusterIP', 'NodePort']"),
    ("one issuer type", ISSUER, _set(["spec", "selfSigned"], {}),
     "spec: exactly 1 of ['acme', 'ca', 'selfSigned', 'vault', 'venafi'] must be set (got ['acme', 'selfSigned'])"),
]


@pytest.mark.parametrize(("rule", "fixture", "change", "expected"), RULES, ids=[r[0] for r in RULES])
def test_schema_rule_is_enforced(rule, fixture, change, expected):
    status, message = kubernetes_schema.validate_manifest(_with(fixture, change), "1.34")
    assert status == "error"
    assert message.startswith(expected)


def test_schemas_cover_exactly_the_rendered_kinds():
    assert set(crd_schema.schemas()) == RENDERED_KINDS | GATEWAY_API_KINDS


def _open_objects(node: Any, where: str) -> list[str]:
    """Object schemas that accept unknown fields without saying why ($comment "open: ...")."""
    found = []
    if isinstance(node, dict):
        types = node.get("type")
        is_object = types == "object" or (isinstance(types, list) and "object" in types)
        if is_object and "additionalProperties" not in node and not str(node.get("$comment", "")).startswith("open:"):
            found.append(where)
        for key, value in node.items():
            found += _open_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _open_objects(value, f"{where}/{index}")
    return found


@pytest.mark.parametrize("path", sorted(crd_schema.SCHEMA_DIR.glob("*.json")), ids=lambda p: p.name)
def test_schema_file_is_well_formed_and_closed(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    api_version, kind = schema["properties"]["apiVersion"]["const"], schema["properties"]["kind"]["const"]
    assert path.name == crd_schema.file_name(api_version, kind)
    assert schema["additionalProperties"] is False
    assert _open_objects(schema, "#") == []


def test_open_objects_are_found():
    """The closure check above can fail: an object schema without additionalProperties is reported."""
    assert _open_objects({"$defs": {"X": {"type": "object", "properties": {}}}}, "#") == ["#/$defs/X"]
