"""The cluster layer under the SDK monitor: the AWS graph prod registers, the explicit provider, dev without AWS.

Every stack runs twice: preview=True (computed outputs unknown, as in `pulumi preview`) and preview=False
(the fake cloud returns the outputs the program reads, as in `pulumi up`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError
from ops.checks.kubernetes_schema import validate_manifest
from ops.manifests import clean, to_manifest
from ops.runner import Registered, RunResult, run_program

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cluster"
SECRET_SIG = "4dabf18193072939515e22adb298388d"

# vCPU and GiB of the instance types we accept as the seed's "4 vCPU, 16GB RAM minimum" node size.
INSTANCE_SHAPES = {"m6i.xlarge": (4, 16), "m7i.xlarge": (4, 16), "m6a.xlarge": (4, 16), "m5.xlarge": (4, 16)}


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def prod(request) -> RunResult:
    return run_program("prod", preview=request.param)


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def dev(request) -> RunResult:
    return run_program("dev", preview=request.param)


def is_secret(value) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def only(run: RunResult, type_: str) -> Registered:
    matches = run.of_type(type_)
    assert len(matches) == 1, f"expected one {type_}, got {[r.name for r in matches]}"
    return matches[0]


def subnets(run: RunResult, kind: str) -> list[Registered]:
    return [r for r in run.of_type("aws:ec2/subnet:Subnet") if r.name.startswith(f"network-{kind}-")]


def refs(run: RunResult, resource: Registered, field: str, targets: list[Registered]) -> bool:
    """Does `resource.inputs[field]` point at `targets`? Ids under an update, dependencies under a preview."""
    value = resource.inputs.get(field)
    known = value if isinstance(value, list) else [value]
    if not run.preview:
        return sorted(known) == sorted(f"{t.name}-id" for t in targets)
    return all(t.urn in resource.depends_on for t in targets)


# -- prod: the AWS graph with the seed's numbers ----------------------------------------------------------

def test_node_group_is_3_3_5_of_a_4_vcpu_16_gib_type(prod):
    group = only(prod, "aws:eks/nodeGroup:NodeGroup")
    scaling = clean(group.inputs["scalingConfig"])
    assert (scaling["minSize"], scaling["desiredSize"], scaling["maxSize"]) == (3, 3, 5)
    (instance_type,) = group.inputs["instanceTypes"]
    vcpu, memory = INSTANCE_SHAPES[instance_type]
    assert vcpu >= 4 and memory >= 16


def test_nodes_run_only_in_private_subnets(prod):
    group = only(prod, "aws:eks/nodeGroup:NodeGroup")
    private, public = subnets(prod, "private"), subnets(prod, "public")
    assert len(private) == len(public) == 3
    assert refs(prod, group, "subnetIds", private)
    assert not any(p.urn in group.depends_on for p in public)
    # Private subnets have no route to the internet gateway, only to a NAT gateway.
    for table in prod.of_type("aws:ec2/routeTable:RouteTable"):
        (route,) = table.inputs["routes"]
        assert ("natGatewayId" in route) == table.name.startswith("network-private-")


def test_a_nat_gateway_per_zone_each_private_subnet_behind_its_own(prod):
    nats = prod.of_type("aws:ec2/natGateway:NatGateway")
    public = subnets(prod, "public")
    assert len(nats) == 3
    by_name = {subnet.name: subnet for subnet in public}
    for nat in nats:  # network-nat-<i> sits in network-public-<i>: one per zone
        assert refs(prod, nat, "subnetId", [by_name[nat.name.replace("-nat-", "-public-")]])
    private_tables = [t for t in prod.of_type("aws:ec2/routeTable:RouteTable") if t.name.startswith("network-private")]
    assert len(private_tables) == 3
    if not prod.preview:
        assert {t.inputs["routes"][0]["natGatewayId"] for t in private_tables} == {f"{n.name}-id" for n in nats}


def test_single_nat_gateway_when_configured():
    run = run_program("prod", ["cluster.natGateways=single"])
    nats = run.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 1
    private_tables = [t for t in run.of_type("aws:ec2/routeTable:RouteTable") if t.name.startswith("network-private")]
    assert {t.inputs["routes"][0]["natGatewayId"] for t in private_tables} == {f"{nats[0].name}-id"}


def test_subnets_carry_the_load_balancer_controller_tags(prod):
    for subnet in subnets(prod, "public"):
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert subnet.inputs["tags"]["kubernetes.io/cluster/doc-rag-prod"] == "shared"
    for subnet in subnets(prod, "private"):
        assert subnet.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
    zones = [s.inputs.get("availabilityZone") for s in subnets(prod, "private")]
    if not prod.preview:
        assert len(set(zones)) == 3


def test_eks_cluster_version_logging_and_endpoint_access(prod):
    cluster = only(prod, "aws:eks/cluster:Cluster")
    assert cluster.inputs["version"] == prod.config.values["kubernetesVersion"] == "1.34"
    assert {"api", "audit", "authenticator"} <= set(cluster.inputs["enabledClusterLogTypes"])
    assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is True
    private = run_program("prod", ["cluster.endpointPublicAccess=false"], preview=prod.preview)
    assert only(private, "aws:eks/cluster:Cluster").inputs["vpcConfig"]["endpointPublicAccess"] is False


def test_iam_roles_carry_the_standard_managed_policies(prod):
    arns = {r.inputs.get("policyArn") for r in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    for policy in ("AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
                   "AmazonEC2ContainerRegistryReadOnly", "service-role/AmazonEBSCSIDriverPolicy"):
        assert f"arn:aws:iam::aws:policy/{policy}" in arns


def test_oidc_provider_and_eks_addons_with_ebs_csi_on_irsa(prod):
    oidc = only(prod, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    addons = {a.inputs["addonName"]: a for a in prod.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"}
    ebs_role = prod.named("eks-ebs-csi")
    assert ebs_role.urn in addons["aws-ebs-csi-driver"].depends_on
    if not prod.preview:
        trust = json.loads(ebs_role.inputs["assumeRolePolicy"])
        (condition,) = [s["Condition"]["StringEquals"] for s in trust["Statement"]]
        subject = next(v for k, v in condition.items() if k.endswith(":sub"))
        assert subject == "system:serviceaccount:kube-system:ebs-csi-controller-sa"
        assert addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"].endswith(":eks-ebs-csi")


def test_storage_class_is_encrypted_gp3_with_at_least_1000_iops(prod, dev):
    for run in (prod, dev):
        storage_class = only(run, "kubernetes:storage.k8s.io/v1:StorageClass")
        manifest = to_manifest(storage_class)
        params = manifest["parameters"]
        assert params["type"] == "gp3" and params["encrypted"] == "true"
        assert int(params["iops"]) >= 1000 and int(params["iops"]) == 3000
        assert manifest["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        assert manifest["volumeBindingMode"] == "WaitForFirstConsumer"
        assert validate_manifest(manifest, "1.34") == ("ok", "")
    assert only(prod, "kubernetes:storage.k8s.io/v1:StorageClass").inputs["metadata"]["name"] == "gp3"


def test_acm_certificate_for_the_domain_with_dns_validation_records_as_outputs(prod):
    certificate = only(prod, "aws:acm/certificate:Certificate")
    assert certificate.inputs["domainName"] == "api.docrag.example.com"
    assert certificate.inputs["validationMethod"] == "DNS"
    if not prod.preview:
        (record,) = prod.outputs["certificateValidationRecords"]
        assert record["type"] == "CNAME" and record["name"].startswith("_")
        assert prod.outputs["certificateArn"].endswith(":certificate-acm")


def test_stack_outputs_and_a_secret_kubeconfig_using_aws_eks_get_token(prod):
    expected = {"clusterName", "clusterEndpoint", "kubeconfig", "vpcId", "publicSubnetIds", "privateSubnetIds",
                "certificateArn", "nodeRoleArn"}
    assert expected <= set(prod.outputs)
    assert is_secret(prod.outputs["kubeconfig"])
    provider = only(prod, "pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    if not prod.preview:
        assert prod.outputs["clusterName"] == "doc-rag-prod"
        assert len(prod.outputs["privateSubnetIds"]) == 3
        kubeconfig = json.loads(prod.outputs["kubeconfig"]["value"])
        (user,) = kubeconfig["users"]
        assert user["user"]["exec"]["command"] == "aws"
        assert user["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "doc-rag-prod"]
        assert "token" not in user["user"], "no long-lived credential in the kubeconfig"
        assert kubeconfig["clusters"][0]["cluster"]["server"] == prod.outputs["clusterEndpoint"]


# -- every Kubernetes object on the one explicit provider ---------------------------------------------------

def test_every_kubernetes_resource_uses_the_explicit_provider(prod, dev):
    for run in (prod, dev):
        provider = only(run, "pulumi:providers:kubernetes")
        k8s = [r for r in run.resources if r.custom and r.type.startswith("kubernetes:")]
        assert len(k8s) > 5
        strays = [r.name for r in k8s if not r.provider.startswith(provider.urn + "::")]
        assert not strays, f"on the default provider: {strays}"
    assert run.config.foreign["pulumi:disable-default-providers"] == ["kubernetes"]


def test_the_provider_waits_for_nodes_and_core_addons(prod):
    provider = only(prod, "pulumi:providers:kubernetes")
    assert only(prod, "aws:eks/nodeGroup:NodeGroup").urn in provider.depends_on
    assert {a.urn for a in prod.of_type("aws:eks/addon:Addon")} <= set(provider.depends_on)


# -- dev: existing mode, no AWS ----------------------------------------------------------------------------

def test_dev_registers_no_aws_resource_and_renders_to_a_directory(dev):
    assert not [r.type for r in dev.resources if r.type.startswith("aws:") or r.type.startswith("pulumi:providers:aws")]
    provider = only(dev, "pulumi:providers:kubernetes")
    assert provider.inputs["renderYamlToDirectory"] == "build/rendered/dev"
    assert "kubeconfig" not in provider.inputs  # ambient unless configured
    assert not {"clusterName", "kubeconfig", "vpcId"} & set(dev.outputs)


def test_existing_mode_kubeconfig_from_config_stays_secret():
    run = run_program("dev", ["cluster.kubeconfig=apiVersion: v1"])
    assert is_secret(only(run, "pulumi:providers:kubernetes").inputs["kubeconfig"])


# -- bad config: stopped before anything is registered, message names the key -----------------------------

BAD = yaml.safe_load((FIXTURES / "bad_config.yaml").read_text())


@pytest.mark.parametrize("case", BAD, ids=[" ".join(c["set"]) for c in BAD])
def test_bad_cluster_config_is_rejected_naming_the_key(case):
    with pytest.raises(ConfigError) as raised:
        run_program(case["stack"], case["set"])
    message = str(raised.value)
    assert any(line.strip().startswith(f"- {case['key']}") for line in message.splitlines()), message
    assert case["allowed"] in message

