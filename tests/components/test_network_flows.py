"""Every flow the system needs is allowed by some NetworkPolicy, and nothing else is.

The pods of doc-rag-prod and doc-rag-monitoring come from the rendered manifests; the pods outside them
(ingress controller, Istio gateway, CoreDNS, the API server) carry the labels their charts give them.
Every pod has an address in the cluster's private subnets, as the VPC CNI gives them on EKS, so a rule
meant for an address (an ipBlock) is seen matching pods too. tests/netpol.py evaluates the policies with
Kubernetes' semantics (tested first, on its own).
"""

from __future__ import annotations

from typing import Any

import pytest

from components.platform import ISTIO_GATEWAY_SELECTOR
from ops.manifests import manifests
from ops.runner import RunResult
from tests.chart_labels import PROD_CONTROLLER_LABELS
from tests.conftest import program
from tests.netpol import Endpoint, Evaluator, Flow, namespaces_from_manifests, pods_from_manifests

# -- the evaluator itself ------------------------------------------------------------------------------

A = Endpoint("a", "ns1", {"app": "a"}, named_ports={"http": 8080})
B = Endpoint("b", "ns1", {"app": "b"}, named_ports={"http": 8080})
C = Endpoint("c", "ns2", {"app": "a"})
OUTSIDE = Endpoint("outside", None, ip="192.0.2.10")


def policy(name: str, namespace: str, pods: dict[str, str], *, ingress: Any = None, egress: Any = None,
           types: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": pods} if pods else {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types is not None:
        spec["policyTypes"] = types
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


DENY_ALL = policy("deny", "ns1", {}, types=["Ingress", "Egress"])


def test_no_policy_allows_everything() -> None:
    assert Evaluator([], {}).allowed(Flow(A, B, 1234))


def test_default_deny_denies_both_directions() -> None:
    evaluator = Evaluator([DENY_ALL], {})
    assert not evaluator.allowed(Flow(A, B, 8080))
    assert not evaluator.allowed(Flow(C, A, 8080))  # ingress into ns1
    assert not evaluator.allowed(Flow(A, C, 8080))  # egress out of ns1
    assert evaluator.allowed(Flow(C, C, 8080))  # ns2 is not isolated


def test_both_ends_must_allow() -> None:
    to_b = policy("b-in", "ns1", {"app": "b"}, ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}],
                                                         "ports": [{"port": 8080}]}])
    evaluator = Evaluator([DENY_ALL, to_b], {})
    assert not evaluator.allowed(Flow(A, B, 8080))  # A's egress is still denied
    a_out = policy("a-out", "ns1", {"app": "a"}, egress=[{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}]}],
                   types=["Egress"])
    evaluator = Evaluator([DENY_ALL, to_b, a_out], {})
    assert evaluator.allowed(Flow(A, B, 8080))
    assert not evaluator.allowed(Flow(A, B, 9090))  # port not in the ingress rule
    assert not evaluator.allowed(Flow(A, B, 8080, "UDP"))
    assert evaluator.allowing(Flow(A, B, 8080)) == {"Egress": ["a-out"], "Ingress": ["b-in"]}


def test_pod_selector_alone_means_the_policys_namespace() -> None:
    rule = policy("b-in", "ns1", {"app": "b"}, ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}])
    evaluator = Evaluator([rule], {})
    assert evaluator.allowed(Flow(A, B, 80))
    assert not evaluator.allowed(Flow(C, B, 80))  # same labels, other namespace


def test_namespace_and_pod_selector_in_one_peer_intersect_but_two_peers_add() -> None:
    both = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns2"}},
            "podSelector": {"matchLabels": {"app": "nope"}}}
    evaluator = Evaluator([policy("in", "ns1", {"app": "b"}, ingress=[{"from": [both]}])], {"ns2": {}})
    assert not evaluator.allowed(Flow(C, B, 80))
    split = [{"namespaceSelector": both["namespaceSelector"]}, {"podSelector": both["podSelector"]}]
    evaluator = Evaluator([policy("in", "ns1", {"app": "b"}, ingress=[{"from": split}])], {"ns2": {}})
    assert evaluator.allowed(Flow(C, B, 80))


