"""Traffic: the one weight knob (`release.canaryWeight`) driving every router consistently.

- `api-service` selects `version: <activeColor>`, `api-service-canary` the other colour.
- The routers (components/routers/, one module each, listed in its REGISTRY) build the objects that send a
  share of the requests to each colour: NGINX's main and canary Ingress, Istio's Gateway, DestinationRule
  and VirtualService. This layer registers them in the order the update must happen and knows none of
  their names.
- Edge: NLB Service `api-service-alb` in doc-rag-ingress in front of the pods of the router `traffic.edge`
  names (the ingress-nginx controller by default, or the Istio ingress gateway), never the API pods, which
  would bypass every canary weight (README, deviation 1). On eks the AWS Load Balancer Controller owns it
  (loadBalancerClass) and it speaks PROXY v2 to ingress-nginx, both as decided by components/platform.py's
  EdgeLoadBalancer, which also sets ingress-nginx's side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.api import pod_selector
from components.config import DocRagConfig, ReleaseConfig
from components.meta import NS_INGRESS, NS_PROD, child
from components.platform import (
    INGRESS_CONTROLLER_SELECTOR,
    ISTIO_GATEWAY_SELECTOR,
    AddonsReady,
    EdgeLoadBalancer,
)
from components.routers import REGISTRY
from components.routers.base import (
    ACTIVE_SERVICE,
    CANARY_SERVICE,
    PATCH_FORCE,
    EdgeTarget,
    ReleaseSplit,
    RouterObject,
    Site,
    api_service_manifest,
    metadata,
    release_split,
)

__all__ = ["ACTIVE_SERVICE", "CANARY_SERVICE", "PATCH_FORCE", "ReleaseSplit", "api_service_manifest",
           "release_split"]

NLB_SERVICE = "api-service-alb"
AWS_LB = "service.beta.kubernetes.io"


def service_update_order(split: ReleaseSplit) -> tuple[list[str], list[str]]:
    """(Services updated before the canary weight, Services updated after it).

    A flip swaps both Service selectors; between the two updates both Services select ONE colour, which then
    gets every request. A Service whose colour receives traffic in the target state goes first: that colour
    serves (preflight), so the in-between state routes only to it. A Service whose colour receives none (the
    canary at weight 0, the active colour at 100, possibly retired) changes only after the weight moved
    away from it. The flip from 100 is then api-service, weight 100 -> 0, api-service-canary; undoing it
    (back to weight 100) runs the other way round."""
    shares = {ACTIVE_SERVICE: 100 - split.weight, CANARY_SERVICE: split.weight}
    return ([name for name, share in shares.items() if share > 0],
            [name for name, share in shares.items() if share == 0])


def service_manifests(release: ReleaseConfig) -> list[dict[str, Any]]:
    split = release_split(release)
    return [
        api_service_manifest(ACTIVE_SERVICE, pod_selector(split.active)),
        api_service_manifest(CANARY_SERVICE, pod_selector(split.canary)),
    ]


def platform_site() -> Site:
    """Where the platform runs the edge proxies: the Istio gateway's and ingress-nginx's namespace and pods."""
    return Site(NS_INGRESS, dict(ISTIO_GATEWAY_SELECTOR), NS_INGRESS, dict(INGRESS_CONTROLLER_SELECTOR))


def platform_needs(config: DocRagConfig) -> set[str]:
    """The platform releases the config's routers and edge wait for (a Need each); the platform installs
    ingress-nginx only when one of them needs it."""
    site = Site("", {})
    needs = {need for obj in router_objects(config, site) for need in obj.needs}
    return needs | set(REGISTRY[config.traffic.edge].edge_target(site).needs)


def router_objects(config: DocRagConfig, site: Site) -> list[RouterObject]:
    """The objects of every router rendered for the config's edge, in registry order."""
    return [obj for router in REGISTRY.values() if router.renders(config.traffic.edge)
            for obj in router.objects(config, site)]


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
    """The NLB's AWS annotations. With an ACM certificate the NLB terminates TLS on 443 and re-encrypts
    to the controller's https port (`ssl`: `http` is not an NLB backend protocol, and plain HTTP behind
    443 would make force-ssl-redirect loop). Without one, 443 passes TLS through to NGINX,
    which serves the cert-manager certificate.

    With a loadBalancerClass (eks) the AWS Load Balancer Controller reads them: `external` is its documented
    type (`nlb` selects the in-tree controller, which ignores a Service with a class anyway), and
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


def nlb_service_spec(target: EdgeTarget, edge: EdgeLoadBalancer) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": target.selector,
        "ports": [
            {"name": "https", "port": 443, "targetPort": target.https_port, "protocol": "TCP"},
            {"name": "http", "port": 80, "targetPort": target.http_port, "protocol": "TCP"},
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
    edge: EdgeLoadBalancer  # how the NLB reaches the edge proxy: its owner, PROXY v2
    # The add-on releases each router object waits for (its `needs`), and the NLB (load_balancer).
    ready: AddonsReady


class Traffic(pulumi.ComponentResource):
    def __init__(self, name: str, args: TrafficArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:traffic:Traffic", name, None, opts)
        config = args.config
        prod = args.namespaces[NS_PROD]
        self.split = release_split(config.release)
        addons = args.ready
        needs: dict[str, Sequence[pulumi.Resource]] = {
            "serving": [prod, *args.serving], "ingress": addons.ingress, "cert_manager": addons.cert_manager,
            "istio": addons.istio, "gateway_api": addons.gateway_api}

        # Update order (docs/traffic.md "Update order"): the Services whose colour receives traffic in the target
        # state, then the objects carrying the canary weight, then the Services that receive none; so every
        # state in between sends traffic only to colours that serve. Other router objects follow what they
        # name in `after`.
        ahead, behind = service_update_order(self.split)
        routers = router_objects(config, platform_site())
        carriers = tuple(obj.name for obj in routers if obj.carries_weight)
        pending = [RouterObject(manifest, needs=("serving",),
                                after=() if manifest["metadata"]["name"] in ahead else carriers)
                   for manifest in service_manifests(config.release)]
        pending += [RouterObject(obj.manifest, obj.after + (tuple(ahead) if obj.carries_weight else ()), obj.needs,
                                 obj.carries_weight, obj.routes) for obj in routers]
        self.objects: dict[str, pulumi.CustomResource] = {}
        while pending:
            ready = next(obj for obj in pending if all(name in self.objects for name in obj.after))
            pending.remove(ready)
            after = [args.namespaces[ready.manifest["metadata"]["namespace"]],
                     *(resource for need in ready.needs for resource in needs[need]),
                     *(self.objects[name] for name in ready.after)]
            self.objects[ready.name] = self._object(ready.manifest, *_unique(after))

        # The edge: the NLB fronts the pods of the router `traffic.edge` names.
        target = REGISTRY[config.traffic.edge].edge_target(platform_site())
        nlb_metadata: Any = {**metadata(NLB_SERVICE, namespace=target.namespace, component="edge"),
                             "annotations": nlb_annotations(args.certificate_arn, args.edge)}
        nlb_spec: Any = nlb_service_spec(target, args.edge)
        self.nlb = k8s.core.v1.Service(
            NLB_SERVICE,
            metadata=nlb_metadata,
            spec=nlb_spec,
            # After the edge's pods (the router says which releases run them).
            # After the AWS Load Balancer Controller: it provisions the NLB and puts a finalizer on this Service,
            # so on destroy the Service is deleted first, while the controller is still there to remove both.
            opts=child(self, depends_on=_unique([args.namespaces[target.namespace],
                                                 *(resource for need in target.needs for resource in needs[need]),
                                                 *addons.load_balancer]),
                       replace_on_changes=NLB_REPLACE_ON_CHANGES, delete_before_replace=True),
        )

        # Every object that can send a request to a colour: a colour being retired scales to 0 only after
        # all of them moved away from it (Api.retire).
        routing = {ACTIVE_SERVICE, CANARY_SERVICE, *(obj.name for obj in routers if obj.routes)}
        self.routing: list[pulumi.Resource] = [self.objects[name] for name in self.objects if name in routing]
        self.outputs = {
            "activeColor": self.split.active,
            "canaryColor": self.split.canary,
            "canaryWeight": self.split.weight,
            "weights": self.split.weights,
            "host": config.domain,
        }
        self.register_outputs(self.outputs)

    def _object(self, manifest: dict[str, Any], *after: pulumi.Resource) -> pulumi.CustomResource:
        kinds: dict[str, Any] = {"Service": k8s.core.v1.Service, "Ingress": k8s.networking.v1.Ingress}
        opts = child(self, depends_on=list(after))
        if manifest["kind"] in kinds:
            resource: pulumi.CustomResource = kinds[manifest["kind"]](
                manifest["metadata"]["name"], metadata=manifest["metadata"], spec=manifest["spec"], opts=opts)
            return resource
        return k8s.apiextensions.CustomResource(
            manifest["metadata"]["name"], api_version=manifest["apiVersion"], kind=manifest["kind"],
            metadata=manifest["metadata"], spec=manifest["spec"], opts=opts,
        )


def _unique(resources: list[pulumi.Resource]) -> list[pulumi.Resource]:
    seen: list[pulumi.Resource] = []
    for resource in resources:
        if not any(resource is known for known in seen):
            seen.append(resource)
    return seen
