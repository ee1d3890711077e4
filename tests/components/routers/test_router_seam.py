"""The router seam as plain function calls: every router's objects, readers and checks, without running the program.

Expected objects are written out in full as literals: the names and annotations are the upstream projects'
(ingress-nginx's canary annotations, Istio's networking.istio.io/v1, the Gateway API's v1 HTTPRoute,
cert-manager's Certificate) and the deployment plan's (doc-rag-ingress, api-ingress, doc-rag-vs, port 8080).
Fast enough to run once per mutant under `make mutation`."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pytest

from components.config import parse_config
from components.routers import REGISTRY
from components.routers.base import (
    EdgeTarget,
    Routed,
    RouterObject,
    Site,
    annotations_of,
    api_service_manifest,
    dig,
    items,
    metadata,
    name_of,
    namespace_of,
    release_split,
    split_weight_allowed,
    to_int,
)
from components.routers.gateway import GatewayRouter, check_backends
from components.routers.istio import IstioRouter, check_subsets
from components.routers.nginx import NginxRouter, check_routes

DOMAIN = "api.docrag.example.com"
PROD = "doc-rag-prod"
INGRESS_NS = "doc-rag-ingress"
STEPS = [5, 25, 50, 100]
TRAFFIC_LABELS = {"app.kubernetes.io/name": "doc-rag", "app.kubernetes.io/component": "traffic",
                  "app.kubernetes.io/part-of": "doc-rag", "app.kubernetes.io/managed-by": "pulumi"}
API_LABELS = {**TRAFFIC_LABELS, "app.kubernetes.io/component": "api"}
FORCE = {"pulumi.com/patchForce": "true"}
API_PORTS = [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
             {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
SITE = Site("istio-gw-ns", {"istio": "ingressgateway"}, "nginx-ns", {"app.kubernetes.io/name": "ingress-nginx"})


def config(active: str = "blue", weight: int = 25, edge: str = "nginx", **traffic: Any):
    return parse_config({
        "domain": DOMAIN,
        "release": {"activeColor": active, "canaryWeight": weight,
                    "blue": {"image": "doc-rag/api:v1"}, "green": {"image": "doc-rag/api:v2"}},
        "traffic": {"edge": edge, **traffic},
    })


def of(*objects: Mapping[str, Any]):
    """An OfKind over the given objects, as the plan and the policy pack pass them."""
    def of_kind(kind: str) -> Sequence[Mapping[str, Any]]:
        return [obj for obj in objects if obj.get("kind") == kind]
    return of_kind


def meta(name: str, namespace: str = PROD, labels: dict[str, str] = TRAFFIC_LABELS, **annotations: str):
    return {"name": name, "namespace": namespace, "labels": labels, "annotations": {**annotations, **FORCE}}


def ingress(name: str, *, namespace: str = PROD, annotations: Mapping[str, Any] | None = None,
            rules: Any = None, default_backend: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if rules is not None:
        spec["rules"] = rules
    if default_backend:
        spec["defaultBackend"] = {"service": {"name": default_backend}}
    return {"kind": "Ingress", "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
            "spec": spec}


def rule(host: str | None = DOMAIN, path: str | None = "/", path_type: str | None = "Prefix",
         service: str = "api-service") -> dict[str, Any]:
    entry: dict[str, Any] = {"backend": {"service": {"name": service}}}
    if path is not None:
        entry["path"] = path
    if path_type is not None:
        entry["pathType"] = path_type
    found: dict[str, Any] = {"http": {"paths": [entry]}}
    if host is not None:
        found["host"] = host
    return found


CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


# --- base: the shared pieces -------------------------------------------------------------------------------------

def test_release_split_reads_the_release():
    state = release_split(config(active="green", weight=50).release)
    assert (state.active, state.canary, state.weight) == ("green", "blue", 50)
    assert state.weights == {"blue": 50, "green": 50}


def test_api_service_manifest_with_and_without_scrape_annotations():
    expected = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta("api-service", labels=API_LABELS, **{"prometheus.io/scrape": "true",
                                                             "prometheus.io/port": "9090",
                                                             "prometheus.io/path": "/metrics"}),
        "spec": {"type": "ClusterIP", "selector": {"version": "blue"}, "ports": API_PORTS},
    }
    assert api_service_manifest("api-service", {"version": "blue"}) == expected
    unscraped = api_service_manifest("x", {}, scrape=False)
    assert unscraped["metadata"]["annotations"] == FORCE


def test_metadata_defaults_and_overrides():
    assert metadata("n") == {"name": "n", "namespace": PROD, "labels": TRAFFIC_LABELS, "annotations": FORCE}
    got = metadata("n", namespace="other", annotations={"a": "1"}, component="edge")
    edge_labels = {**TRAFFIC_LABELS, "app.kubernetes.io/component": "edge"}
    assert got == {"name": "n", "namespace": "other", "labels": edge_labels, "annotations": {"a": "1", **FORCE}}
    # The stack's ownership of the fields wins over a caller's annotation of the same key.
    assert metadata("n", annotations={"pulumi.com/patchForce": "false"})["annotations"] == FORCE


def test_dig_reads_a_path_and_tolerates_any_shape():
    assert dig({"a": {"b": 1}}, "a", "b") == 1
    assert dig({"a": {"b": 1}}, "a", "c") is None
    assert dig({"a": [1]}, "a", "b") is None
    assert dig({"a": 0}) == {"a": 0}


def test_items_lists_only_sequences_that_are_not_text():
    assert items([1, 2]) == [1, 2]
    assert items((3,)) == [3]
    assert items("ab") == []
    assert items(b"ab") == []
    assert items(None) == []
    assert items({"a": 1}) == []


@pytest.mark.parametrize(("weight", "allowed"), [
    (0, True), (100, True), (5, True), (95, True), (25, True), (75, True), (50, True), (30, False), (1, False),
    (99, False),
])
def test_split_weight_allowed(weight, allowed):
    assert split_weight_allowed(weight, [5, 25, 50]) is allowed


@pytest.mark.parametrize(("value", "expected"), [
    (5, 5), (5.0, 5), (5.5, None), (True, None), (False, None), ("7", 7), (" 7 ", 7), ("-3", -3), ("x", None),
    ("", None), (None, None), ([1], None), ("X5", None), ("--5", None), ("²", None), ("5-", None),
])
def test_to_int(value, expected):
    assert to_int(value) == expected


def test_name_namespace_and_annotations_of():
    obj = {"metadata": {"name": "n", "namespace": "ns", "annotations": {"a": "1"}}}
    assert (name_of(obj), namespace_of(obj), annotations_of(obj)) == ("n", "ns", {"a": "1"})
    assert (name_of({}), namespace_of({}), annotations_of({})) == ("", "default", {})
    assert annotations_of({"metadata": {"annotations": ["a"]}}) == {}
    assert name_of({"metadata": {"name": 7}}) == "7"


def test_the_registry_names_each_router_by_its_edge_value():
    assert sorted(REGISTRY) == ["gateway", "istio", "nginx"]
    assert {name: router.name for name, router in REGISTRY.items()} == {
        "nginx": "nginx", "istio": "istio", "gateway": "gateway"}


# --- NGINX ---------------------------------------------------------------------------------------------------------

def nginx_main(rps: str = "42", connections: str = "7") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": meta("doc-rag-ingress", **{
            "nginx.ingress.kubernetes.io/ssl-redirect": "true",
            "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
            "nginx.ingress.kubernetes.io/backend-protocol": "HTTP",
            "nginx.ingress.kubernetes.io/limit-rps": rps,
            "nginx.ingress.kubernetes.io/limit-connections": connections,
            "cert-manager.io/cluster-issuer": "letsencrypt-prod"}),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [DOMAIN], "secretName": "doc-rag-tls"}],
            "rules": [{"host": DOMAIN, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "api-service", "port": {"number": 8080}}}}]}}],
        },
    }


def nginx_canary(weight: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": meta("api-ingress", **{CANARY: "true", CANARY_WEIGHT: weight}),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [DOMAIN], "secretName": "doc-rag-tls"}],
            "rules": [{"host": DOMAIN, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "api-service-canary", "port": {"number": 8080}}}}]}}],
        },
    }


def test_nginx_objects_below_full_weight():
    objects = NginxRouter().objects(config(weight=25, rateLimitRps=42, rateLimitConnections=7), SITE)
    assert objects == [
        RouterObject(nginx_main(), after=("api-service",), needs=("ingress", "cert_manager"), routes=True),
        RouterObject(nginx_canary("25"), after=("doc-rag-ingress",), needs=("ingress", "cert_manager"),
                     carries_weight=True, routes=True),
    ]


def test_nginx_canary_at_full_weight_follows_its_service_not_the_main_ingress():
    objects = NginxRouter().objects(config(weight=100), SITE)
    assert objects[0].manifest == nginx_main("100", "10")
    assert objects[1] == RouterObject(nginx_canary("100"), after=(), needs=("ingress", "cert_manager"),
                                      carries_weight=True, routes=True)


def test_nginx_renders_and_edge_target():
    router = NginxRouter()
    assert (router.renders("nginx"), router.renders("istio"), router.renders("gateway")) == (True, False, False)
    assert router.edge_target(SITE) == EdgeTarget("nginx-ns", {"app.kubernetes.io/name": "ingress-nginx"},
                                                  "https", "http", ("ingress",))
    assert router.object_names == ("doc-rag-ingress", "api-ingress")


def test_nginx_preflight_passes_the_rendered_pair():
    assert NginxRouter().preflight(config()) == []


def test_check_routes_names_a_mismatched_canary_and_class():
    main = {"metadata": {"name": "m"}, "spec": {"ingressClassName": "nginx", "rules": [rule(path="/")]}}
    canary = {"metadata": {"name": "c"}, "spec": {"ingressClassName": "other", "rules": [rule(path="/api")]}}
    assert check_routes(main, canary) == [
        f"canary Ingress c routes [('{DOMAIN}', '/api', 'Prefix')]: allowed: exactly the main Ingress m routes "
        f"[('{DOMAIN}', '/', 'Prefix')] (ingress-nginx drops a mismatched canary)",
        "canary Ingress ingressClassName = 'other': allowed: the main Ingress' 'nginx'",
    ]


def test_check_routes_reads_absent_fields_as_empty():
    main = {"metadata": {"name": "m"}, "spec": {"rules": [rule(host=None, path=None, path_type=None)]}}
    canary = {"metadata": {"name": "c"}, "spec": {"rules": [{"host": "h"}]}}
    assert check_routes(main, canary) == [
        "canary Ingress c routes []: allowed: exactly the main Ingress m routes [('', '', '')] "
        "(ingress-nginx drops a mismatched canary)",
    ]
    assert check_routes(main, {"metadata": {"name": "c"}, "spec": {}}) == [
        "canary Ingress c routes []: allowed: exactly the main Ingress m routes [('', '', '')] "
        "(ingress-nginx drops a mismatched canary)",
    ]
    same = {"metadata": {"name": "c"}, "spec": {"rules": [rule(host=None, path=None, path_type=None)]}}
    assert check_routes(main, same) == []


def test_nginx_rendered_state():
    router = NginxRouter()
    assert router.rendered_state(of(nginx_main(), nginx_canary("25"))) == {"nginxCanaryWeight": 25}
    unweighted = ingress("api-ingress", annotations={CANARY: "true"})
    assert router.rendered_state(of(unweighted)) == {"nginxCanaryWeight": None}
    assert router.rendered_state(of(nginx_main())) == {}


def test_nginx_routes_follow_weights_and_matchers():
    router = NginxRouter()
    main = ingress("m", rules=[rule(service="api-service")], default_backend="fallback")
    canary_off = ingress("c0", annotations={CANARY: "true", CANARY_WEIGHT: "0"}, rules=[rule(service="a")])
    canary_on = ingress("c5", namespace="ns", annotations={CANARY: "TRUE", CANARY_WEIGHT: "5"},
                        rules=[rule(service="b")])
    by_header = ingress("ch", annotations={CANARY: "true", "nginx.ingress.kubernetes.io/canary-by-header": "x"},
                        rules=[rule(service="c")])
    by_cookie = ingress("cc", annotations={CANARY: "true", "nginx.ingress.kubernetes.io/canary-by-cookie": "x"},
                        rules=[rule(service="d")])
    not_canary = ingress("nc", annotations={CANARY: "false", CANARY_WEIGHT: "0"}, rules=[rule(service="e")])
    routes = list(router.routes(of(main, canary_off, canary_on, by_header, by_cookie, not_canary)))
    assert routes == [
        Routed("Ingress m -> Service fallback", PROD, "fallback"),
        Routed("Ingress m -> Service api-service", PROD, "api-service"),
        Routed("Ingress c5 -> Service b", "ns", "b"),
        Routed("Ingress ch -> Service c", PROD, "c"),
        Routed("Ingress cc -> Service d", PROD, "d"),
        Routed("Ingress nc -> Service e", PROD, "e"),
    ]


def test_nginx_routes_skip_unnamed_backends_and_odd_shapes():
    odd = ingress("m", rules=[{"http": {"paths": [{"backend": {"service": {"name": ""}}}, {"backend": {}}]}}, "x"])
    assert list(NginxRouter().routes(of(odd))) == []
    canary_bad_weight = ingress("c", annotations={CANARY: "true", CANARY_WEIGHT: "lots"}, rules=[rule()])
    assert list(NginxRouter().routes(of(canary_bad_weight))) == []


def test_a_canary_at_weight_1_sends_traffic():
    canary = ingress("c", annotations={CANARY: "true", CANARY_WEIGHT: "1"}, rules=[rule(service="s")])
    assert list(NginxRouter().routes(of(canary))) == [Routed("Ingress c -> Service s", PROD, "s")]


def test_nginx_weight_violations():
    bad = ingress("c", annotations={CANARY: "true", CANARY_WEIGHT: "33"})
    good = ingress("g", annotations={CANARY: "true", CANARY_WEIGHT: "25"})
    zero = ingress("z", annotations={CANARY: "true", CANARY_WEIGHT: "0"})
    unset = ingress("u", annotations={CANARY: "true"})
    main = ingress("m", annotations={CANARY_WEIGHT: "33"})
    found = list(NginxRouter().weight_violations(of(bad, good, zero, unset, main), STEPS))
    assert found == [("canary Ingress c has weight '33'; allowed: 0 or one of [5, 25, 50, 100]", bad)]


def test_nginx_route_violations():
    router = NginxRouter()
    main = ingress("m", rules=[rule()])
    elsewhere = ingress("m2", namespace="other", rules=[rule(path="/x")])
    matching = ingress("ok", annotations={CANARY: "true"}, rules=[rule()])
    stray = ingress("stray", annotations={CANARY: "true"}, rules=[rule(path="/x"), rule(path=None, path_type=None)])
    empty = ingress("empty", annotations={CANARY: "true"}, rules=[])
    orphan = ingress("orphan", namespace="lonely", annotations={CANARY: "true"}, rules=[rule(host=None)])
    found = [message for message, _ in router.route_violations(of(main, elsewhere, matching, stray, empty, orphan))]
    assert found == [
        f"canary Ingress stray routes host {DOMAIN} path / (no pathType), which no main Ingress in {PROD} serves "
        "with the same host/path/pathType; NGINX ignores such a canary",
        f"canary Ingress stray routes host {DOMAIN} path /x (Prefix), which no main Ingress in {PROD} serves "
        "with the same host/path/pathType; NGINX ignores such a canary",
        "canary Ingress empty has no host/path rules",
        "canary Ingress orphan has no main Ingress in lonely to shadow",
    ]
    assert [obj for _, obj in router.route_violations(of(main, empty))] == [empty]


def test_nginx_route_violations_read_a_missing_host_as_any_host():
    main = ingress("m", rules=[rule(host=None), "not a rule", {"http": {"paths": ["not a path"]}}])
    canary = ingress("c", annotations={CANARY: "true"}, rules=[rule(host=None)])
    assert list(NginxRouter().route_violations(of(main, canary))) == []
    other = ingress("c2", annotations={CANARY: "true"}, rules=[rule(host="*", path="/", path_type="Prefix")])
    assert list(NginxRouter().route_violations(of(main, other))) == []


def test_nginx_rate_limits():
    limited = ingress("m", annotations={"nginx.ingress.kubernetes.io/limit-rps": "42",
                                        "nginx.ingress.kubernetes.io/limit-connections": "7"})
    assert list(NginxRouter().rate_limits(of(limited, ingress("none")))) == [
        "Ingress m limit-rps 42", "Ingress m limit-connections 7"]


# --- Istio ---------------------------------------------------------------------------------------------------------

MESH_SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": meta("api-service-mesh", labels=API_LABELS),
    "spec": {"type": "ClusterIP",
             "selector": {"app.kubernetes.io/name": "doc-rag", "app.kubernetes.io/component": "api"},
             "ports": API_PORTS},
}
DESTINATION_RULE = {
    "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": meta("doc-rag-api"),
    "spec": {"host": "api-service-mesh", "subsets": [{"name": "blue", "labels": {"version": "blue"}},
                                                     {"name": "green", "labels": {"version": "green"}}]},
}


def istio_certificate(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": meta("doc-rag-gateway-tls", namespace=namespace),
        "spec": {"secretName": "doc-rag-tls", "dnsNames": [DOMAIN],
                 "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt-prod", "group": "cert-manager.io"}},
    }


def istio_gateway(*, as_edge: bool) -> dict[str, Any]:
    servers: list[dict[str, Any]] = [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                                      "tls": {"mode": "SIMPLE", "credentialName": "doc-rag-tls"}, "hosts": [DOMAIN]}]
    if as_edge:
        servers.append({"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "tls": {"httpsRedirect": True},
                        "hosts": [DOMAIN]})
    return {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": meta("doc-rag-gateway"),
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": servers}}


def virtual_service(blue: int, green: int, fault: dict[str, Any] | None) -> dict[str, Any]:
    http: dict[str, Any] = {
        "match": [{"uri": {"prefix": "/api/"}}],
        "route": [{"destination": {"host": "api-service-mesh", "subset": "blue", "port": {"number": 8080}},
                   "weight": blue},
                  {"destination": {"host": "api-service-mesh", "subset": "green", "port": {"number": 8080}},
                   "weight": green}],
        "retries": {"attempts": 2, "perTryTimeout": "3s"},
    }
    if fault is not None:
        http["fault"] = fault
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": meta("doc-rag-vs"),
            "spec": {"hosts": [DOMAIN], "gateways": ["doc-rag-gateway"], "http": [http]}}


def test_istio_objects_behind_an_nginx_edge():
    cfg = config(active="green", weight=25, retries=2, perTryTimeout="3s", faultDelayPercent=0.5, faultDelay="2s")
    assert IstioRouter().objects(cfg, SITE) == [
        RouterObject(MESH_SERVICE, needs=("serving",), routes=True),
        RouterObject(istio_certificate("istio-gw-ns"), needs=("cert_manager",)),
        RouterObject(istio_gateway(as_edge=False), needs=("istio",)),
        RouterObject(DESTINATION_RULE, after=("api-service-mesh",), needs=("istio",), routes=True),
        RouterObject(virtual_service(25, 75, {"delay": {"percentage": {"value": 0.5}, "fixedDelay": "2s"}}),
                     after=("doc-rag-gateway", "doc-rag-api"), needs=("istio",), routes=True),
    ]


def test_istio_as_the_edge_redirects_port_80_and_drops_a_zero_fault():
    cfg = config(active="blue", weight=5, edge="istio", retries=2, perTryTimeout="3s", faultDelayPercent=0)
    objects = IstioRouter().objects(cfg, SITE)
    assert objects[2].manifest == istio_gateway(as_edge=True)
    assert objects[4].manifest == virtual_service(95, 5, None)


def test_istio_renders_everywhere_and_edge_target():
    router = IstioRouter()
    assert all(router.renders(edge) for edge in ("nginx", "istio", "gateway"))
    assert router.edge_target(SITE) == EdgeTarget("istio-gw-ns", {"istio": "ingressgateway"}, 443, 80, ("istio",))
    assert router.object_names == ("doc-rag-vs", "doc-rag-api", "doc-rag-gateway")
    assert list(router.route_violations(of(DESTINATION_RULE))) == []
    assert list(router.rate_limits(of(DESTINATION_RULE))) == []


def test_istio_preflight_passes_the_rendered_pair():
    assert IstioRouter().preflight(config()) == []


def vs(*http: dict[str, Any], name: str = "doc-rag-vs", namespace: str = PROD) -> dict[str, Any]:
    return {"kind": "VirtualService", "metadata": {"name": name, "namespace": namespace}, "spec": {"http": list(http)}}


def dest(host: str, subset: str | None = None, weight: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"destination": {"host": host}}
    if subset is not None:
        entry["destination"]["subset"] = subset
    if weight is not None:
        entry["weight"] = weight
    return entry


def test_check_subsets_names_undefined_subsets_and_bad_sums():
    rule_ = {"metadata": {"name": "dr"}, "spec": {"host": "h", "subsets": [{"name": "blue"}, {"name": "green"}]}}
    virtual = vs({"route": [dest("h", "blue", 30), dest("other", "blue", 30), dest("h", "red", 30)]},
                 {"route": [dest("h", "green")]},
                 {"route": [dest("h", None, 60), dest("h", "green", 40)]})
    assert check_subsets(rule_, virtual) == [
        "VirtualService http[0] subset other/blue: not defined; allowed: ['h/blue', 'h/green'] (DestinationRule dr)",
        "VirtualService http[0] subset h/red: not defined; allowed: ['h/blue', 'h/green'] (DestinationRule dr)",
        "VirtualService http[0] weights sum to 90: allowed: exactly 100",
    ]
    no_subsets = {"metadata": {"name": "dr"}, "spec": {"host": "h"}}
    assert check_subsets(no_subsets, vs({"route": [dest("h", "blue"), dest("h", None)]})) == [
        "VirtualService http[0] subset h/blue: not defined; allowed: [] (DestinationRule dr)",
        "VirtualService http[0] weights sum to 0: allowed: exactly 100",
    ]
    assert check_subsets(no_subsets, {"spec": {}}) == []
    assert check_subsets(no_subsets, vs({})) == []


def test_istio_rendered_state():
    router = IstioRouter()
    state = router.rendered_state(of(virtual_service(25, 75, None)))
    assert state == {"istioWeights": {"blue": 25, "green": 75}}
    summed = vs({"route": [{"destination": {"subset": "blue"}, "weight": 30}, {"destination": {}}]},
                {"route": [{"weight": 10}, {"destination": {"subset": "blue"}, "weight": "5"}]}, {})
    assert router.rendered_state(of(summed)) == {"istioWeights": {"blue": 35, "?": 110}}
    assert router.rendered_state(of(vs(name="other"))) == {}
    assert router.rendered_state(of({"kind": "VirtualService", "metadata": {"name": "doc-rag-vs"}})) == {
        "istioWeights": {}}


def test_istio_routes_with_subsets_and_namespaces():
    rules = [
        {"kind": "DestinationRule", "spec": {"host": "elsewhere", "subsets": [{"name": "blue", "labels": {"x": "1"}}]}},
        {"kind": "DestinationRule", "spec": {"host": "api-service-mesh.doc-rag-prod.svc.cluster.local", "subsets": [
            "not a subset", {"name": "green", "labels": {"version": "green"}},
            {"name": "blue", "labels": {"version": "blue"}}, {"name": "odd", "labels": ["x"]}]}},
    ]
    virtual = vs({"route": [dest("api-service-mesh", "blue", 30), dest("api-service-mesh.other.svc", "green", 70),
                            dest("api-service-mesh", "green", 0), dest("api-service-mesh", "odd", "x")]},
                 {"route": [dest("single")]},
                 {"route": [dest("plain", weight=-1), dest("missing-subset", "nope", 5), dest("", None, 10)]},
                 namespace="ns")
    assert list(IstioRouter().routes(of(*rules, virtual))) == [
        Routed("VirtualService doc-rag-vs -> api-service-mesh subset blue weight 30", "ns", "api-service-mesh",
               {"version": "blue"}),
        Routed("VirtualService doc-rag-vs -> api-service-mesh.other.svc subset green weight 70", "other",
               "api-service-mesh", {"version": "green"}),
        Routed("VirtualService doc-rag-vs -> single weight 100", "ns", "single", None),
        Routed("VirtualService doc-rag-vs -> missing-subset subset nope weight 5", "ns", "missing-subset", {}),
        Routed("VirtualService doc-rag-vs ->  weight 10", "ns", "", None),
    ]


def test_istio_routes_at_weight_1_and_to_a_rule_without_host():
    rules = [{"kind": "DestinationRule", "spec": {"subsets": [{"name": "blue", "labels": {"version": "blue"}}]}}]
    virtual = vs({"route": [dest("", "blue", 1), dest("api-service-mesh", "green", 99)]})
    assert list(IstioRouter().routes(of(*rules, virtual)))[0] == Routed(
        "VirtualService doc-rag-vs ->  subset blue weight 1", PROD, "", {"version": "blue"})


def test_istio_routes_of_an_undefined_subset_reach_nothing():
    rules = [{"kind": "DestinationRule", "spec": {"host": "api-service-mesh", "subsets": [
        {"name": "blue", "labels": ["not", "a", "mapping"]}]}}]
    virtual = vs({"route": [dest("api-service-mesh", "blue")]})
    assert list(IstioRouter().routes(of(*rules, virtual))) == [
        Routed("VirtualService doc-rag-vs -> api-service-mesh subset blue weight 100", PROD, "api-service-mesh", {})]


def test_istio_weight_violations():
    virtual = vs({"route": [dest("h", "blue", 30), dest("h", "green", 70)]},
                 {"route": [dest("h", "blue", 33)]},
                 {"route": [dest("h", "blue", "x"), dest("h", None, 95), dest("h", "green"), dest("h", "red", 7)]},
                 {"route": [dest("h", "blue", 5), dest("h", "green", 95)]})
    found = [message for message, _ in IstioRouter().weight_violations(of(virtual), [5, 25, 50, 100])]
    assert found == [
        "VirtualService doc-rag-vs sends weight 30 to blue; split weights must be 0, 100 or a step "
        "[5, 25, 50, 100] (or 100 minus one)",
        "VirtualService doc-rag-vs sends weight 70 to green; split weights must be 0, 100 or a step "
        "[5, 25, 50, 100] (or 100 minus one)",
        "VirtualService doc-rag-vs has a non-integer route weight 'x'; Istio weights are integers",
        "VirtualService doc-rag-vs sends weight 7 to red; split weights must be 0, 100 or a step [5, 25, 50, 100] "
        "(or 100 minus one)",
    ]
    odd = vs({"route": [dest("h", None, 40), dest("h", "green", 60)]})
    assert [message for message, obj in IstioRouter().weight_violations(of(odd), STEPS) if obj is odd] == [
        "VirtualService doc-rag-vs sends weight 40 to h; split weights must be 0, 100 or a step [5, 25, 50, 100] "
        "(or 100 minus one)",
        "VirtualService doc-rag-vs sends weight 60 to green; split weights must be 0, 100 or a step "
        "[5, 25, 50, 100] (or 100 minus one)",
    ]


# --- Gateway API ---------------------------------------------------------------------------------------------------

ALLOWED_ROUTES = {"namespaces": {"from": "Selector",
                                 "selector": {"matchLabels": {"kubernetes.io/metadata.name": PROD}}}}
PUBLIC_GATEWAY = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
    "metadata": meta("doc-rag-public", namespace=INGRESS_NS, **{"networking.istio.io/service-type": "ClusterIP"}),
    "spec": {"gatewayClassName": "istio", "listeners": [
        {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": DOMAIN,
         "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "doc-rag-public-tls"}]},
         "allowedRoutes": ALLOWED_ROUTES},
        {"name": "http", "protocol": "HTTP", "port": 80, "hostname": DOMAIN, "allowedRoutes": ALLOWED_ROUTES},
    ]},
}
PUBLIC_CERTIFICATE = {
    "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
    "metadata": meta("doc-rag-public-tls", namespace=INGRESS_NS),
    "spec": {"secretName": "doc-rag-public-tls", "dnsNames": [DOMAIN],
             "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt-prod", "group": "cert-manager.io"}},
}


def parent(section: str) -> list[dict[str, Any]]:
    return [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "doc-rag-public",
             "namespace": INGRESS_NS, "sectionName": section}]


def http_route(active_weight: int, canary_weight: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta("doc-rag-route"),
        "spec": {"parentRefs": parent("https"), "hostnames": [DOMAIN], "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [
                {"kind": "Service", "name": "api-service", "port": 8080, "weight": active_weight},
                {"kind": "Service", "name": "api-service-canary", "port": 8080, "weight": canary_weight}],
            "timeouts": {"backendRequest": "3s"}}]},
    }


REDIRECT = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta("doc-rag-https-redirect"),
    "spec": {"parentRefs": parent("http"), "hostnames": [DOMAIN],
             "rules": [{"filters": [{"type": "RequestRedirect",
                                     "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]},
}


def test_gateway_objects():
    assert GatewayRouter().objects(config(weight=25, edge="gateway", perTryTimeout="3s"), SITE) == [
        RouterObject(PUBLIC_CERTIFICATE, needs=("cert_manager",)),
        RouterObject(PUBLIC_GATEWAY, after=("doc-rag-public-tls",), needs=("gateway_api", "istio")),
        RouterObject(http_route(75, 25), after=("doc-rag-public",), needs=("gateway_api",), carries_weight=True,
                     routes=True),
        RouterObject(REDIRECT, after=("doc-rag-public",), needs=("gateway_api",)),
    ]


def test_gateway_renders_only_as_the_edge_and_edge_target():
    router = GatewayRouter()
    assert (router.renders("gateway"), router.renders("nginx"), router.renders("istio")) == (True, False, False)
    assert router.edge_target(SITE) == EdgeTarget(
        INGRESS_NS, {"gateway.networking.k8s.io/gateway-name": "doc-rag-public"}, 443, 80, ("gateway_api", "istio"))
    assert router.object_names == ("doc-rag-route", "doc-rag-https-redirect", "doc-rag-public")
    assert list(router.route_violations(of(REDIRECT))) == []
    assert list(router.rate_limits(of(REDIRECT))) == []


def test_gateway_preflight_passes_the_rendered_route():
    assert GatewayRouter().preflight(config(edge="gateway")) == []


def route(*rules: dict[str, Any], name: str = "doc-rag-route", namespace: str = PROD) -> dict[str, Any]:
    return {"kind": "HTTPRoute", "metadata": {"name": name, "namespace": namespace}, "spec": {"rules": list(rules)}}


def ref(name: Any, weight: Any = None, **extra: Any) -> dict[str, Any]:
    found = {"name": name, **extra}
    if weight is not None:
        found["weight"] = weight
    return found


def test_check_backends_names_unknown_services_and_bad_sums():
    bad = route({"backendRefs": [ref("api-service", 60), ref("x", 30), ref("y", 20)]},
                {"backendRefs": [ref("api-service-canary")]},
                {"backendRefs": [ref("api-service", 99), ref("api-service-canary")]},
                {})
    assert check_backends(bad) == [
        "HTTPRoute doc-rag-route rules[0] backendRefs ['x', 'y']: allowed: api-service, api-service-canary",
        "HTTPRoute doc-rag-route rules[0] weights sum to 110: allowed: exactly 100",
    ]
    assert check_backends({"metadata": {"name": "r"}, "spec": {}}) == []
    assert check_backends(route({"backendRefs": [ref("api-service", 98), ref("api-service-canary")]})) == [
        "HTTPRoute doc-rag-route rules[0] weights sum to 99: allowed: exactly 100"]


def test_gateway_rendered_state():
    router = GatewayRouter()
    assert router.rendered_state(of(REDIRECT, http_route(75, 25))) == {
        "gatewayWeights": {"api-service": 75, "api-service-canary": 25}}
    assert router.rendered_state(of(route({"backendRefs": [ref("a", "x")]}))) == {"gatewayWeights": {"a": None}}
    assert router.rendered_state(of(REDIRECT)) == {}


def test_gateway_routes():
    routed = route({"backendRefs": [ref("api-service", 75), ref("api-service-canary", 0), ref("plain"),
                                    ref("other-ns", 5, namespace="elsewhere"), ref("bucket", 5, kind="Backend"),
                                    ref("svc", 5, kind="Service"), "not a ref", ref("odd", "x")]},
                   namespace="ns")
    assert list(GatewayRouter().routes(of(routed, REDIRECT))) == [
        Routed("HTTPRoute doc-rag-route -> Service api-service weight 75", "ns", "api-service"),
        Routed("HTTPRoute doc-rag-route -> Service plain weight 1", "ns", "plain"),
        Routed("HTTPRoute doc-rag-route -> Service other-ns weight 5", "elsewhere", "other-ns"),
        Routed("HTTPRoute doc-rag-route -> Service svc weight 5", "ns", "svc"),
        Routed("HTTPRoute doc-rag-route -> Service odd weight 1", "ns", "odd"),
    ]
    negative = route({"backendRefs": [ref("neg", -1)]})
    assert list(GatewayRouter().routes(of(negative))) == []


def test_gateway_weight_violations():
    routed = route({"backendRefs": [ref("a", 30), ref("b", 70)]},
                   {"backendRefs": [ref("single", 33)]},
                   {"backendRefs": [ref("c", 5), ref("d", 95), ref("e"), ref("f", "x"), "not a ref"]})
    found = list(GatewayRouter().weight_violations(of(routed), STEPS))
    assert found == [
        ("HTTPRoute doc-rag-route sends weight 30 to a; split weights must be 0, 100 or a step [5, 25, 50, 100] "
         "(or 100 minus one)", routed),
        ("HTTPRoute doc-rag-route sends weight 70 to b; split weights must be 0, 100 or a step [5, 25, 50, 100] "
         "(or 100 minus one)", routed),
    ]
    after_single = route({"backendRefs": [ref("single", 33)]}, {"backendRefs": [ref("g", 7), ref("h", 93)]})
    assert [message for message, _ in GatewayRouter().weight_violations(of(after_single), STEPS)] == [
        "HTTPRoute doc-rag-route sends weight 7 to g; split weights must be 0, 100 or a step [5, 25, 50, 100] "
        "(or 100 minus one)",
        "HTTPRoute doc-rag-route sends weight 93 to h; split weights must be 0, 100 or a step [5, 25, 50, 100] "
        "(or 100 minus one)",
    ]
    pair_with_odd = route({"backendRefs": [ref("a", 33), "not a ref"]})
    assert list(GatewayRouter().weight_violations(of(pair_with_odd), STEPS)) == []
