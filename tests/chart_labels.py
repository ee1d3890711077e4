"""The labels upstream charts give their pods, written from the charts themselves, never from our constants:
a wrong label in components/platform.py would make the NLB, the NetworkPolicies and the scrape job select
nothing, and a test that took its expectation from that constant would not notice."""

from __future__ import annotations

from typing import Any

# ingress-nginx chart 4.15.1: templates/_helpers.tpl `ingress-nginx.selectorLabels` (name = the chart name
# unless nameOverride, instance = the release name) plus controller-deployment.yaml's component.
INGRESS_NGINX_CHART = "ingress-nginx"


def ingress_nginx_controller_labels(release: dict[str, Any]) -> dict[str, str]:
    """Controller pod labels of a registered ingress-nginx Release's inputs."""
    assert release["chart"] == INGRESS_NGINX_CHART
    assert "nameOverride" not in release["values"], "the chart's name label would follow nameOverride"
    return {"app.kubernetes.io/name": INGRESS_NGINX_CHART, "app.kubernetes.io/instance": release["name"],
            "app.kubernetes.io/component": "controller"}


# The labels of the controller pods the prod stack deploys (release `ingress-nginx`), checked against the
# registered release by tests/components/test_platform.py.
PROD_CONTROLLER_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
                          "app.kubernetes.io/component": "controller"}
