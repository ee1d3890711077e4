"""Platform add-ons: pinned Helm releases, the ClusterIssuer after cert-manager, the autoscaler wired to the
node group it scales, and the install switches for clusters that already have the add-ons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.config import MIN_CHART_VERSIONS, PlatformConfig, version_tuple
from components.platform import AUTOSCALER_IMAGE_TAGS, AWS_NLB_CLASS, EdgeLoadBalancer, edge_load_balancer
from ops.checks.helm_charts import RELEASE_TYPE, unpinned_releases
from ops.checks.kubernetes_schema import validate_manifest
from ops.manifests import manifests, to_manifest
from ops.runner import Registered, RunResult, run_program
from ops.stackconfig import load_stack_config
from tests.chart_labels import PROD_CONTROLLER_LABELS, ingress_nginx_controller_labels
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.conftest import PROJECT_DIR, program

FIXTURES = ALL_FIXTURES / "cluster"
ACME = {"acmeEmail": "platform@docrag.io"}
ISSUER_TYPE = "kubernetes:cert-manager.io/v1:ClusterIssuer"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
ALL_RELEASES = {"ingress-nginx", "cert-manager", "istio-base", "istiod", "istio-ingressgateway", "metrics-server",
                "aws-load-balancer-controller", "cluster-autoscaler", "trivy-operator"}


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def prod(request) -> RunResult:
    return program("prod", preview=request.param)


def releases(run: RunResult) -> dict[str, Registered]:
    return {r.inputs["name"]: r for r in run.of_type(RELEASE_TYPE)}


# -- pinned charts ----------------------------------------------------------------------------------------

def test_prod_installs_every_addon_from_a_pinned_chart(prod):
    found = releases(prod)
    assert set(found) == ALL_RELEASES
    assert unpinned_releases(prod.resources) == []
    assert found["ingress-nginx"].inputs["namespace"] == "doc-rag-ingress"
    assert found["cert-manager"].inputs["values"]["crds"]["enabled"] is True


# Verified against the upstream releases on 2026-11-26 (docs/cluster.md lists the sources).
PINS = {"ingressNginx": "4.15.1", "certManager": "v1.21.2", "istio": "1.30.5", "awsLoadBalancerController": "3.5.0",
        "metricsServer": "3.13.1", "clusterAutoscaler": "9.59.0", "trivyOperator": "0.34.0"}


def test_pins_are_the_verified_current_releases_everywhere(prod):
    prod_file = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]["doc-rag:platform"]
    defaults = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]["platform"]["default"]
    model = PlatformConfig.model_validate(ACME)
    for addon, version in PINS.items():
        assert getattr(model, addon).version == version, addon
        assert prod_file[addon]["version"] == defaults[addon]["version"] == version, addon
    for addon, (minimum, _why) in MIN_CHART_VERSIONS.items():
        assert version_tuple(PINS[addon]) >= version_tuple(minimum), addon
    found = releases(prod)
    assert found["ingress-nginx"].inputs["version"] == "4.15.1"  # controller v1.15.1: CVE-2025-1974 fixed
    assert {found[n].inputs["version"] for n in ("istio-base", "istiod", "istio-ingressgateway")} == {"1.30.5"}
    # cluster-autoscaler's image minor follows the control plane's.
    assert AUTOSCALER_IMAGE_TAGS == {"1.33": "v1.33.6", "1.34": "v1.34.5", "1.35": "v1.35.2"}
    assert found["cluster-autoscaler"].inputs["values"]["image"]["tag"] == "v1.34.5"


def test_unpinned_chart_fixture_is_reported_release_by_release():
    broken = yaml.safe_load((FIXTURES / "unpinned_releases.yaml").read_text())
    registered = [Registered(RELEASE_TYPE, item["name"], f"urn:{item['name']}", "", "", True, item) for item in broken]
    subjects = {finding.subject.rsplit("/", 1)[-1] for finding in unpinned_releases(registered)}
    assert subjects == {item["name"] for item in broken}


def test_the_plan_check_fails_on_an_unpinned_release(prod):
    from ops.checks.base import PlanContext
    from ops.checks.helm_charts import check

    def context(run: RunResult) -> PlanContext:
        return PlanContext("prod", run, None, [], Path("."), Path("."))  # type: ignore[arg-type]

    assert check(context(prod)).status == "pass"
    broken = yaml.safe_load((FIXTURES / "unpinned_releases.yaml").read_text())[0]
    tampered = RunResult(prod.stack, prod.preview, prod.config,
                         prod.resources + [Registered(RELEASE_TYPE, "x", "urn:x", "", "", True, broken)], {})
    assert check(context(tampered)).status == "fail"


# -- cert-manager and the ClusterIssuer ---------------------------------------------------------------------

def test_cluster_issuer_letsencrypt_prod_is_applied_after_cert_manager(prod):
    (issuer,) = prod.of_type(ISSUER_TYPE)
    manifest = to_manifest(issuer)
    assert manifest["metadata"]["name"] == "letsencrypt-prod"
    assert manifest["spec"]["acme"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert manifest["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "nginx"
    assert releases(prod)["cert-manager"].urn in issuer.depends_on
    assert manifest["spec"]["acme"]["email"] == "platform@docrag.io"
    # Validated against cert-manager's own CRD schema (T3 ships it).
    assert validate_manifest(manifest, "1.34")[0] == "ok"


def test_istio_gateway_follows_istiod_which_follows_the_crds(prod):
    found = releases(prod)
    assert found["istio-base"].urn in found["istiod"].depends_on
    assert found["istiod"].urn in found["istio-ingressgateway"].depends_on
    assert found["istio-ingressgateway"].inputs["chart"] == "gateway"  # pods labelled istio: ingressgateway


# -- cluster-autoscaler scales exactly our node group ------------------------------------------------------

def test_autoscaler_discovery_tags_and_irsa_policy_match_the_node_group(prod):
    (group,) = prod.of_type("aws:eks/nodeGroup:NodeGroup")
    autoscaler = releases(prod)["cluster-autoscaler"].inputs["values"]
    cluster_name = autoscaler["autoDiscovery"]["clusterName"]
    # The chart turns clusterName into --node-group-auto-discovery=asg:tag=<these keys>: the literal keys.
    assert group.inputs["tags"] == {"k8s.io/cluster-autoscaler/enabled": "true",
                                    "k8s.io/cluster-autoscaler/doc-rag-prod": "owned"}
    assert cluster_name == "doc-rag-prod"
    scaling = group.inputs["scalingConfig"]
    assert (scaling["minSize"], scaling["maxSize"]) == (3, 5)

    (policy_resource,) = [r for r in prod.of_type("aws:iam/policy:Policy") if r.name == "eks-autoscaler-policy"]
    policy = json.loads(policy_resource.inputs["policy"])
    (scale,) = [s for s in policy["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert "autoscaling:TerminateInstanceInAutoScalingGroup" in scale["Action"]
    assert scale["Condition"]["StringEquals"] == {f"aws:ResourceTag/{k}": v for k, v in group.inputs["tags"].items()}

    # ...and that policy is attached to the role the chart's service account assumes.
    role = prod.named("eks-autoscaler")
    (attachment,) = [r for r in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                     if r.name == "eks-autoscaler-policy"]
    assert role.urn in attachment.depends_on and policy_resource.urn in attachment.depends_on

    service_account = autoscaler["rbac"]["serviceAccount"]
    if not prod.preview:
        assert cluster_name == group.inputs["clusterName"] == "doc-rag-prod"
        assert autoscaler["awsRegion"] == "us-east-1"
        assert service_account["annotations"]["eks.amazonaws.com/role-arn"].endswith(":eks-autoscaler")
        trust = json.loads(role.inputs["assumeRolePolicy"])
        (condition,) = [s["Condition"]["StringEquals"] for s in trust["Statement"]]
        subject = next(v for k, v in condition.items() if k.endswith(":sub"))
        assert subject == f"system:serviceaccount:kube-system:{service_account['name']}"


def test_lb_controller_runs_on_its_irsa_role_in_our_vpc(prod):
    values = releases(prod)["aws-load-balancer-controller"].inputs["values"]
    assert values["clusterName"] == "doc-rag-prod"
    # No webhook between Service creates and a controller that may not be ready; no validation of our
    # nginx Ingresses by a controller that does not serve them.
    assert values["enableServiceMutatorWebhook"] is False
    assert values["webhookConfig"] == {"disableIngressValidation": True}
    if not prod.preview:
        assert values["vpcId"] == "network-vpc-id"
        assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":eks-lb-controller")
        trust = json.loads(prod.named("eks-lb-controller").inputs["assumeRolePolicy"])
        subject = next(v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub"))
        assert subject == f"system:serviceaccount:kube-system:{values['serviceAccount']['name']}"


# -- switches for clusters that already have the add-ons ---------------------------------------------------

@pytest.mark.parametrize(("overrides", "absent"), [
    (["platform.istio.install=false"], {"istio-base", "istiod", "istio-ingressgateway"}),
    (["platform.clusterAutoscaler.install=false", "platform.metricsServer.install=false"],
     {"cluster-autoscaler", "metrics-server"}),
    (["platform.enabled=false"], ALL_RELEASES),
])
def test_addons_can_be_switched_off(overrides, absent):
    run = program("prod", overrides, preview=True)
    if "istio-base" in absent:
        assert "istio-system" not in {r.inputs["metadata"]["name"] for r in run.of_type(NAMESPACE_TYPE)}
    assert set(releases(run)) == ALL_RELEASES - absent
    (issuer,) = run.of_type(ISSUER_TYPE)  # ours either way: our Ingresses reference it
    if "cert-manager" in absent:
        assert not any(":Release::" in urn for urn in issuer.depends_on)


def test_dev_renders_no_helm_release_but_the_issuer():
    run = program("dev")
    assert releases(run) == {}
    assert len(run.of_type(ISSUER_TYPE)) == 1


def test_existing_cluster_without_rendering_gets_only_cluster_agnostic_addons():
    config = load_stack_config("dev")
    del config.values["cluster"]["renderYamlTo"]
    config.values["platform"] = {"enabled": True, **ACME}
    for preview in (False, True):
        run = run_program("dev", stack_config=config, preview=preview)
        assert set(releases(run)) == ALL_RELEASES - {"aws-load-balancer-controller", "cluster-autoscaler"}
        assert not [r for r in run.resources if r.type.startswith("aws:")]


# -- the edge decision both the NLB Service and ingress-nginx read ------------------------------------------

@pytest.mark.parametrize(("mode", "platform", "expected"), [
    ("eks", {}, EdgeLoadBalancer(AWS_NLB_CLASS, proxy_protocol=True)),
    # The controller is assumed to run already (install: false); the NLB is still its.
    ("eks", {"awsLoadBalancerController": {"install": False, "version": "3.5.0"}},
     EdgeLoadBalancer(AWS_NLB_CLASS, proxy_protocol=True)),
    # ingress-nginx's config is not ours: PROXY v2 on the NLB alone would break every connection.
    ("eks", {"ingressNginx": {"install": False, "version": "4.15.1"}}, EdgeLoadBalancer(AWS_NLB_CLASS)),
    ("eks", {"enabled": False}, EdgeLoadBalancer(AWS_NLB_CLASS)),
    ("existing", {}, EdgeLoadBalancer()),
    ("existing", {"enabled": False}, EdgeLoadBalancer()),
])
def test_edge_load_balancer_decision(mode, platform, expected):
    assert edge_load_balancer(mode, PlatformConfig.model_validate({**platform, **ACME})) == expected


def test_ingress_nginx_config_follows_the_edge_decision(prod):
    values = releases(prod)["ingress-nginx"].inputs["values"]["controller"]
    assert values["config"] == {"use-proxy-protocol": "true"}
    assert values["service"] == {"type": "ClusterIP"}  # the NLB Service of the traffic layer is the only entry
    # Ingress status shows the NLB's address: the traffic layer's Service, by its real name.
    from components.traffic import NLB_SERVICE

    assert values["publishService"] == {"enabled": True, "pathOverride": f"doc-rag-ingress/{NLB_SERVICE}"}


# -- the AWS Load Balancer Controller comes first and goes last ---------------------------------------------

def test_releases_that_create_services_wait_for_the_lb_controller(prod):
    from components.platform import Platform

    found = releases(prod)
    controller = found["aws-load-balancer-controller"]
    for name in ("ingress-nginx", "cert-manager", "istiod", "istio-ingressgateway", "metrics-server"):
        assert controller.urn in found[name].depends_on, name
    assert "load_balancer_ready" in Platform.__doc__  # the contract the traffic layer's NLB Service uses


def test_load_balancer_ready_is_the_controller_release_or_nothing():
    import pulumi

    from components.platform import Platform

    seen: dict[str, list[str]] = {}
    original = Platform.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen[self._name] = [r._name for r in self.load_balancer_ready]  # type: ignore[attr-defined]

    Platform.__init__ = spy  # type: ignore[method-assign]
    try:
        run_program("prod", preview=True)
        assert seen["platform"] == ["aws-load-balancer-controller"]
        run_program("prod", ["platform.awsLoadBalancerController.install=false"], preview=True)
        assert seen["platform"] == []
        run_program("dev", preview=True)
        assert seen["platform"] == []
    finally:
        Platform.__init__ = original  # type: ignore[method-assign]
    assert isinstance(pulumi.Resource, type)


# -- namespaces the charts run in carry Pod Security labels -------------------------------------------------

def test_addon_namespaces_are_ours_with_pod_security_labels(prod):
    namespaces = {r.inputs["metadata"]["name"]: r for r in prod.of_type(NAMESPACE_TYPE)}
    expected = {"cert-manager": "restricted", "istio-system": "baseline"}
    found = releases(prod)
    for namespace, level in expected.items():
        labels = namespaces[namespace].inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == level
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    for release in found.values():  # Helm never creates an unlabelled namespace
        assert not release.inputs.get("createNamespace")
    assert namespaces["cert-manager"].urn in found["cert-manager"].depends_on
    assert namespaces["istio-system"].urn in found["istio-base"].depends_on


def test_everything_that_selects_the_edge_controller_uses_the_charts_own_pod_labels(prod):
    """The NLB, the NetworkPolicies and the scrape job must select the pods the chart actually labels."""
    (release,) = [r for r in prod.of_type(RELEASE_TYPE) if r.inputs["chart"] == "ingress-nginx"]
    labels = ingress_nginx_controller_labels(release.inputs)
    assert labels == PROD_CONTROLLER_LABELS
    rendered = {(m["kind"], m["metadata"]["name"]): m for m in manifests(prod.resources)}
    assert rendered[("Service", "api-service-alb")]["spec"]["selector"] == labels
    edge_peers = [peer["podSelector"]["matchLabels"]
                  for policy in (m for (kind, _), m in rendered.items() if kind == "NetworkPolicy")
                  for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", [])
                  for peer in rule.get("from", []) + rule.get("to", [])
                  if peer.get("namespaceSelector", {}).get("matchLabels") == {
                      "kubernetes.io/metadata.name": "doc-rag-ingress"} and "podSelector" in peer
                  and "istio" not in peer["podSelector"].get("matchLabels", {})]
    assert edge_peers and all(peer == labels for peer in edge_peers)
    config = yaml.safe_load(rendered[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"])
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "ingress-nginx"]
    kept = {rule["source_labels"][0]: rule["regex"] for rule in job["relabel_configs"]
            if rule.get("action") == "keep" and rule["source_labels"][0].startswith("__meta_kubernetes_pod_label_")}
    assert kept == {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "ingress-nginx",
                    "__meta_kubernetes_pod_label_app_kubernetes_io_instance": release.inputs["name"],
                    "__meta_kubernetes_pod_label_app_kubernetes_io_component": "controller"}
