"""Rules on how traffic gets in: one allowlisted LoadBalancer edge, TLS on every Ingress, ingress-nginx
annotations the controller actually reads."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from policies.ingress_nginx_annotations import ANNOTATION_PREFIX, INGRESS_NGINX_VERSION, KNOWN_ANNOTATIONS
from policies.k8s import dig, is_mapping, items, kind_of, name_of
from policies.model import ResourceRule, Settings


def check_load_balancers(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    if kind_of(type_) != "Service" or dig(props, "spec", "type") != "LoadBalancer":
        return
    allowed = [str(name) for name in settings["allowedNames"]]
    name = name_of(props)
    if name not in allowed:
        shown = repr(name) if name else "(auto-named)"
        yield f"Service {shown} is type LoadBalancer; only {allowed} may be (the edge)"


def check_ingress_tls(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    if kind_of(type_) != "Ingress":
        return
    tls = [entry for entry in items(dig(props, "spec", "tls")) if is_mapping(entry)]
    if not tls:
        yield f"Ingress {name_of(props)!r} has no spec.tls"
        return
    covered = {host for entry in tls for host in items(entry.get("hosts"))}
    for rule in items(dig(props, "spec", "rules")):
        host = rule.get("host") if is_mapping(rule) else None
        if host and host not in covered:
            yield f"Ingress {name_of(props)!r} serves host {host!r} without a TLS entry for it"


def check_nginx_annotations(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    annotations = dig(props, "metadata", "annotations")
    if kind_of(type_) is None or not is_mapping(annotations):
        return
    for key in sorted(str(key) for key in annotations):
        if key.startswith(ANNOTATION_PREFIX) and key.removeprefix(ANNOTATION_PREFIX) not in KNOWN_ANNOTATIONS:
            yield (f"{kind_of(type_)} {name_of(props)!r} sets {key}, which ingress-nginx "
                   f"{INGRESS_NGINX_VERSION} does not read (it is ignored); see "
                   "policies/ingress_nginx_annotations.py for the annotations it knows")


NO_LOADBALANCER_SERVICES = ResourceRule(
    name="no-loadbalancer-services",
    description="No Service of type LoadBalancer except the allowlisted edge.",
    level="mandatory",
    config={"allowedNames": {
        "type": "array", "items": {"type": "string"}, "default": ["api-service-alb"],
        "description": "Service names allowed to be type LoadBalancer",
    }},
    check=check_load_balancers,
)
INGRESS_TLS = ResourceRule(
    name="ingress-tls",
    description="Every Ingress terminates TLS for each host it serves.",
    level="mandatory",
    check=check_ingress_tls,
)

KNOWN_NGINX_ANNOTATIONS = ResourceRule(
    name="known-nginx-annotations",
    description=f"Every nginx.ingress.kubernetes.io/* annotation is one ingress-nginx {INGRESS_NGINX_VERSION} "
                "reads (a misspelt one is silently ignored).",
    level="mandatory",
    check=check_nginx_annotations,
)

RULES = [NO_LOADBALANCER_SERVICES, INGRESS_TLS, KNOWN_NGINX_ANNOTATIONS]