def test_named_ports_end_ports_ip_blocks_and_expressions() -> None:
    named = policy("in", "ns1", {}, ingress=[{"ports": [{"port": "http"}]}])
    assert Evaluator([named], {}).allowed(Flow(A, B, 8080))
    assert not Evaluator([named], {}).allowed(Flow(A, B, 8081))
    ranged = policy("in", "ns1", {}, ingress=[{"ports": [{"port": 8000, "endPort": 8100}]}])
    assert Evaluator([ranged], {}).allowed(Flow(A, B, 8080))
    to_block = [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.8/29"]}}]
    block = policy("out", "ns1", {}, egress=[{"to": to_block}], types=["Egress"])
    assert not Evaluator([block], {}).allowed(Flow(A, OUTSIDE, 443))  # .10 is in the excepted /29
    block["spec"]["egress"][0]["to"][0]["ipBlock"]["except"] = []
    assert Evaluator([block], {}).allowed(Flow(A, OUTSIDE, 443))
    assert not Evaluator([block], {}).allowed(Flow(A, B, 443))  # an ipBlock never matches our pods here
    expression = policy("in", "ns1", {}, ingress=[{"from": [{"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["a"]}]}}]}])
    assert not Evaluator([expression], {}).allowed(Flow(A, B, 80))
    assert Evaluator([expression], {}).allowed(Flow(B, A, 80))


# -- the rendered policies -----------------------------------------------------------------------------

# Prod's VPC is 10.0.0.0/16: private subnets 10.0.0.0/20, 10.0.16.0/20, 10.0.32.0/20 (nodes, pods and the
# EKS control-plane ENIs), public subnets from 10.0.128.0/20 (the NLB's and the NAT gateways' ENIs).
API_SERVER_IP = "10.0.1.10"  # an EKS control-plane ENI in a private subnet
OUR_POD_ADDRESSES = "10.0.16.{}"  # our pods, numbered in name order (VPC CNI: pods share the node subnets)
EXTERNAL = [
    Endpoint("ingress-nginx-controller", "doc-rag-ingress", dict(PROD_CONTROLLER_LABELS), ip="10.0.32.11",
             named_ports={"http": 80, "https": 443, "metrics": 10254}),
    Endpoint("istio-ingressgateway", "doc-rag-ingress",
             {**ISTIO_GATEWAY_SELECTOR, "app": "istio-ingressgateway"}, ip="10.0.32.12"),
    Endpoint("coredns", "kube-system", {"k8s-app": "kube-dns"}, ip="10.0.0.53"),
    Endpoint("kubernetes-api", None, ip=API_SERVER_IP),
    Endpoint("public-subnet-eni", None, ip="10.0.128.20"),  # e.g. the NLB's node in a public subnet
    Endpoint("internet", None, ip="203.0.113.7"),
    Endpoint("acme-solver", "doc-rag-prod", {"acme.cert-manager.io/http01-solver": "true"}, ip="10.0.16.200"),
    # Pods that try to pass for ours: our labels, someone else's namespace.
    Endpoint("impostor-api", "default", {"app.kubernetes.io/name": "doc-rag", "app.kubernetes.io/component": "api"},
             ip="10.0.0.201"),
    Endpoint("impostor-prometheus", "default", {"app.kubernetes.io/name": "prometheus"}, ip="10.0.0.202"),
    Endpoint("other-pod-in-ingress-ns", "doc-rag-ingress", {"app": "something-else"}, ip="10.0.32.13"),
    # The image scanner's pods (prod installs Trivy Operator), labelled as chart 0.34.0 and operator v0.32.0
    # label them: the operator Deployment's pods, and the pods of the scan Jobs it creates.
    Endpoint("trivy-operator", "doc-rag-security",
             {"app.kubernetes.io/name": "trivy-operator", "app.kubernetes.io/instance": "trivy-operator"},
             ip="10.0.16.240", named_ports={"metrics": 8080, "probes": 9090}),
    Endpoint("trivy-scan-job", "doc-rag-security",
             {"app.kubernetes.io/managed-by": "trivy-operator", "vulnerabilityReport.scanner": "Trivy",
              "resource-spec-hash": "7b9c5d8f4", "controller-uid": "0d1e2f"}, ip="10.0.16.241"),
]
# Pods in namespaces with no ingress isolation (their charts' flows are the platform layer's; see
# docs/security.md): nothing of ours stops a connection to them once the sender's egress allows it.
UNISOLATED_PODS = ("ingress-nginx-controller", "istio-ingressgateway", "coredns", "impostor-api",
                   "impostor-prometheus", "other-pod-in-ingress-ns")

# (source, destination, port, protocol): everything the system needs, nothing more.
ALLOWED = {
    ("ingress-nginx-controller", "api-blue", 8080, "TCP"),
    ("ingress-nginx-controller", "api-green", 8080, "TCP"),
    ("istio-ingressgateway", "api-blue", 8080, "TCP"),
    ("istio-ingressgateway", "api-green", 8080, "TCP"),
    ("prometheus", "api-blue", 9090, "TCP"),
    ("prometheus", "api-green", 9090, "TCP"),
    ("api-blue", "postgres", 5432, "TCP"),
    ("api-green", "postgres", 5432, "TCP"),
    ("api-blue", "redis", 6379, "TCP"),
    ("api-green", "redis", 6379, "TCP"),
    ("api-blue", "coredns", 53, "UDP"), ("api-blue", "coredns", 53, "TCP"),
    ("api-green", "coredns", 53, "UDP"), ("api-green", "coredns", 53, "TCP"),
    ("prometheus", "coredns", 53, "UDP"), ("prometheus", "coredns", 53, "TCP"),
    ("grafana", "coredns", 53, "UDP"), ("grafana", "coredns", 53, "TCP"),
    ("prometheus", "kubernetes-api", 443, "TCP"),
    ("prometheus", "ingress-nginx-controller", 10254, "TCP"),  # the edge SLO's scrape
    ("grafana", "prometheus", 9090, "TCP"),
    ("ingress-nginx-controller", "acme-solver", 8089, "TCP"),
    # Postgres backups (prod: postgres.backup on): WAL and backups to S3 outside the VPC, the jobs' kubectl exec.
    ("postgres", "internet", 443, "TCP"),
    ("postgres", "coredns", 53, "UDP"), ("postgres", "coredns", 53, "TCP"),
    ("backup-full", "kubernetes-api", 443, "TCP"),
    ("backup-diff", "kubernetes-api", 443, "TCP"),
    # The image scanner: scraped by Prometheus; the operator works through the API server; its scan Jobs fetch
    # the vulnerability database and image layers over HTTPS from outside the cluster's network.
    ("prometheus", "trivy-operator", 8080, "TCP"),
    ("trivy-operator", "kubernetes-api", 443, "TCP"),
    ("trivy-scan-job", "coredns", 53, "UDP"), ("trivy-scan-job", "coredns", 53, "TCP"),
    ("trivy-scan-job", "internet", 443, "TCP"),
}
SHORT = {
    "Deployment/doc-rag-prod/api-deployment-blue": "api-blue",
    "Deployment/doc-rag-prod/api-deployment-green": "api-green",
    "StatefulSet/doc-rag-prod/postgres": "postgres",
    "StatefulSet/doc-rag-prod/redis": "redis",
    "StatefulSet/doc-rag-monitoring/prometheus": "prometheus",
    "Deployment/doc-rag-monitoring/grafana": "grafana",
    "Deployment/doc-rag-monitoring/jaeger": "jaeger",
    "CronJob/doc-rag-prod/postgres-backup-full": "backup-full",
    "CronJob/doc-rag-prod/postgres-backup-diff": "backup-diff",
}
# Known and accepted, not needed: Prometheus' egress to the API server is an address rule (the private
# subnets on 443), and pods live in those subnets, so it also lets Prometheus open 443 to any pod whose
# namespace does not isolate ingress: the ingress-nginx controller's HTTPS listener among them. Listed here
# so the walk stays exact; test_known_extra_flows_are_real_and_come_only_from_the_api_server_rule keeps
# the list honest.
# The scanner's operator has the same API server rule, so the same extra flows.
API_SERVER_RULES = {"prometheus": "prometheus-network-policy", "trivy-operator": "trivy-operator-network-policy"}
KNOWN_EXTRA = {(source, pod, 443, "TCP") for source in API_SERVER_RULES for pod in UNISOLATED_PODS}
# The same for the backup jobs' rule to the API server (postgres-backup-jobs).
KNOWN_EXTRA_BACKUP = {(job, pod, 443, "TCP") for job in ("backup-full", "backup-diff") for pod in UNISOLATED_PODS}
UNUSED_PORTS = {(22, "TCP"), (3000, "TCP"), (6443, "TCP"), (8081, "TCP")}
PORTS = sorted({(port, protocol) for *_, port, protocol in ALLOWED} | UNUSED_PORTS)


def endpoints(objects: list[dict[str, Any]]) -> dict[str, Endpoint]:
    ours = {}
    for number, pod in enumerate(sorted(pods_from_manifests(objects), key=lambda pod: pod.name), start=10):
        name = SHORT.get(pod.name, pod.name)
        ours[name] = Endpoint(name, pod.namespace, pod.labels, ip=OUR_POD_ADDRESSES.format(number),
                              named_ports=pod.named_ports)
    return {**ours, **{endpoint.name: endpoint for endpoint in EXTERNAL}}


@pytest.fixture(scope="module")
def prod_objects(prod_run: RunResult) -> list[dict[str, Any]]:
    return manifests(prod_run.resources)


@pytest.fixture(scope="module")
def evaluator(prod_objects: list[dict[str, Any]]) -> Evaluator:
    return Evaluator(prod_objects, namespaces_from_manifests(prod_objects))


def test_every_needed_flow_is_allowed_by_a_named_policy(prod_objects, evaluator: Evaluator) -> None:
    pods = endpoints(prod_objects)
    for source, destination, port, protocol in sorted(ALLOWED):
        flow = Flow(pods[source], pods[destination], port, protocol)
        assert evaluator.allowed(flow), f"needed flow denied: {flow} ({evaluator.allowing(flow)})"


GOVERNED = ("doc-rag-prod", "doc-rag-monitoring", "doc-rag-security")  # the default-deny namespaces


def unexpected_flows(pods: dict[str, Endpoint], evaluator: Evaluator, allowed: set[tuple[str, str, int, str]],
                     ports: list[tuple[int, str]]) -> list[str]:
    """Every flow between two endpoints, on each of `ports`, that the policies allow but `allowed` does not list."""
    unexpected = []
    for source in pods.values():
        for destination in pods.values():
            if source is destination:
                continue
            if source.namespace not in GOVERNED and destination.namespace not in GOVERNED:
                continue  # neither end is governed by our policies
            for port, protocol in ports:
                flow = Flow(source, destination, port, protocol)
                if evaluator.allowed(flow) and (source.name, destination.name, port, protocol) not in allowed:
                    unexpected.append(f"{flow} via {evaluator.allowing(flow)}")
    return unexpected


def test_nothing_else_is_allowed_between_any_two_endpoints(prod_objects, evaluator: Evaluator) -> None:
    """All pairs, on every port any flow uses plus a few nobody should: the allowed set is exact."""
    pods = endpoints(prod_objects)
    assert set(SHORT.values()) - {"jaeger"} <= set(pods), "a workload disappeared from the render"
    assert all(pod.ip for pod in pods.values()), "an endpoint without an address hides ipBlock matches"
    assert unexpected_flows(pods, evaluator, ALLOWED | KNOWN_EXTRA | KNOWN_EXTRA_BACKUP, PORTS) == []


def test_known_extra_flows_are_real_and_come_only_from_the_api_server_rule(prod_objects, evaluator) -> None:
    """Each listed extra flow is allowed (the list is not stale), only by its source's API server address rule,
    and only because the destination's namespace has no ingress policy: none of our pods is reachable that way."""
    pods = endpoints(prod_objects)
    for source, destination, port, protocol in sorted(KNOWN_EXTRA):
        flow = Flow(pods[source], pods[destination], port, protocol)
        assert evaluator.allowing(flow) == {"Egress": [API_SERVER_RULES[source]], "Ingress": []}, flow
        assert evaluator.isolated(pods[destination])["Ingress"] is False
        # Without an address the walk would not see it (the blind spot the addresses close).
        blind = Endpoint(destination, pods[destination].namespace, pods[destination].labels)
        assert not evaluator.allowed(Flow(pods[source], blind, port, protocol))
    for ours in set(SHORT.values()) - {"jaeger"}:
        for source in API_SERVER_RULES:
            assert not evaluator.allowed(Flow(pods[source], pods[ours], 443)), (source, ours)
    for source, destination, port, protocol in sorted(KNOWN_EXTRA_BACKUP):
        flow = Flow(pods[source], pods[destination], port, protocol)
        assert evaluator.allowing(flow) == {"Egress": ["postgres-backup-jobs"], "Ingress": []}, flow
        assert evaluator.isolated(pods[destination])["Ingress"] is False


def test_postgres_reaches_port_443_only_outside_the_vpc(prod_objects, evaluator: Evaluator) -> None:
    """S3 and STS have no address a NetworkPolicy can name: 443 anywhere but the VPC (docs/security.md)."""
    pods = endpoints(prod_objects)
    assert evaluator.allowed(Flow(pods["postgres"], pods["internet"], 443))
    assert not evaluator.allowed(Flow(pods["postgres"], pods["public-subnet-eni"], 443))
    assert not evaluator.allowed(Flow(pods["postgres"], pods["kubernetes-api"], 443))
    assert not evaluator.allowed(Flow(pods["postgres"], pods["internet"], 80))


def test_prometheus_reaches_the_api_server_only_through_the_cluster_subnets(prod_objects, prod_run) -> None:
    """eks: the ipBlocks are exactly the subnets the EKS cluster (and so its control-plane ENIs) is given."""
    subnets = {r.name: r.inputs["cidrBlock"] for r in prod_run.resources if r.type == "aws:ec2/subnet:Subnet"}
    cluster = next(r for r in prod_run.resources if r.type == "aws:eks/cluster:Cluster")
    cluster_cidrs = sorted(subnets[subnet_id.removesuffix("-id")] for subnet_id in cluster.inputs["vpcConfig"][
        "subnetIds"])
    policy = next(o for o in prod_objects if o["kind"] == "NetworkPolicy"
                  and o["metadata"]["name"] == "prometheus-network-policy")
    blocks = sorted(peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule["to"]
                    if "ipBlock" in peer)
    assert blocks == cluster_cidrs == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]


@pytest.mark.parametrize("source, destination, port", [
    ("redis", "postgres", 5432),
    ("postgres", "redis", 6379),
    ("api-blue", "api-green", 5432),
    ("api-blue", "api-green", 8080),
    ("impostor-api", "postgres", 5432),
    ("impostor-prometheus", "api-blue", 9090),
    ("other-pod-in-ingress-ns", "api-blue", 8080),
    ("ingress-nginx-controller", "postgres", 5432),
    ("api-blue", "internet", 443),
    ("redis", "coredns", 53),
    ("grafana", "api-blue", 9090),
    ("prometheus", "internet", 443),
    ("prometheus", "public-subnet-eni", 443),  # the API server's ENIs are in the private subnets only
    ("prometheus", "api-blue", 443),  # the API server rule meets the API pods' own ingress policy
    ("grafana", "trivy-operator", 8080),
    ("impostor-prometheus", "trivy-operator", 8080),
    ("trivy-operator", "internet", 443),  # the operator downloads nothing (embedded checks)
    ("trivy-operator", "coredns", 53),
    ("trivy-scan-job", "kubernetes-api", 443),  # the VPC is excepted from its HTTPS rule...
    ("trivy-scan-job", "ingress-nginx-controller", 443),  # ...so no pod of the cluster is reachable on 443
    ("trivy-scan-job", "public-subnet-eni", 443),
    ("trivy-scan-job", "internet", 80),
    ("trivy-scan-job", "trivy-operator", 8080),
    ("trivy-operator", "trivy-scan-job", 443),
])
def test_flows_not_listed_are_denied(prod_objects, evaluator: Evaluator, source: str, destination: str,
                                     port: int) -> None:
    pods = endpoints(prod_objects)
    assert not evaluator.allowed(Flow(pods[source], pods[destination], port))


def test_every_pod_we_run_is_isolated_both_ways(prod_objects, evaluator: Evaluator,
                                                jaeger_objects, jaeger_evaluator: Evaluator) -> None:
    for objects, judge in ((prod_objects, evaluator), (jaeger_objects, jaeger_evaluator)):
        for pod in pods_from_manifests(objects):
            assert judge.isolated(pod) == {"Ingress": True, "Egress": True}, pod.name


def test_namespaces_are_selected_by_the_immutable_name_label(prod_objects) -> None:
    for obj in prod_objects:
        if obj["kind"] != "NetworkPolicy":
            continue
        spec = obj["spec"]
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if peer.get("namespaceSelector"):  # {} (every namespace) depends on no label
                    assert set(peer["namespaceSelector"]["matchLabels"]) == {"kubernetes.io/metadata.name"}


INSTANCE_METADATA = Endpoint("instance-metadata", None, ip="169.254.169.254")
EDGE_PODS = ("ingress-nginx-controller", "istio-ingressgateway", "other-pod-in-ingress-ns")


def test_no_pod_of_ours_nor_of_the_edge_reaches_the_instance_metadata_service(prod_objects, alerting_objects) -> None:
    """Nodes answer IMDS two hops away (for the EBS CSI node plugin): what keeps the node role's credentials
    from our pods and the internet-facing edge is NetworkPolicy, with an Alertmanager on port 80 too."""
    for objects in (prod_objects, alerting_objects):
        judge = Evaluator(objects, namespaces_from_manifests(objects))
        pods = endpoints(objects)
        sources = [name for name, pod in pods.items() if pod.ip.startswith("10.0.16.")] + list(EDGE_PODS)
        assert len(sources) > len(EDGE_PODS)
        for name in sources:
            for port in (80, ALERTMANAGER_PORT):
                assert not judge.allowed(Flow(pods[name], INSTANCE_METADATA, port)), (name, port)
        # The guard takes nothing else from the edge: it still reaches the API pods and the internet.
        assert judge.allowed(Flow(pods["ingress-nginx-controller"], pods["api-blue"], 8080))
        assert judge.allowed(Flow(pods["istio-ingressgateway"], pods["internet"], 443))


def test_prometheus_scrapes_the_ingress_controller_and_nothing_else_there(prod_objects, evaluator) -> None:
    pods = endpoints(prod_objects)
    assert evaluator.allowing(Flow(pods["prometheus"], pods["ingress-nginx-controller"], 10254)) == {
        "Egress": ["prometheus-network-policy"], "Ingress": []}  # doc-rag-ingress isolates nothing
    for other in ("istio-ingressgateway", "other-pod-in-ingress-ns", "impostor-api"):
        assert not evaluator.allowed(Flow(pods["prometheus"], pods[other], 10254)), other
    assert not evaluator.allowed(Flow(pods["grafana"], pods["ingress-nginx-controller"], 10254))


ALERTMANAGER_PORT = 9093


@pytest.fixture(scope="module")
def alerting_objects() -> list[dict[str, Any]]:
    url = f"http://alertmanager.alerting.svc:{ALERTMANAGER_PORT}"
    return manifests(program("prod", [f"observability.alertmanagerUrl={url}"]).resources)


def test_with_an_alertmanager_prometheus_may_open_its_port_anywhere_and_only_that(alerting_objects) -> None:
    """The Alertmanager's address is a name: its port on any address is the one addition (docs/security.md)."""
    evaluator = Evaluator(alerting_objects, namespaces_from_manifests(alerting_objects))
    pods = endpoints(alerting_objects)
    port = (ALERTMANAGER_PORT, "TCP")
    extra = {("prometheus", name, ALERTMANAGER_PORT, "TCP") for name, pod in pods.items()
             if name != "prometheus" and not (pod.namespace and evaluator.isolated(pod)["Ingress"])}
    assert ("prometheus", "internet", ALERTMANAGER_PORT, "TCP") in extra
    assert unexpected_flows(pods, evaluator, ALLOWED | KNOWN_EXTRA | KNOWN_EXTRA_BACKUP | extra,
                            sorted({*PORTS, port})) == []
    flow = Flow(pods["prometheus"], pods["internet"], ALERTMANAGER_PORT)
    assert evaluator.allowing(flow) == {"Egress": ["prometheus-alertmanager-egress"], "Ingress": []}
    assert not evaluator.allowed(Flow(pods["prometheus"], pods["internet"], ALERTMANAGER_PORT + 1))
    assert not evaluator.allowed(Flow(pods["prometheus"], pods["api-blue"], ALERTMANAGER_PORT))


def test_without_an_alertmanager_prometheus_cannot_reach_one(prod_objects, evaluator) -> None:
    pods = endpoints(prod_objects)
    assert not evaluator.allowed(Flow(pods["prometheus"], pods["internet"], ALERTMANAGER_PORT))


def test_existing_cluster_lets_prometheus_reach_any_api_server_address_on_api_ports_only(dev_run: RunResult) -> None:
    objects = manifests(dev_run.resources)
    evaluator = Evaluator(objects, namespaces_from_manifests(objects))
    pods = endpoints(objects)
    api_server = Endpoint("kubernetes-api", None, ip="198.51.100.20")
    assert evaluator.allowed(Flow(pods["prometheus"], api_server, 6443))
    assert not evaluator.allowed(Flow(pods["prometheus"], api_server, 80))


# -- the optional Jaeger (observability.jaeger: true) ----------------------------------------------------

# The API pods send OTLP to Jaeger's collector; nothing else reaches Jaeger, and Jaeger reaches nothing.
OTLP_PORTS = (4317, 4318)  # gRPC, HTTP
JAEGER_ALLOWED = ALLOWED | KNOWN_EXTRA | KNOWN_EXTRA_BACKUP | {
    (api, "jaeger", port, "TCP") for api in ("api-blue", "api-green") for port in OTLP_PORTS}
JAEGER_PORTS = sorted(set(PORTS) | {(port, "TCP") for port in OTLP_PORTS} | {(16686, "TCP"), (14269, "TCP")})
# Where Jaeger's pod would run, labelled as components/observability.py labels it (for the render without it).
JAEGER_AS_LABELLED = Endpoint("jaeger", "doc-rag-monitoring",
                              {"app.kubernetes.io/name": "jaeger", "app.kubernetes.io/component": "tracing"})


@pytest.fixture(scope="module")
def jaeger_objects() -> list[dict[str, Any]]:
    return manifests(program("prod", ["observability.jaeger=true"]).resources)


@pytest.fixture(scope="module")
def jaeger_evaluator(jaeger_objects: list[dict[str, Any]]) -> Evaluator:
    return Evaluator(jaeger_objects, namespaces_from_manifests(jaeger_objects))


def test_with_jaeger_the_api_reaches_its_collector_and_nothing_else_changes(jaeger_objects,
                                                                            jaeger_evaluator: Evaluator) -> None:
    pods = endpoints(jaeger_objects)
    assert set(SHORT.values()) <= set(pods), "a workload disappeared from the render"
    for source, destination, port, protocol in sorted(JAEGER_ALLOWED):
        flow = Flow(pods[source], pods[destination], port, protocol)
        assert jaeger_evaluator.allowed(flow), f"needed flow denied: {flow} ({jaeger_evaluator.allowing(flow)})"
    assert jaeger_evaluator.allowing(Flow(pods["api-green"], pods["jaeger"], 4317)) == {
        "Egress": ["api-otlp-egress"], "Ingress": ["jaeger-network-policy"]}
    assert unexpected_flows(pods, jaeger_evaluator, JAEGER_ALLOWED, JAEGER_PORTS) == []


@pytest.mark.parametrize("source, port", [
    ("postgres", 4317), ("postgres", 4318), ("redis", 4317), ("redis", 4318),
    ("prometheus", 4317), ("grafana", 4318),
    ("impostor-api", 4317),  # API labels in another namespace
    ("api-blue", 16686), ("api-blue", 14269),  # the UI and admin ports: port-forward only
    ("ingress-nginx-controller", 16686), ("grafana", 16686),
])
def test_with_jaeger_nothing_else_reaches_it(jaeger_objects, jaeger_evaluator: Evaluator, source: str,
                                            port: int) -> None:
    pods = endpoints(jaeger_objects)
    flow = Flow(pods[source], pods["jaeger"], port)
    assert not jaeger_evaluator.allowed(flow)
    # Jaeger's own policy refuses it, not only the sender's egress (Postgres and Redis have none at all).
    assert jaeger_evaluator.allowing(flow)["Ingress"] == []


@pytest.mark.parametrize("destination, port", [("coredns", 53), ("internet", 443), ("api-blue", 8080)])
def test_with_jaeger_it_reaches_nothing(jaeger_objects, jaeger_evaluator: Evaluator, destination: str,
                                        port: int) -> None:
    pods = endpoints(jaeger_objects)
    assert not jaeger_evaluator.allowed(Flow(pods["jaeger"], pods[destination], port, "UDP" if port == 53 else "TCP"))


def test_without_jaeger_no_otlp_egress_exists(prod_objects, evaluator: Evaluator) -> None:
    pods = endpoints(prod_objects)
    assert "jaeger" not in pods
    for api in ("api-blue", "api-green"):
        for port in OTLP_PORTS:
            flow = Flow(pods[api], JAEGER_AS_LABELLED, port)
            assert evaluator.allowing(flow)["Egress"] == [] and not evaluator.allowed(flow)
    names = {o["metadata"]["name"] for o in prod_objects if o["kind"] == "NetworkPolicy"}
    assert not names & {"api-otlp-egress", "jaeger-network-policy"}
    ports = {port.get("port") for o in prod_objects if o["kind"] == "NetworkPolicy"
             for rule in o["spec"].get("ingress", []) + o["spec"].get("egress", []) for port in rule.get("ports", [])}
    assert not ports & set(OTLP_PORTS)


def test_the_label_jaeger_is_expected_under_is_the_one_it_gets(jaeger_objects) -> None:
    """JAEGER_AS_LABELLED above stands for the pod when it is not rendered: it must match the real one."""
    jaeger = next(pod for pod in pods_from_manifests(jaeger_objects) if pod.name.endswith("/jaeger"))
    assert JAEGER_AS_LABELLED.labels.items() <= jaeger.labels.items()
