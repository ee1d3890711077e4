"""The public edge (`traffic.edge`): which router's pods the NLB fronts, and what exists for each choice."""

from __future__ import annotations

from typing import Any

import pytest

from ops.checks.helm_charts import RELEASE_TYPE
from ops.plan import traffic_as_rendered
from ops.runner import RunResult
from tests.conftest import run_plan
from tests.workloads_helpers import lookup, objects, render

PROD = "doc-rag-prod"
NLB = "Service/doc-rag-ingress/api-service-alb"
VS = f"VirtualService/{PROD}/doc-rag-vs"
GATEWAY = f"Gateway/{PROD}/doc-rag-gateway"
CANARY_INGRESS = f"Ingress/{PROD}/api-ingress"
WEIGHT_KEY = "nginx.ingress.kubernetes.io/canary-weight"
API_POLICY = f"NetworkPolicy/{PROD}/doc-rag-network-policy"
SOLVER_POLICY = f"NetworkPolicy/{PROD}/acme-http01-solver"
PROMETHEUS_POLICY = "NetworkPolicy/doc-rag-monitoring/prometheus-network-policy"
NGINX_PODS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
              "app.kubernetes.io/component": "controller"}
GATEWAY_PODS = {"istio": "ingressgateway"}
PUBLIC_GATEWAY_PODS = {"gateway.networking.k8s.io/gateway-name": "doc-rag-public"}
ROUTE = f"HTTPRoute/{PROD}/doc-rag-route"
REDIRECT = f"HTTPRoute/{PROD}/doc-rag-https-redirect"
PUBLIC_GATEWAY = "Gateway/doc-rag-ingress/doc-rag-public"

# (activeColor, canaryWeight, Istio {blue, green}): a release walked to the flip and back.
WALK = [("blue", 0, {"blue": 100, "green": 0}), ("blue", 5, {"blue": 95, "green": 5}),
        ("blue", 25, {"blue": 75, "green": 25}), ("blue", 50, {"blue": 50, "green": 50}),
        ("blue", 100, {"blue": 0, "green": 100}), ("green", 0, {"blue": 0, "green": 100}),
        ("blue", 0, {"blue": 100, "green": 0})]


def _walk(edge: str) -> list[RunResult]:
    return [render(f"release.activeColor={active}", f"release.canaryWeight={weight}", f"traffic.edge={edge}",
                   stack="prod") for active, weight, _ in WALK]


@pytest.fixture(scope="module")
def walks() -> dict[str, list[RunResult]]:
    return {edge: _walk(edge) for edge in ("nginx", "istio", "gateway")}


def _peers(policy: dict[str, Any], rule: int = 0) -> list[dict[str, Any]]:
    return [peer["podSelector"]["matchLabels"] for peer in policy["spec"]["ingress"][rule]["from"]]


@pytest.mark.parametrize("edge", ["nginx", "istio", "gateway"])
@pytest.mark.parametrize("step", range(len(WALK)))
def test_the_weight_reaches_exactly_the_routers_of_the_edge(walks, edge, step):
    active, weight, istio = WALK[step]
    run = walks[edge][step]
    rendered = objects(run)
    routes = lookup(rendered[VS], "spec.http[0].route")
    assert {route["destination"]["subset"]: route["weight"] for route in routes} == istio
    table = traffic_as_rendered(list(rendered.values()), run)
    assert table["istioWeights"] == istio
    if edge == "nginx":
        assert lookup(rendered[CANARY_INGRESS], f"metadata.annotations.{{{WEIGHT_KEY}}}") == str(weight)
        assert table["nginxCanaryWeight"] == weight
    else:  # no NGINX object carries a weight nobody applies
        assert [key for key in rendered if key.startswith("Ingress/")] == []
        assert "nginxCanaryWeight" not in table
    if edge == "gateway":
        (rule,) = rendered[ROUTE]["spec"]["rules"]
        selects = {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}
        assert selects == {"api-service": 100 - weight, "api-service-canary": weight}
        assert table["gatewayWeights"] == selects
    else:
        assert [key for key in rendered if key.startswith("HTTPRoute/")] == []
        assert "gatewayWeights" not in table


def test_istio_edge_fronts_the_gateway_and_installs_no_ingress_nginx(walks):
    nginx, istio = walks["nginx"][0], walks["istio"][0]
    assert lookup(objects(nginx)[NLB], "spec.selector") == NGINX_PODS
    nlb = objects(istio)[NLB]
    assert nlb["spec"]["selector"] == GATEWAY_PODS
    assert [(port["port"], port["targetPort"]) for port in nlb["spec"]["ports"]] == [(443, 443), (80, 80)]
    # Envoy reads no PROXY v2 header unless configured to: the NLB sends none to it.
    assert "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol" not in nlb["metadata"]["annotations"]
    releases = {r.inputs["name"] for r in istio.of_type(RELEASE_TYPE)}
    assert "ingress-nginx" not in releases and "istio-ingressgateway" in releases
    assert "ingress-nginx" in {r.inputs["name"] for r in nginx.of_type(RELEASE_TYPE)}


