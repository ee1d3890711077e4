"""The traffic layer as plain function calls: weights per colour, the Service update order, the NLB's
annotations and spec, and the Traffic component's registration order under pulumi's mocks (the Kubernetes
resource classes replaced by recorders, so no program runs).

Expected values are literals: the deployment plan's names (api-service, api-service-canary, api-service-alb in
doc-rag-ingress), the AWS Load Balancer Controller's documented annotations and the update order of
docs/traffic.md ("Update order"). Fast enough to run once per mutant under `make mutation`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pulumi
import pytest

from components import traffic
from components.config import parse_config
from components.platform import AddonsReady, EdgeLoadBalancer
from components.routers.base import EdgeTarget, ReleaseSplit, Site, release_split
from components.traffic import (
    Traffic,
    TrafficArgs,
    nlb_annotations,
    nlb_service_spec,
    platform_needs,
    platform_site,
    router_objects,
    service_manifests,
    service_update_order,
)

DOMAIN = "api.docrag.example.com"
LB = "service.beta.kubernetes.io"
SCRAPE = {"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics"}
FORCE = {"pulumi.com/patchForce": "true"}


def config(active: str = "blue", weight: int = 25, edge: str = "nginx"):
    return parse_config({
        "domain": DOMAIN,
        "release": {"activeColor": active, "canaryWeight": weight,
                    "blue": {"image": "doc-rag/api:v1"}, "green": {"image": "doc-rag/api:v2"}},
        "traffic": {"edge": edge},
    })


# --- weights and order ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("active", "weight", "weights", "receiving"), [
    ("blue", 0, {"blue": 100, "green": 0}, ["blue"]),
    ("blue", 25, {"blue": 75, "green": 25}, ["blue", "green"]),
    ("green", 5, {"blue": 5, "green": 95}, ["blue", "green"]),
    ("green", 100, {"blue": 100, "green": 0}, ["blue"]),
])
def test_weights_per_colour_sum_to_100(active, weight, weights, receiving):
    state = release_split(config(active=active, weight=weight).release)
    assert state.weights == weights
    assert state.receiving == receiving


@pytest.mark.parametrize(("weight", "order"), [
    (0, (["api-service"], ["api-service-canary"])),
    (5, (["api-service", "api-service-canary"], [])),
    (99, (["api-service", "api-service-canary"], [])),
    (100, (["api-service-canary"], ["api-service"])),
])
def test_services_whose_colour_receives_traffic_go_first(weight, order):
    assert service_update_order(ReleaseSplit("blue", "green", weight)) == order


def test_service_manifests_select_each_colour():
    manifests = service_manifests(config(active="green", weight=5).release)
    selector = {"app.kubernetes.io/name": "doc-rag", "app.kubernetes.io/component": "api"}
    assert [(m["metadata"]["name"], m["spec"]["selector"]) for m in manifests] == [
        ("api-service", {**selector, "version": "green"}),
        ("api-service-canary", {**selector, "version": "blue"}),
    ]
    assert all(m["metadata"]["annotations"] == {**SCRAPE, **FORCE} for m in manifests)


# The ingress-nginx controller's pod labels as its upstream chart sets them (chart `ingress-nginx`, release
# `ingress-nginx`): the NLB and the router objects must select exactly these pods.
CONTROLLER = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
              "app.kubernetes.io/component": "controller"}


def test_the_platform_runs_both_edge_proxies_in_doc_rag_ingress():
    assert platform_site() == Site("doc-rag-ingress", {"istio": "ingressgateway"}, "doc-rag-ingress", CONTROLLER)


@pytest.mark.parametrize(("edge", "needs"), [
    ("nginx", {"serving", "ingress", "cert_manager", "istio"}),
    ("istio", {"serving", "cert_manager", "istio"}),
    ("gateway", {"serving", "cert_manager", "istio", "gateway_api"}),
])
def test_platform_needs_follow_the_edge(edge, needs):
    assert platform_needs(config(edge=edge)) == needs


def test_router_objects_are_those_of_the_routers_the_edge_renders():
    site = Site("gw-ns", {})
    assert [obj.name for obj in router_objects(config(edge="nginx"), site)] == [
        "doc-rag-ingress", "api-ingress", "api-service-mesh", "doc-rag-gateway-tls", "doc-rag-gateway",
        "doc-rag-api", "doc-rag-vs"]
    assert [obj.name for obj in router_objects(config(edge="gateway"), site)] == [
        "api-service-mesh", "doc-rag-gateway-tls", "doc-rag-gateway", "doc-rag-api", "doc-rag-vs",
        "doc-rag-public-tls", "doc-rag-public", "doc-rag-route", "doc-rag-https-redirect"]


# --- the NLB -------------------------------------------------------------------------------------------------------

def test_nlb_annotations_in_existing_mode_without_certificate():
    assert nlb_annotations(None, EdgeLoadBalancer()) == {
        f"{LB}/aws-load-balancer-type": "nlb",
        f"{LB}/aws-load-balancer-scheme": "internet-facing",
        f"{LB}/aws-load-balancer-nlb-target-type": "ip",
        f"{LB}/aws-load-balancer-backend-protocol": "tcp",
    }


def test_nlb_annotations_with_the_controller_a_certificate_and_proxy_protocol():
    edge = EdgeLoadBalancer(load_balancer_class="service.k8s.aws/nlb", proxy_protocol=True)
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    assert nlb_annotations(arn, edge) == {
        f"{LB}/aws-load-balancer-type": "external",
        f"{LB}/aws-load-balancer-scheme": "internet-facing",
        f"{LB}/aws-load-balancer-nlb-target-type": "ip",
        f"{LB}/aws-load-balancer-backend-protocol": "ssl",
        f"{LB}/aws-load-balancer-ssl-cert": arn,
        f"{LB}/aws-load-balancer-ssl-ports": "443",
        f"{LB}/aws-load-balancer-ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        f"{LB}/aws-load-balancer-proxy-protocol": "*",
    }


def test_nlb_service_spec():
    target = EdgeTarget("ns", {"app": "edge"}, "https", "http", ("ingress",))
    plain = {"type": "LoadBalancer", "selector": {"app": "edge"}, "ports": [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"},
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}
    assert nlb_service_spec(target, EdgeLoadBalancer()) == plain
    owned = nlb_service_spec(target, EdgeLoadBalancer(load_balancer_class="service.k8s.aws/nlb"))
    assert owned == {**plain, "loadBalancerClass": "service.k8s.aws/nlb"}


# --- the Traffic component: what it registers, in which order, after what ------------------------------------------

class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name, args.inputs

    def call(self, args):
        return {}


class pulumi_mocks:
    def __enter__(self):
        pulumi.runtime.set_mocks(_Mocks(), project="doc-rag", stack="test", preview=False)

    def __exit__(self, *exc: Any) -> None:
        return None


class Stub(pulumi.Resource):
    """A resource by name only (never registered): what an object may be registered after."""

    def __init__(self, label: str):  # pylint: disable=super-init-not-called
        self.label = label

    def __str__(self) -> str:
        return self.label


class Recorded(Stub):
    """Stands in for a Kubernetes resource: what it was created with."""

    def __init__(self, kind: str, name: str, kwargs: dict[str, Any]):
        super().__init__(f"{kind}/{name}")
        self.kind, self.name, self.kwargs = kind, name, kwargs

    @property
    def opts(self) -> pulumi.ResourceOptions:
        return self.kwargs["opts"]



@pytest.fixture
def recorded(monkeypatch):
    created: list[Recorded] = []

    def maker(kind: str):
        def make(name: str, **kwargs: Any) -> Recorded:
            created.append(Recorded(kind, name, kwargs))
            return created[-1]
        return make

    fake_k8s = SimpleNamespace(
        core=SimpleNamespace(v1=SimpleNamespace(Service=maker("Service"))),
        networking=SimpleNamespace(v1=SimpleNamespace(Ingress=maker("Ingress"))),
        apiextensions=SimpleNamespace(CustomResource=maker("CustomResource")),
    )
    monkeypatch.setattr(traffic, "k8s", fake_k8s)
    outputs: list[dict[str, Any]] = []
    monkeypatch.setattr(Traffic, "register_outputs", lambda self, values: outputs.append(values))
    with pulumi_mocks():
        yield created, outputs


NO_CONTROLLER = EdgeLoadBalancer()


def build(cfg, ready: AddonsReady, certificate_arn: str | None = None, edge: EdgeLoadBalancer = NO_CONTROLLER):
    namespaces = {name: Stub(f"namespace {name}") for name in ("doc-rag-prod", "doc-rag-ingress")}
    serving = [Stub("deployment blue"), Stub("deployment green")]
    args = TrafficArgs(config=cfg, namespaces=namespaces, serving=serving,  # type: ignore[arg-type]
                       certificate_arn=certificate_arn, edge=edge, ready=ready)
    return Traffic("traffic", args, pulumi.ResourceOptions(protect=True))


def depends(resource: Recorded) -> list[str]:
    return [str(item) for item in resource.opts.depends_on]


def addons(**lists: list[Stub]) -> AddonsReady:
    """The add-on releases, [] for those not named."""
    return AddonsReady(**{key: lists.get(key, []) for key in  # type: ignore[arg-type]
                          ("ingress", "cert_manager", "istio", "gateway_api", "load_balancer")})


def all_addons() -> AddonsReady:
    return addons(ingress=[Stub("ingress-nginx")], cert_manager=[Stub("cert-manager"), Stub("issuer")],
                  istio=[Stub("istio-base"), Stub("istiod")], gateway_api=[Stub("gateway-crds")],
                  load_balancer=[Stub("lb-controller")])


SERVING = ["namespace doc-rag-prod", "deployment blue", "deployment green"]
ISTIO_TAIL = [
    ("Service", "api-service-mesh", SERVING),
    ("CustomResource", "doc-rag-gateway-tls", ["namespace doc-rag-ingress", "cert-manager", "issuer"]),
    ("CustomResource", "doc-rag-gateway", ["namespace doc-rag-prod", "istio-base", "istiod"]),
    ("CustomResource", "doc-rag-api", ["namespace doc-rag-prod", "istio-base", "istiod", "Service/api-service-mesh"]),
    ("CustomResource", "doc-rag-vs", ["namespace doc-rag-prod", "istio-base", "istiod",
                                      "CustomResource/doc-rag-gateway", "CustomResource/doc-rag-api"]),
]


def test_a_canary_step_registers_both_services_before_the_weight(recorded):
    created, outputs = recorded
    component = build(config(weight=25), all_addons())
    objects = [(r.kind, r.name, depends(r)) for r in created[:-1]]
    assert objects == [
        ("Service", "api-service", SERVING),
        ("Service", "api-service-canary", SERVING),
        ("Ingress", "doc-rag-ingress", ["namespace doc-rag-prod", "ingress-nginx", "cert-manager", "issuer",
                                        "Service/api-service"]),
        ("Ingress", "api-ingress", ["namespace doc-rag-prod", "ingress-nginx", "cert-manager", "issuer",
                                    "Ingress/doc-rag-ingress", "Service/api-service", "Service/api-service-canary"]),
        *ISTIO_TAIL,
    ]
    assert all(r.opts.parent is component for r in created)
    assert list(component.objects) == [name for _, name, _ in objects]
    assert component.objects["api-ingress"] is created[3]
    assert [str(r) for r in component.routing] == [
        "Service/api-service", "Service/api-service-canary", "Ingress/doc-rag-ingress", "Ingress/api-ingress",
        "Service/api-service-mesh", "CustomResource/doc-rag-api", "CustomResource/doc-rag-vs"]
    expected_outputs = {"activeColor": "blue", "canaryColor": "green", "canaryWeight": 25,
                        "weights": {"blue": 75, "green": 25}, "host": DOMAIN}
    assert component.outputs == expected_outputs
    assert outputs == [expected_outputs]
    assert component.split == ReleaseSplit("blue", "green", 25)
    assert (component._type, component._name) == ("doc-rag:traffic:Traffic", "traffic")
    assert component._protect is True  # the options given reach the component


def test_weight_0_moves_the_canary_service_only_after_the_weight(recorded):
    created, _ = recorded
    build(config(weight=0), all_addons())
    assert [(r.kind, r.name, depends(r)) for r in created[:4]] == [
        ("Service", "api-service", SERVING),
        ("Ingress", "doc-rag-ingress", ["namespace doc-rag-prod", "ingress-nginx", "cert-manager", "issuer",
                                        "Service/api-service"]),
        ("Ingress", "api-ingress", ["namespace doc-rag-prod", "ingress-nginx", "cert-manager", "issuer",
                                    "Ingress/doc-rag-ingress", "Service/api-service"]),
        ("Service", "api-service-canary", [*SERVING, "Ingress/api-ingress"]),
    ]


def test_weight_100_moves_the_active_service_only_after_the_weight(recorded):
    created, _ = recorded
    build(config(weight=100), all_addons())
    assert [(r.kind, r.name, depends(r)) for r in created[:4]] == [
        ("Service", "api-service-canary", SERVING),
        ("Ingress", "api-ingress", ["namespace doc-rag-prod", "ingress-nginx", "cert-manager", "issuer",
                                    "Service/api-service-canary"]),
        ("Service", "api-service", [*SERVING, "Ingress/api-ingress"]),
        ("Ingress", "doc-rag-ingress", ["namespace doc-rag-prod", "ingress-nginx", "cert-manager", "issuer",
                                        "Service/api-service"]),
    ]


def test_the_manifests_are_passed_as_the_routers_built_them(recorded):
    created, _ = recorded
    build(config(weight=25), all_addons())
    by_name = {r.name: r for r in created}
    service = by_name["api-service"].kwargs
    assert set(service) == {"metadata", "spec", "opts"}
    assert service["metadata"]["name"] == "api-service" and service["spec"]["type"] == "ClusterIP"
    ingress = by_name["api-ingress"].kwargs
    assert set(ingress) == {"metadata", "spec", "opts"}
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "25"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    virtual = by_name["doc-rag-vs"].kwargs
    assert set(virtual) == {"api_version", "kind", "metadata", "spec", "opts"}
    assert (virtual["api_version"], virtual["kind"]) == ("networking.istio.io/v1", "VirtualService")
    assert virtual["metadata"]["name"] == "doc-rag-vs" and virtual["spec"]["gateways"] == ["doc-rag-gateway"]


def test_the_nlb_fronts_ingress_nginx_after_it_and_the_load_balancer_controller(recorded):
    created, _ = recorded
    edge = EdgeLoadBalancer(load_balancer_class="service.k8s.aws/nlb", proxy_protocol=True)
    component = build(config(weight=25), all_addons(), certificate_arn="arn:cert", edge=edge)
    nlb = created[-1]
    assert component.nlb is nlb
    assert (nlb.kind, nlb.name) == ("Service", "api-service-alb")
    assert nlb.kwargs["metadata"] == {
        "name": "api-service-alb", "namespace": "doc-rag-ingress",
        "labels": {"app.kubernetes.io/name": "doc-rag", "app.kubernetes.io/component": "edge",
                   "app.kubernetes.io/part-of": "doc-rag", "app.kubernetes.io/managed-by": "pulumi"},
        "annotations": {
            f"{LB}/aws-load-balancer-type": "external",
            f"{LB}/aws-load-balancer-scheme": "internet-facing",
            f"{LB}/aws-load-balancer-nlb-target-type": "ip",
            f"{LB}/aws-load-balancer-backend-protocol": "ssl",
            f"{LB}/aws-load-balancer-ssl-cert": "arn:cert",
            f"{LB}/aws-load-balancer-ssl-ports": "443",
            f"{LB}/aws-load-balancer-ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            f"{LB}/aws-load-balancer-proxy-protocol": "*",
        },
    }
    assert nlb.kwargs["spec"] == {
        "type": "LoadBalancer", "selector": CONTROLLER, "loadBalancerClass": "service.k8s.aws/nlb",
        "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"},
                  {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}
    assert depends(nlb) == ["namespace doc-rag-ingress", "ingress-nginx", "lb-controller"]
    assert nlb.opts.parent is component
    assert nlb.opts.replace_on_changes == [
        "spec.loadBalancerClass", 'metadata.annotations["service.beta.kubernetes.io/aws-load-balancer-type"]']
    assert nlb.opts.delete_before_replace is True


def test_the_gateway_edge_registers_its_route_between_the_services(recorded):
    created, _ = recorded
    component = build(config(weight=0, edge="gateway"), all_addons())
    order = [(r.name, depends(r)) for r in created]
    gateway_objects = {
        "doc-rag-public-tls": ["namespace doc-rag-ingress", "cert-manager", "issuer"],
        "doc-rag-public": ["namespace doc-rag-ingress", "gateway-crds", "istio-base", "istiod",
                           "CustomResource/doc-rag-public-tls"],
        "doc-rag-route": ["namespace doc-rag-prod", "gateway-crds", "CustomResource/doc-rag-public",
                          "Service/api-service"],
        "doc-rag-https-redirect": ["namespace doc-rag-prod", "gateway-crds", "CustomResource/doc-rag-public"],
    }
    assert order[0] == ("api-service", SERVING)
    assert [name for name, _ in order] == [
        "api-service", "api-service-mesh", "doc-rag-gateway-tls", "doc-rag-gateway", "doc-rag-api", "doc-rag-vs",
        "doc-rag-public-tls", "doc-rag-public", "doc-rag-route", "api-service-canary", "doc-rag-https-redirect",
        "api-service-alb"]
    assert {name: deps for name, deps in order if name in gateway_objects} == gateway_objects
    assert dict(order)["api-service-canary"] == [*SERVING, "CustomResource/doc-rag-route"]
    assert dict(order)["api-service-alb"] == ["namespace doc-rag-ingress", "gateway-crds", "istio-base", "istiod",
                                              "lb-controller"]
    assert "CustomResource/doc-rag-route" in [str(r) for r in component.routing]
    assert "CustomResource/doc-rag-https-redirect" not in [str(r) for r in component.routing]


def test_a_resource_needed_twice_is_named_once(recorded):
    created, _ = recorded
    shared = Stub("shared release")
    build(config(weight=25), addons(ingress=[shared], cert_manager=[shared], istio=[shared], load_balancer=[shared]))
    by_name = {r.name: r for r in created}
    assert depends(by_name["doc-rag-ingress"]) == ["namespace doc-rag-prod", "shared release", "Service/api-service"]
    assert depends(by_name["api-service-alb"]) == ["namespace doc-rag-ingress", "shared release"]


def test_routing_is_the_registered_objects_themselves_for_api_retire(recorded):
    """Api.retire(routing) runs after Traffic: `routing` holds the very resources registered here (no Output to
    resolve later), the Services and the objects that route, never the NLB or a redirect."""
    created, _ = recorded
    component = build(config(weight=0, edge="gateway"), all_addons())
    by_name = {r.name: r for r in created}
    assert isinstance(component.routing, list)
    assert [id(r) for r in component.routing] == [id(by_name[name]) for name in (
        "api-service", "api-service-mesh", "doc-rag-api", "doc-rag-vs", "doc-rag-route", "api-service-canary")]
