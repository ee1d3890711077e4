"""Traffic (issue 4): one weight knob drives NGINX and Istio; a whole release walked step by step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from components import api, traffic
from components.platform import edge_load_balancer
from components.routers import base, istio
from ops.checks.helm_charts import RELEASE_TYPE
from ops.manifests import is_manifest, manifest_id, to_manifest
from ops.runner import run_program
from ops.stackconfig import load_stack_config
from tests.conftest import FIXTURES, PROJECT_DIR, program
from tests.workloads_helpers import ids_of, lookup, objects, render, render_diff, schema_errors

PROD = "doc-rag-prod"
CANARY_INGRESS = f"Ingress/{PROD}/api-ingress"
MAIN_INGRESS = f"Ingress/{PROD}/doc-rag-ingress"
ACTIVE_SVC = f"Service/{PROD}/api-service"
CANARY_SVC = f"Service/{PROD}/api-service-canary"
VS = f"VirtualService/{PROD}/doc-rag-vs"
NLB = "Service/doc-rag-ingress/api-service-alb"
WEIGHT_KEY = "nginx.ingress.kubernetes.io/canary-weight"

# The whole release: (step, activeColor, canaryWeight, NGINX canary weight, Istio {blue, green},
# api-service selects, api-service-canary selects).
WALK = [
    ("blue serves", "blue", 0, "0", {"blue": 100, "green": 0}, "blue", "green"),
    ("canary 5", "blue", 5, "5", {"blue": 95, "green": 5}, "blue", "green"),
    ("canary 25", "blue", 25, "25", {"blue": 75, "green": 25}, "blue", "green"),
    ("canary 50", "blue", 50, "50", {"blue": 50, "green": 50}, "blue", "green"),
    ("canary 100", "blue", 100, "100", {"blue": 0, "green": 100}, "blue", "green"),
    ("flip to green", "green", 0, "0", {"blue": 0, "green": 100}, "green", "blue"),
    ("rollback to blue", "blue", 0, "0", {"blue": 100, "green": 0}, "blue", "green"),
]
WEIGHT_PATHS = {
    CANARY_INGRESS: {f"metadata.annotations.{WEIGHT_KEY}"},
    VS: {"spec.http[0].route[0].weight", "spec.http[0].route[1].weight"},
}
SELECTOR_PATHS = {ACTIVE_SVC: {"spec.selector.version"}, CANARY_SVC: {"spec.selector.version"}}


@pytest.fixture(scope="module")
def walk():
    return [render(f"release.activeColor={active}", f"release.canaryWeight={weight}")
            for _, active, weight, *_ in WALK]


@pytest.mark.parametrize("index", range(len(WALK)), ids=[step[0] for step in WALK])
def test_every_step_routes_consistently(walk, index):
    _, _, _, nginx_weight, istio, active_selects, canary_selects = WALK[index]
    rendered = objects(walk[index])
    assert lookup(rendered[CANARY_INGRESS], f"metadata.annotations.{{{WEIGHT_KEY}}}") == nginx_weight
    routes = lookup(rendered[VS], "spec.http[0].route")
    assert {route["destination"]["subset"]: route["weight"] for route in routes} == istio
    assert sum(route["weight"] for route in routes) == 100
    assert lookup(rendered[ACTIVE_SVC], "spec.selector.version") == active_selects
    assert lookup(rendered[CANARY_SVC], "spec.selector.version") == canary_selects
    # The NGINX and Istio views agree: the canary Service's colour gets exactly the canary weight.
    assert istio[canary_selects] == int(nginx_weight)
    assert walk[index].outputs["traffic"]["weights"] == istio


def _only(changes: dict[str, list[str]], allowed: dict[str, set[str]]) -> dict[str, list[str]]:
    """The changes outside `allowed` (an empty dict means the diff is exactly within `allowed`)."""
    return {key: [p for p in paths if p not in allowed.get(key, set())]
            for key, paths in changes.items() if set(paths) - allowed.get(key, set())}


@pytest.mark.parametrize("index", range(1, len(WALK)), ids=[f"{WALK[i - 1][0]} -> {WALK[i][0]}"
                                                             for i in range(1, len(WALK))])
def test_a_step_changes_only_weights_and_selectors(walk, index):
    before, after = walk[index - 1], walk[index]
    changes = render_diff(before, after)
    flips = WALK[index - 1][1] != WALK[index][1]
    allowed = {**WEIGHT_PATHS, **(SELECTOR_PATHS if flips else {})}
    # Workload and traffic objects change in nothing but the weight fields (and, on a flip, the selectors).
    mine = ids_of(before)
    ours = {key: paths for key, paths in changes.items() if key in mine}
    assert _only(ours, allowed) == {}
    if not flips:
        assert ours and set(ours) <= set(WEIGHT_PATHS)
    # Other layers may mirror the release state (the observability layer records the weight as a
    # Prometheus rule), but no other workload, Service or Ingress moves.
    others = set(changes) - mine
    assert not {key for key in others if key.split("/")[0] in ("Deployment", "StatefulSet", "Service", "Ingress",
                                                                "Secret", "VirtualService", "DestinationRule")}
    # Same set of resources, same URNs: nothing is created, deleted, renamed or replaced.
    assert {r.urn for r in before.resources} == {r.urn for r in after.resources}
    for name in ("api-deployment-blue", "api-deployment-green"):
        assert before.named(name).inputs == after.named(name).inputs


RULES = "ConfigMap/doc-rag-monitoring/prometheus-rules"


@pytest.mark.parametrize("index", range(1, len(WALK)), ids=[f"{WALK[i - 1][0]} -> {WALK[i][0]}"
                                                             for i in range(1, len(WALK))])
def test_a_step_changes_exactly_the_documented_objects(walk, index):
    """docs/traffic.md's list, exactly: a step moves the canary weight, the VirtualService weights (unless
    they are equal, as at the flip from 100) and the canary-weight recording rule; a flip also moves both
    Service selectors. Nothing else in the whole render changes."""
    changes = render_diff(walk[index - 1], walk[index])
    expected = {CANARY_INGRESS: [f"metadata.annotations.{WEIGHT_KEY}"], RULES: ["data.doc-rag.yml"]}
    if WALK[index - 1][4] != WALK[index][4]:
        expected[VS] = ["spec.http[0].route[0].weight", "spec.http[0].route[1].weight"]
    if WALK[index - 1][1] != WALK[index][1]:
        expected[ACTIVE_SVC] = expected[CANARY_SVC] = ["spec.selector.version"]
    if WALK[index - 1][2] == WALK[index][2]:  # rollback after the flip: the weight stays 0
        del expected[CANARY_INGRESS]
    assert changes == expected
    rules = [yaml.safe_load(objects(run)[RULES]["data"]["doc-rag.yml"]) for run in walk[index - 1:index + 1]]
    recorded = [[rule for group in doc["groups"] for rule in group["rules"]
                 if rule.get("record") == "doc_rag:canary_weight:percent"] for doc in rules]
    assert recorded[1] == [{"record": "doc_rag:canary_weight:percent", "expr": f"vector({WALK[index][2]})",
                            "labels": {"version": WALK[index][6]}}]


def test_flip_at_full_weight_leaves_istio_untouched(walk):
    """Istio lists subsets in fixed colour order, so canary 100 -> flip moves no Istio field."""
    changes = render_diff(walk[4], walk[5])
    assert VS not in changes
    assert set(changes.get(ACTIVE_SVC, [])) == {"spec.selector.version"}
    assert set(changes.get(CANARY_SVC, [])) == {"spec.selector.version"}
    assert set(changes.get(CANARY_INGRESS, [])) == {f"metadata.annotations.{WEIGHT_KEY}"}


def test_diff_sees_a_changed_field(walk):
    """The diff is able to fail: an extra changed field outside the weights is reported."""
    before, after = objects(walk[0]), objects(walk[1])
    after[MAIN_INGRESS]["spec"]["rules"][0]["host"] = "other.example.com"
    from tests.workloads_helpers import diff

    assert diff(before[MAIN_INGRESS], after[MAIN_INGRESS]) == ["spec.rules[0].host"]


# -- update order: every state between two renders routes only to colours that serve -------------------------

DR = f"DestinationRule/{PROD}/doc-rag-api"
ROUTER_KINDS = ("Deployment", "Service", "Ingress", "VirtualService", "DestinationRule", "HTTPRoute")
CANARY_KEY = "nginx.ingress.kubernetes.io/canary"


def _routers(run) -> dict[str, dict[str, Any]]:
    """The objects in doc-rag-prod that decide where a request goes, and whether a colour serves."""
    if run is None:  # nothing deployed yet
        return {}
    return {key: obj for key, obj in objects(run).items()
            if obj["kind"] in ROUTER_KINDS and obj["metadata"].get("namespace") == PROD}


def serving_colours(state: dict[str, dict[str, Any]]) -> set[str]:
    """Colours with a Deployment that runs pods: spec.replicas unset (the HPA's floor) or > 0."""
    return {obj["spec"]["template"]["metadata"]["labels"]["version"] for obj in state.values()
            if obj["kind"] == "Deployment" and obj["spec"].get("replicas", 1) != 0}


def misrouted(state: dict[str, dict[str, Any]]) -> list[str]:
    """Every positive share of traffic this state sends to a colour that does not serve, or to nothing."""
    serving, problems = serving_colours(state), []

    def check(share: int, colour: Optional[str], via: str) -> None:
        if share > 0 and colour not in serving:
            problems.append(f"{share}% via {via} -> {colour or 'nothing'} (serving: {sorted(serving)})")

    def colour_of(service: str) -> Optional[str]:
        found = state.get(f"Service/{PROD}/{service}")
        return found["spec"]["selector"].get("version") if found else None

    ingresses = [obj for obj in state.values() if obj["kind"] == "Ingress"]
    canaries = [obj for obj in ingresses if obj["metadata"].get("annotations", {}).get(CANARY_KEY) == "true"]
    for main in (obj for obj in ingresses if obj not in canaries):
        backend = main["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        weight = 0
        for canary in canaries:  # ingress-nginx applies a canary only next to a main Ingress for its host
            if canary["spec"]["rules"][0]["host"] == main["spec"]["rules"][0]["host"]:
                weight = int(canary["metadata"]["annotations"][WEIGHT_KEY])
                service = canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
                check(weight, colour_of(service), f"canary Ingress -> {service}")
        check(100 - weight, colour_of(backend), f"main Ingress -> {backend}")
    for route in (obj for obj in state.values() if obj["kind"] == "HTTPRoute"):  # the Gateway API edge
        for ref in (ref for rule in route["spec"]["rules"] for ref in rule.get("backendRefs", [])):
            check(ref["weight"], colour_of(ref["name"]), f"HTTPRoute -> {ref['name']}")
    if VS in state:
        subsets = {subset["name"]: subset["labels"]["version"] for subset in state[DR]["spec"]["subsets"]} \
            if DR in state else {}
        for route in state[VS]["spec"]["http"][0]["route"]:
            subset = route["destination"]["subset"]
            check(route["weight"], subsets.get(subset), f"VirtualService subset {subset}")
    return problems


def _ancestors(run) -> dict[str, set[str]]:
    """URN -> every URN it waits for (depends_on, transitively), as the engine orders the steps of an `up`."""
    direct = {resource.urn: set(resource.depends_on) for resource in run.resources}
    closed: dict[str, set[str]] = {}

    def visit(urn: str) -> set[str]:
        if urn not in closed:
            closed[urn] = set()
            for dependency in direct.get(urn, ()):
                closed[urn] |= {dependency} | visit(dependency)
        return closed[urn]

    for urn in direct:
        visit(urn)
    return closed


def update_order(run, changed: list[str]) -> dict[str, set[str]]:
    """For each changed object: the changed objects the engine applies before it (from the dependencies
    the program registered; independent steps run in parallel, in any order)."""
    urns = {manifest_id(to_manifest(r)): r.urn for r in run.resources if is_manifest(r)}
    ancestors = _ancestors(run)
    return {key: {other for other in changed if urns[other] in ancestors[urns[key]]} for key in changed}


def intermediate_states(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
                        order: dict[str, set[str]]) -> list[tuple[list[str], dict[str, dict[str, Any]]]]:
    """Every state an `up` from `before` to `after` can pass through: any set of changed objects applied
    together with everything ordered before them. Objects gone from `after` are deleted last."""
    changed = sorted(order)
    states = []
    for mask in range(2 ** len(changed)):
        applied = [key for bit, key in enumerate(changed) if mask >> bit & 1]
        if all(order[key] <= set(applied) for key in applied):
            states.append((applied, {**before, **{key: after[key] for key in applied}}))
    states.append((["<deletes>"], dict(after)))
    return states


_RENDERS: dict[tuple[str, ...], Any] = {}


def _render(overrides: Optional[tuple[str, ...]]):
    if overrides is None:
        return None
    if overrides not in _RENDERS:
        _RENDERS[overrides] = render(*overrides)
    return _RENDERS[overrides]


def _release(active: str, weight: int, *retired: str) -> tuple[str, ...]:
    return (f"release.activeColor={active}", f"release.canaryWeight={weight}",
            *(f"release.{colour}.replicas=0" for colour in retired))


# (case, before (None: nothing deployed), after); green runs 3 replicas unless retired.
TRANSITIONS = [
    ("first up, blue serves", None, _release("blue", 0)),
    ("first up mid-canary", None, _release("blue", 25)),
    ("first up at weight 100", None, _release("blue", 100)),
    *[(f"canary {a} -> {b}", _release("blue", a), _release("blue", b))
      for a, b in [(0, 5), (5, 25), (25, 50), (50, 100), (25, 0)]],
    ("flip from 100", _release("blue", 100), _release("green", 0)),
    ("flip from 100, retiring blue in the same up", _release("blue", 100), _release("green", 0, "blue")),
    ("flip from 50", _release("blue", 50), _release("green", 0)),
    ("flip from 50, retiring blue in the same up", _release("blue", 50), _release("green", 0, "blue")),
    ("rollback after the flip", _release("green", 0), _release("blue", 0)),
    ("undo the flip after blue was retired (back to weight 100)", _release("green", 0, "blue"),
     _release("blue", 100, "blue")),
    ("abort the canary, retiring green in the same up", _release("blue", 25), _release("blue", 0, "green")),
    ("bring green back and start the canary in one up", _release("blue", 0, "green"), _release("blue", 5)),
]


def _on_edge(overrides: Optional[tuple[str, ...]], edge: str) -> Optional[tuple[str, ...]]:
    return None if overrides is None else (*overrides, f"traffic.edge={edge}")


EDGES = ["nginx", "istio", "gateway"]


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("before,after", [case[1:] for case in TRANSITIONS], ids=[case[0] for case in TRANSITIONS])
def test_every_intermediate_state_routes_to_serving_colours(before, after, edge):
    before, after = _on_edge(before, edge), _on_edge(after, edge)
    old, new = _routers(_render(before)), _routers(_render(after))
    assert misrouted(old) == [] and misrouted(new) == []
    changed = [key for key in new if old.get(key) != new[key]]
    assert changed, "the transition changes nothing"
    order = update_order(_render(after), changed)
    for applied, state in intermediate_states(old, new, order):
        assert misrouted(state) == [], f"after applying {applied}"


def test_the_old_order_is_caught():
    """The model is able to fail: Services before the weight (the old order) send every request of the flip
    from 100 to blue; with blue retired in the same up, that is 100 % of requests to no pod."""
    old, new = _routers(_render(_release("blue", 100))), _routers(_render(_release("green", 0, "blue")))
    deployment = f"Deployment/{PROD}/api-deployment-blue"
    services_first = {ACTIVE_SVC: set(), CANARY_SVC: set(), CANARY_INGRESS: {ACTIVE_SVC, CANARY_SVC},
                      deployment: set()}
    problems = [misrouted(state) for _, state in intermediate_states(old, new, services_first)]
    assert ["100% via canary Ingress -> api-service-canary -> blue (serving: ['green'])"] in problems


@pytest.mark.parametrize("edge,ingresses", [("nginx", [MAIN_INGRESS, CANARY_INGRESS]), ("istio", []),
                                            ("gateway", [f"HTTPRoute/{PROD}/doc-rag-route"])])
def test_retiring_colour_waits_for_every_router(edge, ingresses):
    """A retiring colour's Deployment is ordered after every object that routes API traffic (Api.retire with
    Traffic.routing); the live colour's Deployment comes before them all."""
    run = _render(_on_edge(_release("green", 0, "blue"), edge))
    assert [key for key in objects(run) if key.split("/")[0] in ("Ingress", "HTTPRoute")
            and key.split("/")[2] != "doc-rag-https-redirect"] == ingresses
    routers = [ACTIVE_SVC, CANARY_SVC, f"Service/{PROD}/api-service-mesh", *ingresses, DR, VS]
    retired, live = f"Deployment/{PROD}/api-deployment-blue", f"Deployment/{PROD}/api-deployment-green"
    order = update_order(run, [*routers, retired, live])
    assert order[retired] == set(routers) | {live}
    assert order[live] == set()
    assert all(live in order[router] for router in routers)


_BROKEN_TRAFFIC = """
import sys
from components import traffic
from ops import runner
from ops.runner import run_program

def broken(self, *args, **kwargs):
    raise RuntimeError("boom in Traffic 7f3a")

register = runner.RecordingMonitor.RegisterResource
registered = []

def recorded(self, request):
    registered.append(request.name)
    return register(self, request)

traffic.Traffic.__init__ = broken
runner.RecordingMonitor.RegisterResource = recorded
try:
    run_program(sys.argv[1])
except BaseException as error:  # reported on stdout: stderr may end with interpreter-shutdown noise
    print("".join(f"REGISTERED {name}\\n" for name in registered), end="", flush=True)
    print(f"RAISED {type(error).__name__}: {error}", flush=True)
    sys.exit(1)
"""


@pytest.mark.parametrize("stack", ["prod", "dev"])  # prod retires no colour; dev retires green (replicas 0)
def test_a_failing_traffic_layer_shows_its_own_error_and_does_not_hang(stack: str):
    """If Traffic raises, its own error (type and message) is what the run reports, not a generic one, within
    the timeout: nothing waits on routers that never come. On dev the retiring colour's Deployment, which is
    registered only after the traffic layer, is never registered, so it is not scaled to 0 without routers."""
    root = PROJECT_DIR
    done = subprocess.run([sys.executable, "-c", _BROKEN_TRAFFIC, stack], cwd=root, capture_output=True,
                          text=True, timeout=120)
    raised = next((line for line in done.stdout.splitlines() if line.startswith("RAISED ")), done.stdout)
    registered = {line.removeprefix("REGISTERED ") for line in done.stdout.splitlines()
                  if line.startswith("REGISTERED ")}
    assert done.returncode != 0
    assert "RuntimeError: boom in Traffic 7f3a" in raised
    assert "no colour is retired without its routers" not in raised  # Traffic's error alone, not a second one
    assert "api-deployment-blue" in registered  # the live colour, registered before the traffic layer
    assert ("api-deployment-green" in registered) == (stack == "prod")


PLAN_VALUES = [
    (MAIN_INGRESS, "spec.ingressClassName", "nginx"),
    (MAIN_INGRESS, "metadata.annotations.{nginx.ingress.kubernetes.io/ssl-redirect}", "true"),
    (MAIN_INGRESS, "metadata.annotations.{nginx.ingress.kubernetes.io/force-ssl-redirect}", "true"),
    (MAIN_INGRESS, "metadata.annotations.{nginx.ingress.kubernetes.io/backend-protocol}", "HTTP"),
    (MAIN_INGRESS, "metadata.annotations.{nginx.ingress.kubernetes.io/limit-rps}", "100"),
    (MAIN_INGRESS, "metadata.annotations.{nginx.ingress.kubernetes.io/limit-connections}", "10"),
    (MAIN_INGRESS, "metadata.annotations.{cert-manager.io/cluster-issuer}", "letsencrypt-prod"),
    (MAIN_INGRESS, "spec.tls", [{"hosts": ["api.docrag.example.com"], "secretName": "doc-rag-tls"}]),
    (MAIN_INGRESS, "spec.rules[0].host", "api.docrag.example.com"),
    (MAIN_INGRESS, "spec.rules[0].http.paths[0]", {"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "api-service", "port": {"number": 8080}}}}),
    (CANARY_INGRESS, "metadata.annotations.{nginx.ingress.kubernetes.io/canary}", "true"),
    (CANARY_INGRESS, "spec.ingressClassName", "nginx"),
    (CANARY_INGRESS, "spec.tls", [{"hosts": ["api.docrag.example.com"], "secretName": "doc-rag-tls"}]),
    (CANARY_INGRESS, "spec.rules[0].host", "api.docrag.example.com"),
    (CANARY_INGRESS, "spec.rules[0].http.paths[0]", {"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "api-service-canary", "port": {"number": 8080}}}}),
    (ACTIVE_SVC, "spec.ports[name=http].port", 8080),
    (ACTIVE_SVC, "spec.ports[name=metrics].port", 9090),
    (ACTIVE_SVC, "metadata.annotations.{prometheus.io/scrape}", "true"),
    (ACTIVE_SVC, "metadata.annotations.{prometheus.io/port}", "9090"),
    (CANARY_SVC, "spec.ports[name=http].port", 8080),
    (CANARY_SVC, "spec.ports[name=metrics].port", 9090),
    (NLB, "spec.type", "LoadBalancer"),
    # eks: the AWS Load Balancer Controller's documented form, not the deployment plan's in-tree `nlb`:
    # docs/traffic.md.
    (NLB, "metadata.annotations.{service.beta.kubernetes.io/aws-load-balancer-type}", "external"),
    (NLB, "metadata.annotations.{service.beta.kubernetes.io/aws-load-balancer-nlb-target-type}", "ip"),
    (NLB, "spec.loadBalancerClass", "service.k8s.aws/nlb"),
    (NLB, "metadata.annotations.{service.beta.kubernetes.io/aws-load-balancer-proxy-protocol}", "*"),
    (NLB, "metadata.annotations.{service.beta.kubernetes.io/aws-load-balancer-ssl-ports}", "443"),
    (NLB, "metadata.annotations.{service.beta.kubernetes.io/aws-load-balancer-backend-protocol}", "ssl"),
    (NLB, "spec.ports[name=https].port", 443),
    (NLB, "spec.ports[name=http].port", 80),
    # In front of the edge proxy (ingress-nginx controller), not the API pods.
    (NLB, "spec.selector.{app.kubernetes.io/name}", "ingress-nginx"),
    (NLB, "spec.selector.{app.kubernetes.io/component}", "controller"),
    (f"Gateway/{PROD}/doc-rag-gateway", "apiVersion", "networking.istio.io/v1"),
    (f"Gateway/{PROD}/doc-rag-gateway", "spec.selector", {"istio": "ingressgateway"}),
    (f"Gateway/{PROD}/doc-rag-gateway", "spec.servers[0]", {
        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
        "tls": {"mode": "SIMPLE", "credentialName": "doc-rag-tls"}, "hosts": ["api.docrag.example.com"]}),
    (f"Certificate/doc-rag-ingress/{istio.GATEWAY_CERTIFICATE}", "spec.secretName", "doc-rag-tls"),
    (f"DestinationRule/{PROD}/doc-rag-api", "spec.subsets", [
        {"name": "blue", "labels": {"version": "blue"}}, {"name": "green", "labels": {"version": "green"}}]),
    (VS, "spec.hosts", ["api.docrag.example.com"]),
    (VS, "spec.gateways", ["doc-rag-gateway"]),
    (VS, "spec.http[0].match", [{"uri": {"prefix": "/api/"}}]),
    (VS, "spec.http[0].retries", {"attempts": 3, "perTryTimeout": "10s"}),
    (VS, "spec.http[0].fault", {"delay": {"percentage": {"value": 0.1}, "fixedDelay": "5s"}}),
    (VS, "spec.http[0].route[0].destination", {"host": "api-service-mesh", "subset": "blue", "port": {"number": 8080}}),
]


@pytest.fixture(scope="module")
def prod():
    return program("prod")


@pytest.mark.parametrize("obj,path,expected", PLAN_VALUES, ids=[f"{o}:{p}" for o, p, _ in PLAN_VALUES])
def test_deployment_plan_value(prod, obj, path, expected):
    rendered = objects(prod)
    assert obj in rendered, f"{obj} not rendered"
    assert lookup(rendered[obj], path) == expected


def test_every_routing_object_forces_its_fields_back_on_up(prod):
    """The stack owns every weight and selector: server-side apply takes a field edited by hand back (after
    `ops promote` refused to start on the drift) instead of stopping on the field-manager conflict."""
    routing = [key for key, manifest in objects(prod).items()
               if manifest["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("traffic", "api")
               and manifest["kind"] in ("Service", "Ingress", "VirtualService", "DestinationRule", "Gateway")]
    assert {ACTIVE_SVC, CANARY_SVC} <= set(routing) and len(routing) >= 7, routing
    for key in routing:
        assert objects(prod)[key]["metadata"]["annotations"]["pulumi.com/patchForce"] == "true", key


def test_scrape_annotations_have_one_source(monkeypatch, prod):
    """api.SCRAPE_ANNOTATIONS (from METRICS_PORT / METRICS_PATH) is the one copy: both scraped Services and the
    pod templates carry exactly it, and the Service builder reads it (a change there reaches the Services)."""
    assert api.SCRAPE_ANNOTATIONS == {"prometheus.io/scrape": "true", "prometheus.io/port": str(api.METRICS_PORT),
                                      "prometheus.io/path": api.METRICS_PATH}
    rendered = objects(prod)
    for key in (ACTIVE_SVC, CANARY_SVC):
        assert rendered[key]["metadata"]["annotations"] == {**api.SCRAPE_ANNOTATIONS, **base.PATCH_FORCE}, key
    for color in ("blue", "green"):
        template = rendered[f"Deployment/{PROD}/api-deployment-{color}"]["spec"]["template"]
        assert template["metadata"]["annotations"] == api.SCRAPE_ANNOTATIONS, color
    monkeypatch.setitem(api.SCRAPE_ANNOTATIONS, "prometheus.io/port", "9999")
    service = traffic.api_service_manifest("api-service", {"version": "blue"})
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "9999"


def test_issuer_and_class_are_the_platforms(prod):
    """No traffic or router module defines a second ClusterIssuer or IngressClass name: they import the
    platform's, and the rendered Ingresses and Certificate name exactly the ClusterIssuer and class the platform
    installs."""
    import ast

    from components import platform

    modules = [Path(traffic.__file__), *Path(base.__file__).parent.glob("*.py")]
    assert len(modules) >= 4, modules
    for module in modules:
        tree = ast.parse(module.read_text())
        assigned = {target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
        assert not {"CLUSTER_ISSUER", "INGRESS_CLASS"} & assigned, module
    rendered = objects(prod)
    issuer = rendered[f"ClusterIssuer/{platform.CLUSTER_ISSUER}"]
    assert rendered[MAIN_INGRESS]["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == \
        issuer["metadata"]["name"]
    assert rendered[f"Certificate/doc-rag-ingress/{istio.GATEWAY_CERTIFICATE}"]["spec"]["issuerRef"]["name"] == \
        issuer["metadata"]["name"]
    solver_class = issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"]
    for key in (MAIN_INGRESS, CANARY_INGRESS):
        assert rendered[key]["spec"]["ingressClassName"] == solver_class == platform.INGRESS_CLASS, key


def test_nlb_uses_the_cluster_certificate(prod):
    annotations = objects(prod)[NLB]["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"].startswith("arn:aws:")
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"


# The NLB security policies that accept neither TLS 1.0 nor 1.1 (Elastic Load Balancing's TLS listener policies).
TLS12_PLUS_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
}


def test_nlb_listener_accepts_only_tls_1_2_and_later(prod):
    annotations = objects(prod)[NLB]["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"] in TLS12_PLUS_POLICIES


def test_edge_pods_get_the_nlb_readiness_gate_where_the_controller_owns_the_nlb(prod, walk):
    """The controller injects readiness gates into pods of a labelled namespace: the edge proxy's (the NLB
    Service's selector) must be one, or a rolling update removes ip targets before new ones are healthy."""
    rendered = objects(prod)
    nlb = rendered[NLB]
    edge_namespace = nlb["metadata"]["namespace"]
    assert nlb["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    (nginx,) = [r for r in prod.of_type(RELEASE_TYPE) if r.inputs["name"] == "ingress-nginx"]
    assert nginx.inputs["namespace"] == edge_namespace == "doc-rag-ingress"
    namespace_labels = rendered[f"Namespace/{edge_namespace}"]["metadata"]["labels"]
    assert namespace_labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
    labelled = [key for key, o in rendered.items() if key.startswith("Namespace/")
                and "elbv2.k8s.aws/pod-readiness-gate-inject" in o["metadata"].get("labels", {})]
    assert labelled == [f"Namespace/{edge_namespace}"]
    # No AWS Load Balancer Controller (existing mode): nothing would inject or satisfy the gate.
    dev_labels = objects(walk[0])[f"Namespace/{edge_namespace}"]["metadata"]["labels"]
    assert "elbv2.k8s.aws/pod-readiness-gate-inject" not in dev_labels


def test_nlb_without_certificate_passes_tls_through(walk):
    """existing mode has no ACM certificate: 443 is TCP to NGINX, which serves the cert-manager certificate."""
    annotations = objects(walk[0])[NLB]["metadata"]["annotations"]
    assert "service.beta.kubernetes.io/aws-load-balancer-ssl-cert" not in annotations
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-backend-protocol"] == "tcp"


def test_rate_limits_and_mesh_policy_come_from_config():
    rendered = objects(render("traffic.rateLimitRps=250", "traffic.retries=5", "traffic.perTryTimeout=2s",
                              "traffic.faultDelayPercent=0"))
    annotations = rendered[MAIN_INGRESS]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == "250"
    http = rendered[VS]["spec"]["http"][0]
    assert http["retries"] == {"attempts": 5, "perTryTimeout": "2s"}
    assert "fault" not in http  # 0 % fault injection: no fault block at all


DOCS = PROJECT_DIR / "docs" / "traffic.md"


def test_istio_carries_no_public_traffic(prod):
    """The one public load balancer fronts ingress-nginx; the Istio gateway is ClusterIP and the VirtualService
    is bound to it alone, so the docs must not claim public requests get Istio's weights, retries or delay."""
    balancers = [obj for obj in objects(prod).values()
                 if obj["kind"] == "Service" and obj["spec"].get("type") == "LoadBalancer"]
    assert [obj["metadata"]["name"] for obj in balancers] == ["api-service-alb"]
    assert balancers[0]["spec"]["selector"]["app.kubernetes.io/name"] == "ingress-nginx"
    (gateway,) = [r for r in prod.of_type(RELEASE_TYPE) if r.inputs["name"] == "istio-ingressgateway"]
    assert gateway.inputs["values"]["service"]["type"] == "ClusterIP"
    assert objects(prod)[VS]["spec"]["gateways"] == ["doc-rag-gateway"]  # not `mesh`: no sidecar traffic either
    text = DOCS.read_text()
    assert "**No public request passes Istio.**" in text
    assert "the NGINX canary weight, the Istio weights" not in text


def test_istio_objects_wait_for_istio_crds(prod):
    istio_urns = {r.urn for r in prod.resources if r.name in ("istio-base", "istiod")}
    assert istio_urns, "the platform installs Istio in prod"
    for name in ("doc-rag-gateway", "doc-rag-api", "doc-rag-vs"):
        registered = [r for r in prod.resources if r.name == name and r.type.startswith("kubernetes:networking.istio")]
        assert len(registered) == 1
        assert istio_urns <= set(registered[0].depends_on), name


@pytest.mark.parametrize("stack_run", ["prod", "walk"])
def test_all_manifests_pass_strict_schema(prod, walk, stack_run):
    runs = [prod] if stack_run == "prod" else walk
    for run in runs:
        assert schema_errors(run) == []


# -- the edge: NLB -> ingress-nginx, PROXY protocol v2 on both ends or on neither ---------------------------

LB = "service.beta.kubernetes.io"
AWS_NLB_CLASS = "service.k8s.aws/nlb"
EDGE_FIXTURES = FIXTURES / "traffic" / "edge_mismatch.yaml"
# What the AWS Load Balancer Controller documents for the annotations we set (docs/guide/service/annotations.md):
# the type it reconciles, target types, schemes, backend protocols, and "*" as the only proxy-protocol value.
LBC_VALUES = {
    f"{LB}/aws-load-balancer-type": {"external", "nlb-ip"},
    f"{LB}/aws-load-balancer-nlb-target-type": {"ip", "instance"},
    f"{LB}/aws-load-balancer-scheme": {"internal", "internet-facing"},
    f"{LB}/aws-load-balancer-backend-protocol": {"ssl", "tcp"},
    f"{LB}/aws-load-balancer-proxy-protocol": {"*"},
}
LBC_FREE_FORM = {f"{LB}/aws-load-balancer-ssl-cert", f"{LB}/aws-load-balancer-ssl-ports",
                 f"{LB}/aws-load-balancer-ssl-negotiation-policy"}


def edge_problems(nlb: dict[str, Any], nginx_config: Optional[dict[str, str]]) -> list[str]:
    """Why this NLB Service and this ingress-nginx config (None: ingress-nginx not installed by the stack,
    so its default `use-proxy-protocol: false` holds) would not carry traffic, or would not give NGINX the
    client address under the AWS Load Balancer Controller."""
    problems = []
    annotations = nlb["metadata"].get("annotations", {})
    nlb_sends = f"{LB}/aws-load-balancer-proxy-protocol" in annotations
    nginx_expects = (nginx_config or {}).get("use-proxy-protocol", "false") == "true"
    if nlb_sends != nginx_expects:
        problems.append(f"NLB sends PROXY v2: {nlb_sends}, ingress-nginx expects it: {nginx_expects}")
    controller = nlb["spec"].get("loadBalancerClass") == AWS_NLB_CLASS
    if nlb_sends and not controller:
        problems.append("PROXY v2 requested from an NLB the AWS Load Balancer Controller does not own")
    if controller:
        if annotations.get(f"{LB}/aws-load-balancer-nlb-target-type") != "ip":
            problems.append("a loadBalancerClass defaults the target type to instance; ip must be explicit")
        for key, value in annotations.items():
            if key.startswith(f"{LB}/aws-load-balancer-") and key not in LBC_FREE_FORM and \
                    value not in LBC_VALUES.get(key, set()):
                problems.append(f"{key}: {value!r} is not a value the AWS Load Balancer Controller accepts")
    return problems


def _nginx_config(run) -> Optional[dict[str, str]]:
    found = [r for r in run.of_type(RELEASE_TYPE) if r.inputs["name"] == "ingress-nginx"]
    return found[0].inputs["values"]["controller"]["config"] if found else None


def _existing_cluster_with_addons():
    """existing mode applying to a cluster (not rendering), with the cluster-agnostic add-ons installed."""
    config = load_stack_config("dev")
    del config.values["cluster"]["renderYamlTo"]
    config.values["platform"] = {**config.values.get("platform", {}), "enabled": True}  # keeps the ACME contact
    return config


# (case, stack, overrides, existing cluster with add-ons, PROXY v2 on, loadBalancerClass)
EDGE_CASES = [
    ("eks", "prod", (), False, True, AWS_NLB_CLASS),
    ("eks, controller already running", "prod", ("platform.awsLoadBalancerController.install=false",), False,
     True, AWS_NLB_CLASS),
    # Not our ingress-nginx: we cannot switch its side on, so the NLB's side stays off too.
    ("eks, ingress-nginx already running", "prod", ("platform.ingressNginx.install=false",), False, False,
     AWS_NLB_CLASS),
    ("eks, no add-ons", "prod", ("platform.enabled=false",), False, False, AWS_NLB_CLASS),
    ("existing, rendered", "dev", (), False, False, None),
    ("existing, add-ons installed", "dev", (), True, False, None),
]


@pytest.mark.parametrize(("stack", "overrides", "existing_addons", "proxy", "lb_class"),
                         [case[1:] for case in EDGE_CASES], ids=[case[0] for case in EDGE_CASES])
def test_both_ends_of_the_edge_agree(stack, overrides, existing_addons, proxy, lb_class):
    config = _existing_cluster_with_addons() if existing_addons else None
    run = run_program(stack, overrides, preview=True, stack_config=config)
    nlb, nginx = objects(run)[NLB], _nginx_config(run)
    assert edge_problems(nlb, nginx) == []
    assert (nlb["metadata"]["annotations"].get(f"{LB}/aws-load-balancer-proxy-protocol") == "*") is proxy
    if nginx is not None:
        assert nginx == {"use-proxy-protocol": "true" if proxy else "false"}
    assert nlb["spec"].get("loadBalancerClass") == lb_class
    expected_type = "external" if lb_class else "nlb"
    assert nlb["metadata"]["annotations"][f"{LB}/aws-load-balancer-type"] == expected_type
    # Both ends come from the one decision the platform made.
    model = run.config.model()
    edge = edge_load_balancer(model.cluster.mode, model.platform)
    assert (edge.proxy_protocol, edge.load_balancer_class) == (proxy, lb_class)


def test_edge_fixtures_are_rejected():
    """One end switched alone, PROXY v2 without the controller, the deployment plan's in-tree annotations under the
    controller, a missing target type: each is reported."""
    cases = yaml.safe_load(EDGE_FIXTURES.read_text())
    assert len(cases) >= 5
    for case in cases:
        assert edge_problems(case["nlb"], case["nginxConfig"]), case["why"]


def test_the_nlb_follows_ingress_nginx(prod):
    (nginx,) = [r for r in prod.of_type(RELEASE_TYPE) if r.inputs["name"] == "ingress-nginx"]
    (nlb,) = [r for r in prod.resources if r.name == "api-service-alb"]
    assert nginx.urn in nlb.depends_on


def test_the_nlb_follows_the_load_balancer_controller(prod):
    """The controller provisions the NLB and finalizes the Service: created after it, so destroyed before it."""
    (controller,) = [r for r in prod.of_type(RELEASE_TYPE) if r.inputs["name"] == "aws-load-balancer-controller"]
    (nlb,) = [r for r in prod.resources if r.name == "api-service-alb"]
    assert controller.urn in nlb.depends_on
    running = program("prod", ("platform.awsLoadBalancerController.install=false",), preview=True)
    assert not [r for r in running.of_type(RELEASE_TYPE) if r.inputs["name"] == "aws-load-balancer-controller"]
    (nlb,) = [r for r in running.resources if r.name == "api-service-alb"]  # not ours: nothing to wait for