def test_istio_edge_gateway_redirects_http(walks):
    servers = objects(walks["istio"][0])[GATEWAY]["spec"]["servers"]
    assert servers[1] == {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                          "tls": {"httpsRedirect": True}, "hosts": ["api.docrag.example.com"]}
    assert [server["port"]["number"] for server in objects(walks["nginx"][0])[GATEWAY]["spec"]["servers"]] == [443]


def test_network_policies_admit_exactly_the_edge_pods(walks):
    nginx, istio = objects(walks["nginx"][0]), objects(walks["istio"][0])
    assert _peers(nginx[API_POLICY]) == [NGINX_PODS, GATEWAY_PODS]
    assert _peers(istio[API_POLICY]) == [GATEWAY_PODS]
    assert _peers(nginx[SOLVER_POLICY]) == [NGINX_PODS]
    assert _peers(istio[SOLVER_POLICY]) == [GATEWAY_PODS]
    scraped = [[peer.get("podSelector", {}).get("matchLabels") for peer in rule.get("to", [])]
               for rule in istio[PROMETHEUS_POLICY]["spec"]["egress"]]
    assert [NGINX_PODS] not in scraped
    assert [NGINX_PODS] in [[peer.get("podSelector", {}).get("matchLabels") for peer in rule.get("to", [])]
                            for rule in nginx[PROMETHEUS_POLICY]["spec"]["egress"]]


def test_an_unknown_edge_exits_2_naming_the_key_and_the_choices(tmp_path):
    outcome, printed = run_plan(tmp_path, "dev", ("traffic.edge=haproxy",))
    assert outcome.exit_code == 2
    assert "traffic.edge = 'haproxy': allowed: nginx | istio | gateway" in printed


def test_gateway_edge_is_the_gateway_api_implemented_by_istio(walks):
    run = walks["gateway"][1]
    rendered = objects(run)
    gateway = rendered[PUBLIC_GATEWAY]
    assert gateway["spec"]["gatewayClassName"] == "istio"
    assert gateway["metadata"]["annotations"]["networking.istio.io/service-type"] == "ClusterIP"
    assert [(listener["name"], listener["protocol"], listener["port"]) for listener in gateway["spec"]["listeners"]] \
        == [("https", "HTTPS", 443), ("http", "HTTP", 80)]
    assert rendered[REDIRECT]["spec"]["parentRefs"][0]["sectionName"] == "http"
    assert rendered[REDIRECT]["spec"]["rules"] == [
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]
    assert rendered[ROUTE]["spec"]["parentRefs"][0]["sectionName"] == "https"
    nlb = rendered[NLB]
    assert nlb["spec"]["selector"] == PUBLIC_GATEWAY_PODS
    assert [(port["port"], port["targetPort"]) for port in nlb["spec"]["ports"]] == [(443, 443), (80, 80)]
    # The CRDs come from the platform, pinned, and only for this edge.
    (crds,) = [r for r in run.resources if r.name == "gateway-api-crds"]
    assert crds.inputs["file"] == ("https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.3/"
                                   "standard-install.yaml")
    assert not [r for r in walks["istio"][1].resources if r.name == "gateway-api-crds"]
    assert "ingress-nginx" not in {r.inputs["name"] for r in run.of_type(RELEASE_TYPE)}
    assert _peers(rendered[API_POLICY]) == [PUBLIC_GATEWAY_PODS, GATEWAY_PODS]
    assert _peers(rendered[SOLVER_POLICY]) == [PUBLIC_GATEWAY_PODS]


def test_preflight_refuses_a_route_off_the_colour_services_or_off_100():
    from components.routers.gateway import check_backends

    broken = {"metadata": {"name": "doc-rag-route"}, "spec": {"rules": [{"backendRefs": [
        {"name": "api-service", "weight": 90}, {"name": "api-service-mesh", "weight": 20}]}]}}
    assert check_backends(broken) == [
        "HTTPRoute doc-rag-route rules[0] backendRefs ['api-service-mesh']: allowed: api-service, api-service-canary",
        "HTTPRoute doc-rag-route rules[0] weights sum to 110: allowed: exactly 100",
    ]
    broken["spec"]["rules"][0]["backendRefs"][1] = {"name": "api-service-canary", "weight": 10}
    assert check_backends(broken) == []


@pytest.mark.parametrize("edge", ["istio", "gateway"])
def test_pulumi_up_refuses_an_edge_without_a_certificate_path(edge):
    from components.deploy_gate import deploy_blockers
    from ops.stackconfig import load_stack_config

    blockers = deploy_blockers(load_stack_config("prod", [f"traffic.edge={edge}"]).model())
    assert [b for b in blockers if b.startswith("traffic.edge")] == [
        f"traffic.edge = '{edge}': the gateway's TLS certificate is issued by HTTP-01 through the 'nginx' "
        "IngressClass, which runs only with the nginx edge, so its HTTPS listener would have no certificate; "
        "allowed: nginx until the issuer solves through the chosen edge"]
    assert not [b for b in deploy_blockers(load_stack_config("prod", []).model()) if b.startswith("traffic.edge")]
