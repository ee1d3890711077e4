"""The routers, by the `traffic.edge` value that names them: the one list every consumer walks."""

from __future__ import annotations

from components.routers.base import Router
from components.routers.gateway import GatewayRouter
from components.routers.istio import IstioRouter
from components.routers.nginx import NginxRouter

REGISTRY: dict[str, Router] = {
    "nginx": NginxRouter(),
    "istio": IstioRouter(),
    "gateway": GatewayRouter(),
}
