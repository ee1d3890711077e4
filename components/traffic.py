"""Traffic: the one weight knob (`release.canaryWeight`) driving every router consistently.

- `api-service` selects `version: <activeColor>`, `api-service-canary` the other colour.
- NGINX: main Ingress `doc-rag-ingress` -> api-service; canary Ingress `api-ingress` -> api-service-canary
  with `canary-weight: w`. Both are built from ONE route definition (ingress-nginx silently ignores a
  canary whose host/path/pathType differ from the main Ingress).
- Istio: Gateway `doc-rag-gateway`, DestinationRule subsets blue/green by `version`, VirtualService
  `doc-rag-vs` with weights listed in fixed colour order (blue, green): at weight 100 and after the flip
  the Istio objects are identical, so a flip only moves Service selectors and the NGINX weight.
  They carry NO public traffic: the Istio ingress gateway has a ClusterIP Service and the public NLB fronts
  ingress-nginx, so the VirtualService's weights, retries and fault delay apply only to in-cluster clients
  of the gateway. Kept (the seed specifies them) in step with the one knob, ready for the edge to move to
  Istio when ingress-nginx (retired upstream) is replaced; docs/traffic.md "Istio: in-cluster gateway only".
- Edge: NLB Service `api-service-alb` in doc-rag-ingress in front of the ingress-nginx controller. The
  seed's NLB selected the API pods directly, which would bypass every canary weight. On eks the AWS Load
  Balancer Controller owns it (loadBalancerClass) and it speaks PROXY v2 to ingress-nginx, both as decided by
  components/platform.py's EdgeLoadBalancer, which also sets ingress-nginx's side.

The `*_manifest` builders are pure (plain dicts shaped like the rendered objects), so components/preflight.py
checks exactly what gets registered, before anything is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.api import HTTP_PORT, METRICS_PORT, SCRAPE_ANNOTATIONS, Routing, pod_selector
from components.config import COLORS, DocRagConfig, ReleaseConfig
from components.meta import NS_PROD, child, labels
from components.platform import CLUSTER_ISSUER, INGRESS_CLASS, EdgeLoadBalancer, Platform  # no copies

ACTIVE_SERVICE = "api-service"
CANARY_SERVICE = "api-service-canary"
# Istio subsets filter the endpoints of ONE host, so that host must select both colours; api-service
# selects only the active colour and would leave the canary subset without endpoints.
MESH_SERVICE = "api-service-mesh"
MAIN_INGRESS = "doc-rag-ingress"
CANARY_INGRESS = "api-ingress"
NLB_SERVICE = "api-service-alb"
GATEWAY = "doc-rag-gateway"
DESTINATION_RULE = "doc-rag-api"
VIRTUAL_SERVICE = "doc-rag-vs"
GATEWAY_CERTIFICATE = "doc-rag-gateway-tls"
TLS_SECRET = "doc-rag-tls"
MESH_PREFIX = "/api/"  # the seed's VirtualService match
# networking.istio.io/v1: GA and served since Istio 1.22 (the platform pins 1.24); v1beta1 is the same
# schema kept for compatibility, so new objects use the stable version.
ISTIO_API = "networking.istio.io/v1"
CERT_MANAGER_API = "cert-manager.io/v1"
NGINX = "nginx.ingress.kubernetes.io"
AWS_LB = "service.beta.kubernetes.io"
# The controller pods of ingress-nginx (components/platform.py passes its own, more specific selector).


@dataclass(frozen=True)
class Route:
    """The one public route both Ingresses serve."""

    host: str
    path: str = "/"
    path_type: str = "Prefix"


@dataclass(frozen=True)
class TrafficState:
    active: str
    canary: str
    weight: int  # share of traffic to the canary colour

    @property
    def weights(self) -> dict[str, int]:
        """Per colour, always in COLORS order and summing to 100."""
        return {color: self.weight if color == self.canary else 100 - self.weight for color in COLORS}

    @property
    def receiving(self) -> list[str]:
        return [color for color, share in self.weights.items() if share > 0]


def main_route(config: DocRagConfig) -> Route:
    return Route(host=config.domain)


def traffic_state(release: ReleaseConfig) -> TrafficState:
    return TrafficState(release.activeColor, release.canary_color, release.canaryWeight)


def service_update_order(state: TrafficState) -> tuple[list[str], list[str]]:
    """(Services updated before the canary weight, Services updated after it).

    A flip swaps both Service selectors; between the two updates both Services select ONE colour, which then
    gets every request. A Service whose colour receives traffic in the target state goes first: that colour
    serves (preflight), so the in-between state routes only to it. A Service whose colour receives none (the
    canary at weight 0, the active colour at 100, possibly retired) changes only after the weight moved
    away from it. The flip from 100 is then api-service, weight 100 -> 0, api-service-canary; undoing it
    (back to weight 100) runs the other way round."""
    shares = {ACTIVE_SERVICE: 100 - state.weight, CANARY_SERVICE: state.weight}
    return ([name for name, share in shares.items() if share > 0],
            [name for name, share in shares.items() if share == 0])


# The stack owns every routing field: an `up` takes back a weight or selector edited by hand (server-side
# apply would stop on the field-manager conflict instead), after `ops promote` refused to start while the
# live objects differed from the stack (ops/live_drift.py).
PATCH_FORCE = {"pulumi.com/patchForce": "true"}


def _metadata(name: str, namespace: str = NS_PROD, annotations: Optional[dict[str, Any]] = None,
              component: str = "traffic") -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(component),
            "annotations": {**(annotations or {}), **PATCH_FORCE}}


def api_service_manifest(name: str, selector: dict[str, str], scrape: bool = True) -> dict[str, Any]:
    # The seed's Prometheus job discovers endpoints through these Service annotations (one copy, api.py).
    annotations = dict(SCRAPE_ANNOTATIONS) if scrape else None
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _metadata(name, annotations=annotations, component="api"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def service_manifests(release: ReleaseConfig) -> list[dict[str, Any]]:
    state = traffic_state(release)
    both = {key: value for key, value in pod_selector(state.active).items() if key != "version"}
    return [
        api_service_manifest(ACTIVE_SERVICE, pod_selector(state.active)),
        api_service_manifest(CANARY_SERVICE, pod_selector(state.canary)),
        # Not scraped: its endpoints are the same pods as the two above.
        api_service_manifest(MESH_SERVICE, both, scrape=False),
    ]


def _ingress_rule(route: Route, service: str) -> dict[str, Any]:
    return {
        "host": route.host,
        "http": {"paths": [{
            "path": route.path, "pathType": route.path_type,
            "backend": {"service": {"name": service, "port": {"number": HTTP_PORT}}},
        }]},
    }


def _tls(route: Route) -> list[dict[str, Any]]:
    return [{"hosts": [route.host], "secretName": TLS_SECRET}]


def main_ingress_manifest(config: DocRagConfig, route: Route) -> dict[str, Any]:
    annotations = {
        f"{NGINX}/ssl-redirect": "true",
        f"{NGINX}/force-ssl-redirect": "true",
        f"{NGINX}/backend-protocol": "HTTP",
        # ingress-nginx's names (the deployment plan's `rate-limit-*` are not read by any release).
        f"{NGINX}/limit-rps": str(config.traffic.rateLimitRps),
        f"{NGINX}/limit-connections": str(config.traffic.rateLimitConnections),
        "cert-manager.io/cluster-issuer": CLUSTER_ISSUER,
    }
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": _metadata(MAIN_INGRESS, annotations=annotations),
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": _tls(route),
            "rules": [_ingress_rule(route, ACTIVE_SERVICE)],
        },
    }


def canary_ingress_manifest(config: DocRagConfig, route: Route) -> dict[str, Any]:
    # ingress-nginx applies the main Ingress' non-canary annotations to the canary; the same TLS block is
    # repeated so no Ingress is ever plain HTTP (policy), without a cert-manager annotation (one Certificate).
    annotations = {f"{NGINX}/canary": "true", f"{NGINX}/canary-weight": str(config.release.canaryWeight)}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": _metadata(CANARY_INGRESS, annotations=annotations),
        "spec": {"ingressClassName": INGRESS_CLASS, "tls": _tls(route),
                 "rules": [_ingress_rule(route, CANARY_SERVICE)]},
    }


def gateway_manifest(config: DocRagConfig, gateway_selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": ISTIO_API, "kind": "Gateway",
        "metadata": _metadata(GATEWAY),
        "spec": {
            "selector": gateway_selector,
            "servers": [{
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "tls": {"mode": "SIMPLE", "credentialName": TLS_SECRET},
                "hosts": [config.domain],
            }],
        },
    }


def destination_rule_manifest() -> dict[str, Any]:
    return {
        "apiVersion": ISTIO_API, "kind": "DestinationRule",
        "metadata": _metadata(DESTINATION_RULE),
        "spec": {
            "host": MESH_SERVICE,
            "subsets": [{"name": color, "labels": {"version": color}} for color in COLORS],
        },
    }


def virtual_service_manifest(config: DocRagConfig) -> dict[str, Any]:
    # Bound to the gateway only (not `mesh`): retries and fault delay act on in-cluster gateway clients, never
    # on public requests, which NGINX routes.
    traffic = config.traffic
    route: dict[str, Any] = {
        "match": [{"uri": {"prefix": MESH_PREFIX}}],
        "route": [
            {"destination": {"host": MESH_SERVICE, "subset": color, "port": {"number": HTTP_PORT}}, "weight": share}
            for color, share in traffic_state(config.release).weights.items()
        ],
        "retries": {"attempts": traffic.retries, "perTryTimeout": traffic.perTryTimeout},
    }
    if traffic.faultDelayPercent > 0:
        route["fault"] = {"delay": {"percentage": {"value": traffic.faultDelayPercent},
                                    "fixedDelay": traffic.faultDelay}}
    return {
        "apiVersion": ISTIO_API, "kind": "VirtualService",
        "metadata": _metadata(VIRTUAL_SERVICE),
        "spec": {"hosts": [config.domain], "gateways": [GATEWAY], "http": [route]},
    }


def gateway_certificate_manifest(config: DocRagConfig, namespace: str) -> dict[str, Any]:
    """The Istio gateway reads credentialName from its own namespace; cert-manager issues doc-rag-tls
    there too (the Ingress' copy lives in doc-rag-prod)."""
    return {
        "apiVersion": CERT_MANAGER_API, "kind": "Certificate",
        "metadata": _metadata(GATEWAY_CERTIFICATE, namespace=namespace),
        "spec": {
            "secretName": TLS_SECRET,
            "dnsNames": [config.domain],
            "issuerRef": {"kind": "ClusterIssuer", "name": CLUSTER_ISSUER, "group": "cert-manager.io"},
        },
    }


PROXY_PROTOCOL_ANNOTATION = f"{AWS_LB}/aws-load-balancer-proxy-protocol"
# TLS 1.3 and 1.2 only on the NLB's listener; the controller's default (ELBSecurityPolicy-2016-08) still
# accepts TLS 1.0 and 1.1.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# Changing who owns the NLB cannot be done in place: the API server refuses to set or change
# spec.loadBalancerClass on an existing Service, and the controller docs warn that changing the type
# annotation leaks the old load balancer. Such a change deletes the Service (its controller removes its
# NLB) and creates it again.
NLB_REPLACE_ON_CHANGES = ["spec.loadBalancerClass", f'metadata.annotations["{AWS_LB}/aws-load-balancer-type"]']


def nlb_annotations(certificate_arn: Optional[pulumi.Input[str]],
                    edge: EdgeLoadBalancer) -> dict[str, pulumi.Input[str]]:
    """The seed's AWS annotations. With an ACM certificate the NLB terminates TLS on 443 and re-encrypts
    to the controller's https port (`ssl`: the seed's `http` is not an NLB backend protocol, and plain
    HTTP behind 443 would make force-ssl-redirect loop). Without one, 443 passes TLS through to NGINX,
    which serves the cert-manager certificate.

    With a loadBalancerClass (eks) the AWS Load Balancer Controller reads them: `external` is its documented
    type (the seed's `nlb` selects the in-tree controller, which ignores a Service with a class anyway), and
    the target type must be explicit because a class defaults it to `instance`."""
    controller = edge.load_balancer_class is not None
    annotations: dict[str, pulumi.Input[str]] = {
        f"{AWS_LB}/aws-load-balancer-type": "external" if controller else "nlb",
        f"{AWS_LB}/aws-load-balancer-scheme": "internet-facing",
        f"{AWS_LB}/aws-load-balancer-nlb-target-type": "ip",
        f"{AWS_LB}/aws-load-balancer-backend-protocol": "ssl" if certificate_arn is not None else "tcp",
    }
    if certificate_arn is not None:
        annotations[f"{AWS_LB}/aws-load-balancer-ssl-cert"] = certificate_arn
        annotations[f"{AWS_LB}/aws-load-balancer-ssl-ports"] = "443"
        annotations[f"{AWS_LB}/aws-load-balancer-ssl-negotiation-policy"] = TLS_POLICY
    if edge.proxy_protocol:
        # "*" (the only value the controller accepts): PROXY v2 on every target group, 443 and 80 alike,
        # as ingress-nginx' use-proxy-protocol expects it on every listener.
        annotations[PROXY_PROTOCOL_ANNOTATION] = "*"
    return annotations


def nlb_service_spec(edge_selector: dict[str, str], edge: EdgeLoadBalancer) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": edge_selector,
        "ports": [
            {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"},
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        ],
    }
    if edge.load_balancer_class is not None:
        spec["loadBalancerClass"] = edge.load_balancer_class
    return spec


@dataclass
class TrafficArgs:
    config: DocRagConfig
    namespaces: Mapping[str, pulumi.Resource]  # components/namespaces.py by_name
    # The live colours' Deployments (Api.serving): no router points at a colour before its rollout is done.
    serving: Sequence[pulumi.Resource]
    certificate_arn: Optional[pulumi.Input[str]]  # Cluster.certificate_arn (eks mode)
    # Where the edge proxy and the Istio gateway run, how the NLB reaches them (Platform.edge: owner, PROXY v2),
    # and the add-on releases each router must wait for (istio_ready, cert_manager_ready, ingress_ready,
    # load_balancer_ready).
    platform: Platform


def deferred_routers() -> tuple[pulumi.Output[Routing], Callable[[pulumi.Output[Routing]], None]]:
    """(Traffic.routing before the traffic layer exists, for ApiArgs.retire_after; the function supplying it).
    Supplied with the exception instead when Traffic failed, so a retirement fails naming it (api.py)."""
    return pulumi.deferred_output()


class Traffic(pulumi.ComponentResource):
    def __init__(self, name: str, args: TrafficArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:traffic:Traffic", name, None, opts)
        config = args.config
        prod = args.namespaces[NS_PROD]
        route = main_route(config)
        self.state = traffic_state(config.release)

        # Update order (docs/traffic.md "Update order"): the Services whose colour receives traffic in the target
        # state, then the canary weight, then the Services that receive none; so every state in between sends
        # traffic only to colours that serve. The main Ingress follows its Service.
        ahead, behind = service_update_order(self.state)
        manifests = {m["metadata"]["name"]: m for m in service_manifests(config.release)}
        platform = args.platform
        serving, edge_ready = [prod, *args.serving], [*platform.ingress_ready, *platform.cert_manager_ready]
        self.services: dict[str, pulumi.CustomResource] = {
            MESH_SERVICE: self._object(manifests[MESH_SERVICE], *serving)}

        def main_ingress() -> pulumi.CustomResource:
            return self._object(main_ingress_manifest(config, route), prod, self.services[ACTIVE_SERVICE],
                                *edge_ready)

        for name in ahead:
            self.services[name] = self._object(manifests[name], *serving)
        # After the main Ingress when its Service goes ahead (ingress-nginx ignores a canary without a main
        # Ingress for its host); at weight 100 the main Ingress comes last, and a lone canary routes nothing.
        main_first = [main_ingress()] if ACTIVE_SERVICE in ahead else []
        self.canary_ingress = self._object(canary_ingress_manifest(config, route), prod, *main_first,
                                           *(self.services[name] for name in ahead), *edge_ready)
        for name in behind:
            self.services[name] = self._object(manifests[name], *serving, self.canary_ingress)
        self.main_ingress = main_first[0] if main_first else main_ingress()

        edge_namespace = args.namespaces[platform.ingress_namespace]
        nlb_metadata: Any = {**_metadata(NLB_SERVICE, namespace=platform.ingress_namespace, component="edge"),
                             "annotations": nlb_annotations(args.certificate_arn, platform.edge)}
        nlb_spec: Any = nlb_service_spec(platform.ingress_controller_selector, platform.edge)
        self.nlb = k8s.core.v1.Service(
            NLB_SERVICE,
            metadata=nlb_metadata,
            spec=nlb_spec,
            # After ingress-nginx: with PROXY v2 the NLB must not send to a controller not yet expecting it.
            # After the AWS Load Balancer Controller: it provisions the NLB and puts a finalizer on this Service,
            # so on destroy the Service is deleted first, while the controller is still there to remove both.
            opts=child(self, depends_on=[edge_namespace, *platform.ingress_ready, *platform.load_balancer_ready],
                       replace_on_changes=NLB_REPLACE_ON_CHANGES, delete_before_replace=True),
        )

        mesh = [prod, *platform.istio_ready]
        self.certificate = self._custom(gateway_certificate_manifest(config, platform.istio_gateway_namespace),
                                        args.namespaces[platform.istio_gateway_namespace],
                                        *platform.cert_manager_ready)
        self.gateway = self._custom(gateway_manifest(config, platform.istio_gateway_selector), *mesh)
        self.destination_rule = self._custom(destination_rule_manifest(), *mesh, self.services[MESH_SERVICE])
        self.virtual_service = self._custom(virtual_service_manifest(config), *mesh, self.gateway,
                                            self.destination_rule)
        # Every object that can send a request to a colour: a colour being retired scales to 0 only after
        # all of them moved away from it (components/api.py).
        self.routing: list[pulumi.Resource] = [*self.services.values(), self.main_ingress, self.canary_ingress,
                                               self.destination_rule, self.virtual_service]
        self.outputs = {
            "activeColor": self.state.active,
            "canaryColor": self.state.canary,
            "canaryWeight": self.state.weight,
            "weights": self.state.weights,
            "host": route.host,
        }
        self.register_outputs(self.outputs)

    def _object(self, manifest: dict[str, Any], *after: pulumi.Resource) -> pulumi.CustomResource:
        kinds: dict[str, Any] = {"Service": k8s.core.v1.Service, "Ingress": k8s.networking.v1.Ingress}
        resource: pulumi.CustomResource = kinds[manifest["kind"]](
            manifest["metadata"]["name"], metadata=manifest["metadata"], spec=manifest["spec"],
            opts=child(self, depends_on=list(after)),
        )
        return resource

    def _custom(self, manifest: dict[str, Any], *after: pulumi.Resource) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            manifest["metadata"]["name"], api_version=manifest["apiVersion"], kind=manifest["kind"],
            metadata=manifest["metadata"], spec=manifest["spec"],
            opts=child(self, depends_on=list(after)),
        )

