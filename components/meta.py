"""Names and labels every component shares: the namespaces and the app.kubernetes.io label set."""

from __future__ import annotations

from typing import Optional

import pulumi

APP = "doc-rag"
NS_PROD = "doc-rag-prod"
NS_MONITORING = "doc-rag-monitoring"
NS_SECURITY = "doc-rag-security"
NS_INGRESS = "doc-rag-ingress"


def labels(component: str, name: str = APP, color: Optional[str] = None,
           app_version: Optional[str] = None) -> dict[str, str]:
    """The recommended label set. `color` sets `version: <colour>` (what the Services, subsets and PDBs select);
    `app_version` sets app.kubernetes.io/version, the application's version (components/api.py: the image
    tag). Never put app_version into a selector: it changes with every release."""
    result = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": APP,
        "app.kubernetes.io/managed-by": "pulumi",
    }
    if app_version:
        result["app.kubernetes.io/version"] = app_version
    if color:
        result["version"] = color
    return result


def child(parent: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
    """Options for a component's child: parented, so it inherits the explicit Kubernetes provider."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)
