"""The cluster layer under the SDK monitor: the AWS graph prod registers, the explicit provider, dev without AWS.

Every stack runs twice: preview=True (computed outputs unknown, as in `pulumi preview`) and preview=False
(the fake cloud returns the outputs the program reads, as in `pulumi up`).
"""

from __future__ import annotations

import json

import pytest
import yaml

from components.aws_iam import load_balancer_controller_policy, unguarded_lb_controller_grants
from components.config import ConfigError, node_shape
from ops.checks.kubernetes_schema import validate_manifest
from ops.manifests import clean, to_manifest
from ops.mocks import FakeCloud, UnknownInvoke, addon_version
from ops.runner import Registered, RunResult, run_program
from ops.stackconfig import load_stack_config
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.conftest import program

FIXTURES = ALL_FIXTURES / "cluster"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f"
ADMIN_ARNS = ["arn:aws:iam::123456789012:role/platform-admins", "arn:aws:iam::123456789012:role/break-glass"]


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def prod(request) -> RunResult:
    return program("prod", preview=request.param)


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def dev(request) -> RunResult:
    return program("dev", preview=request.param)


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


# -- prod: the AWS graph with the deployment plan's numbers ----------------------------------------------------------

def test_node_group_is_3_3_5_of_a_4_vcpu_16_gib_type(prod):
    group = only(prod, "aws:eks/nodeGroup:NodeGroup")
    scaling = clean(group.inputs["scalingConfig"])
    assert (scaling["minSize"], scaling["desiredSize"], scaling["maxSize"]) == (3, 3, 5)
    (instance_type,) = group.inputs["instanceTypes"]
    vcpu, memory = node_shape(instance_type) or (0, 0)
    assert vcpu >= 4 and memory >= 16


@pytest.mark.parametrize(("instance_type", "shape"), [
    ("m6i.xlarge", (4, 16)), ("c6i.2xlarge", (8, 16)), ("r6i.large", (2, 16)), ("m7g.xlarge", None),
    ("m6i.metal", None)])
def test_node_shapes_come_from_the_documented_table(instance_type, shape):
    assert node_shape(instance_type) == shape


def test_node_group_is_replaceable_and_follows_the_control_plane_version(prod):
    group = only(prod, "aws:eks/nodeGroup:NodeGroup")
    cluster = only(prod, "aws:eks/cluster:Cluster")
    # A prefix, not a fixed name: a replacement (new instance type) is created before the old one is deleted.
    assert "nodeGroupName" not in group.inputs
    assert group.inputs["nodeGroupNamePrefix"] == "doc-rag-workers-"
    assert cluster.urn in group.depends_on
    if not prod.preview:
        assert group.inputs["version"] == cluster.inputs["version"] == "1.34"


def test_nodes_boot_from_a_launch_template_with_imdsv2_two_hops_and_encrypted_gp3(prod):
    template = only(prod, "aws:ec2/launchTemplate:LaunchTemplate")
    metadata = template.inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    # Two: the EBS CSI node plugin (a pod) reads its attach limits from IMDS; NetworkPolicies close it to ours.
    assert clean(metadata["httpPutResponseHopLimit"]) == 2
    (device,) = template.inputs["blockDeviceMappings"]
    assert device["ebs"]["volumeType"] == "gp3" and device["ebs"]["encrypted"] == "true"
    group = only(prod, "aws:eks/nodeGroup:NodeGroup")
    assert "diskSize" not in group.inputs  # conflicts with a launch template
    assert template.urn in group.depends_on
    if not prod.preview:
        assert group.inputs["launchTemplate"] == {"id": f"{template.name}-id", "version": "1"}


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
    run = program("prod", ["cluster.natGateways=single"])
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



def test_subnets_go_to_zones_by_id_where_eks_runs_and_the_node_type_is_offered(prod):
    """The fake account has opted in to a Local Zone (which an unfiltered `state=available` lookup would hand
    to the second subnet), maps us-east-1c to use1-az3 (no EKS control plane there) and has no m6i.xlarge
    in use1-az2: the subnets must skip all three."""
    for kind in ("private", "public"):
        # By subnet index (network-private-0, -1, -2): registrations arrive in whatever order Outputs resolve.
        placed = sorted(subnets(prod, kind), key=lambda subnet: int(subnet.name.rsplit("-", 1)[1]))
        assert all("availabilityZone" not in s.inputs for s in placed)  # a name is a different zone per account
        if not prod.preview:
            assert [s.inputs["availabilityZoneId"] for s in placed] == ["use1-az1", "use1-az4", "use1-az5"]


def test_too_few_usable_zones_is_refused_naming_the_key():
    with pytest.raises(Exception) as raised:
        program("prod", ["cluster.availabilityZones=5"])
    message = str(raised.value)
    assert "cluster.availabilityZones asks for 5 zones but only 4 of the region's zones support EKS and offer " \
           "m6i.xlarge: ['use1-az1', 'use1-az4', 'use1-az5', 'use1-az6']" in message


def test_the_fake_cloud_refuses_an_invoke_it_has_no_answer_for():
    import pulumi

    with pytest.raises(UnknownInvoke, match="aws:ec2/getVpc:getVpc"):
        FakeCloud(preview=False).call(pulumi.runtime.MockCallArgs("aws:ec2/getVpc:getVpc", {}, ""))


def test_eks_cluster_version_logging_and_a_private_endpoint(prod):
    cluster = only(prod, "aws:eks/cluster:Cluster")
    assert cluster.inputs["version"] == prod.config.values["kubernetesVersion"] == "1.34"
    assert {"api", "audit", "authenticator"} <= set(cluster.inputs["enabledClusterLogTypes"])
    assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    # The first deploy's bootstrap: public for the runner's address only (docs/cluster.md "First deploy").
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.10/32"]


def test_a_private_endpoint_publishes_no_cidrs():
    private = program("prod", ["cluster.endpointPublicAccess=false"], preview=True)
    vpc = only(private, "aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and "publicAccessCidrs" not in vpc


def test_runners_and_vpns_are_admitted_to_the_private_endpoint_on_443_only():
    """EKS's cluster security group admits only itself; each configured network or group gets one rule."""
    run = program("prod", ["cluster.endpointPublicAccess=false", "cluster.apiAccessCidrs[0]=10.8.0.0/16",
                               "cluster.apiAccessSecurityGroupIds[0]=sg-0123456789abcdef0"])
    rules = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    sources = sorted(((r.inputs.get("cidrIpv4"), r.inputs.get("referencedSecurityGroupId")) for r in rules), key=str)
    assert sources == [("10.8.0.0/16", None), (None, "sg-0123456789abcdef0")]
    for rule in rules:
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443, 443)
        assert rule.inputs["securityGroupId"] == "sg-0c1a2b3c4d5e6f708"  # the cluster's own security group
    assert not program("prod").of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")


def test_control_plane_logs_go_to_a_90_day_group_created_before_the_cluster(prod):
    group = only(prod, "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/aws/eks/doc-rag-prod/cluster"
    assert clean(group.inputs["retentionInDays"]) == 90
    assert group.urn in only(prod, "aws:eks/cluster:Cluster").depends_on


def test_admin_principals_get_an_access_entry_and_the_cluster_admin_policy_each():
    overrides = [f"cluster.adminPrincipalArns[{i}]={arn}" for i, arn in enumerate(ADMIN_ARNS)]
    run = program("prod", overrides, preview=True)
    entries = {r.inputs["principalArn"]: r for r in run.of_type("aws:eks/accessEntry:AccessEntry")}
    associations = {r.inputs["principalArn"]: r for r in run.of_type("aws:eks/accessPolicyAssociation:"
                                                                        "AccessPolicyAssociation")}
    assert set(entries) == set(associations) == set(ADMIN_ARNS)
    for arn in ADMIN_ARNS:
        association = associations[arn]
        assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert association.inputs["accessScope"] == {"type": "cluster"}
        assert entries[arn].urn in association.depends_on  # the policy needs its entry first
    # Names follow the principal, not its position: reordering the list replaces nothing.
    reordered = program("prod", [f"cluster.adminPrincipalArns[{i}]={arn}" for i, arn in
                                     enumerate(reversed(ADMIN_ARNS))], preview=True)
    assert ({r.name for r in reordered.of_type("aws:eks/accessEntry:AccessEntry")}
            == {r.name for r in entries.values()})
    assert not program("prod", preview=True).of_type("aws:eks/accessEntry:AccessEntry")


def _attached(run: RunResult, role: Registered) -> set[str]:
    """Managed policy ARNs attached to exactly this role (by dependency, so per role, not pooled)."""
    return {r.inputs["policyArn"] for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if role.urn in r.depends_on and isinstance(r.inputs.get("policyArn"), str)
            and r.inputs["policyArn"].startswith("arn:aws:iam::aws:policy/")}


def test_each_iam_role_carries_its_own_managed_policies(prod):
    managed = "arn:aws:iam::aws:policy/"
    expected = {
        "eks-cluster-role": {"AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController"},
        "eks-node-role": {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                          "AmazonSSMManagedInstanceCore"},
        "eks-ebs-csi": {"service-role/AmazonEBSCSIDriverPolicy"},
        "eks-lb-controller": set(),
        "eks-autoscaler": set(),
    }
    for role, policies in expected.items():
        assert _attached(prod, prod.named(role)) == {managed + p for p in policies}, role


def test_lb_controller_policy_is_upstreams_with_every_ownership_guard(prod):
    policy = load_balancer_controller_policy()
    assert unguarded_lb_controller_grants(policy) == []
    statements = {s["Sid"]: s for s in policy["Statement"]}
    retag = statements["TagOwnLoadBalancers"]
    assert retag["Condition"] == {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "true",
                                           "aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    assert "*" not in retag["Resource"]
    sg_tags = statements["TagOwnSecurityGroups"]
    assert sg_tags["Resource"] == "arn:aws:ec2:*:*:security-group/*" and sg_tags["Condition"] == retag["Condition"]
    # What the stack registers is that policy, attached to the controller's role.
    registered = next(r for r in prod.of_type("aws:iam/policy:Policy") if r.name == "eks-lb-controller-policy")
    assert json.loads(registered.inputs["policy"]) == policy


def test_the_old_loose_lb_controller_policy_is_caught():
    loose = json.loads((FIXTURES / "loose_lb_controller_policy.json").read_text())
    problems = unguarded_lb_controller_grants(loose)
    assert any("elasticloadbalancing:AddTags" in p and "without an ownership tag guard" in p for p in problems)
    assert any("ec2:CreateTags" in p and 'Resource "*"' in p for p in problems)


def test_addon_roles_exist_only_for_addons_the_platform_installs():
    run = program("prod", ["platform.awsLoadBalancerController.install=false",
                               "platform.clusterAutoscaler.install=false"], preview=True)
    names = {r.name for r in run.of_type("aws:iam/role:Role")}
    assert {"eks-cluster-role", "eks-node-role", "eks-ebs-csi"} <= names
    assert not names & {"eks-lb-controller", "eks-autoscaler"}
    off = program("prod", ["platform.enabled=false"], preview=True)
    assert not {r.name for r in off.of_type("aws:iam/role:Role")} & {"eks-lb-controller", "eks-autoscaler"}


def test_oidc_provider_and_eks_addons_with_ebs_csi_on_irsa(prod):
    oidc = only(prod, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    addons = {a.inputs["addonName"]: a for a in prod.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"}
    # NetworkPolicies are only enforced with the VPC CNI's network policy agent, which is off by default.
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    if not prod.preview:  # each add-on's default build for the cluster's own Kubernetes version
        for name, addon in addons.items():
            assert addon.inputs["addonVersion"] == addon_version(name, "1.34"), name
    ebs_role = prod.named("eks-ebs-csi")
    assert ebs_role.urn in addons["aws-ebs-csi-driver"].depends_on
    if not prod.preview:
        trust = json.loads(ebs_role.inputs["assumeRolePolicy"])
        (condition,) = [s["Condition"]["StringEquals"] for s in trust["Statement"]]
        subject = next(v for k, v in condition.items() if k.endswith(":sub"))
        assert subject == "system:serviceaccount:kube-system:ebs-csi-controller-sa"
        assert addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"].endswith(":eks-ebs-csi")


def test_storage_class_is_encrypted_gp3_with_at_least_1000_iops(prod):
    existing_with_class = program("dev", ["cluster.createStorageClass=true"], preview=prod.preview)
    for run in (prod, existing_with_class):
        storage_class = only(run, "kubernetes:storage.k8s.io/v1:StorageClass")
        manifest = to_manifest(storage_class)
        params = manifest["parameters"]
        assert params["type"] == "gp3" and params["encrypted"] == "true"
        assert int(params["iops"]) >= 1000 and int(params["iops"]) == 3000
        assert manifest["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        assert manifest["volumeBindingMode"] == "WaitForFirstConsumer"
        assert validate_manifest(manifest, "1.34") == ("ok", "")
    assert only(prod, "kubernetes:storage.k8s.io/v1:StorageClass").inputs["metadata"]["name"] == "gp3"


def test_existing_mode_creates_no_storage_class_unless_asked(dev):
    # The cluster's own storage is not ours to replace: no EBS class (and no second default) by default.
    assert not dev.of_type("kubernetes:storage.k8s.io/v1:StorageClass")


def _nlb_certificate(run: RunResult):
    (nlb,) = [r for r in run.of_type("kubernetes:core/v1:Service") if r.inputs["metadata"]["name"] == "api-service-alb"]
    return nlb.inputs["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"], nlb


def test_without_a_zone_the_records_are_output_and_the_nlb_waits_for_issuance(prod):
    """The first deploy's second phase is the same `up`: it prints the records and the NLB Service (whose
    listener needs an issued certificate) is created only once ACM has issued it."""
    certificate = only(prod, "aws:acm/certificate:Certificate")
    assert certificate.inputs["domainName"] == "api.docrag.example.com"
    assert certificate.inputs["validationMethod"] == "DNS"
    issued = only(prod, "aws:acm/certificateValidation:CertificateValidation")
    assert "validationRecordFqdns" not in issued.inputs  # waits for whoever publishes the records
    arn, nlb = _nlb_certificate(prod)
    assert issued.urn in nlb.depends_on
    if not prod.preview:
        (record,) = prod.outputs["certificateValidationRecords"]
        assert record["type"] == "CNAME" and record["name"].startswith("_")
        assert arn == prod.outputs["certificateArn"] == issued.inputs["certificateArn"]
        assert arn.endswith(":certificate-acm")


def test_with_a_hosted_zone_the_nlb_gets_the_certificate_only_once_validated():
    for preview in (False, True):
        run = program("prod", ["cluster.route53ZoneId=Z0123456789ABC"], preview=preview)
        certificate = only(run, "aws:acm/certificate:Certificate")
        record = only(run, "aws:route53/record:Record")
        validation = only(run, "aws:acm/certificateValidation:CertificateValidation")
        assert record.inputs["zoneId"] == "Z0123456789ABC"
        assert {certificate.urn, record.urn} <= set(validation.depends_on)
        arn, nlb = _nlb_certificate(run)
        assert validation.urn in nlb.depends_on  # the NLB Service waits for issuance
        assert "certificateValidationRecords" not in run.outputs
        if not preview:
            assert record.inputs["name"] == "_0123456789abcdef.api.docrag.example.com."
            assert record.inputs["records"] == ["_fedcba9876543210.acm-validations.aws."]
            assert arn == run.outputs["certificateArn"] == validation.inputs["certificateArn"]


def test_an_existing_certificate_arn_creates_no_certificate():
    run = program("prod", [f"cluster.certificateArn={CERT_ARN}"])
    assert not [r for r in run.resources if r.type.startswith(("aws:acm/", "aws:route53/"))]
    assert run.outputs["certificateArn"] == CERT_ARN == _nlb_certificate(run)[0]
    assert "certificateValidationRecords" not in run.outputs


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
        assert "env" not in user["user"]["exec"] and "--role-arn" not in user["user"]["exec"]["args"]
        assert kubeconfig["clusters"][0]["cluster"]["server"] == prod.outputs["clusterEndpoint"]


def test_kubeconfig_authenticates_as_the_aws_provider_profile_and_role():
    config = load_stack_config("prod")
    config.foreign["aws:profile"] = "doc-rag-ops"
    config.foreign["aws:assumeRoles"] = [{"roleArn": "arn:aws:iam::123456789012:role/deployer"}]
    run = run_program("prod", stack_config=config)
    (user,) = json.loads(run.outputs["kubeconfig"]["value"])["users"]
    exec_ = user["user"]["exec"]
    assert exec_["env"] == [{"name": "AWS_PROFILE", "value": "doc-rag-ops"}]
    assert exec_["args"][-2:] == ["--role-arn", "arn:aws:iam::123456789012:role/deployer"]


# -- every Kubernetes object on the one explicit provider ---------------------------------------------------

def test_every_kubernetes_resource_uses_the_explicit_provider(prod, dev):
    for run in (prod, dev):
        provider = only(run, "pulumi:providers:kubernetes")
        k8s = [r for r in run.resources if r.custom and r.type.startswith("kubernetes:")]
        assert len(k8s) > 5
        strays = [r.name for r in k8s if not r.provider.startswith(provider.urn + "::")]
        assert not strays, f"on the default provider: {strays}"
        assert run.config.foreign["pulumi:disable-default-providers"] == ["kubernetes"], run.stack


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
    run = program("dev", ["cluster.kubeconfig=apiVersion: v1"])
    assert is_secret(only(run, "pulumi:providers:kubernetes").inputs["kubeconfig"])


# -- bad config: stopped before anything is registered, message names the key -----------------------------

BAD = yaml.safe_load((FIXTURES / "bad_config.yaml").read_text())


def test_a_missing_acme_email_is_refused_naming_the_key():
    config = load_stack_config("prod")
    del config.values["platform"]["acmeEmail"]
    with pytest.raises(ConfigError, match=r"- platform\.acmeEmail: required with clusterIssuer: true"):
        run_program("prod", stack_config=config)
    config.values["platform"]["clusterIssuer"] = False  # no issuer, no contact needed
    assert not run_program("prod", stack_config=config, preview=True).of_type(
        "kubernetes:cert-manager.io/v1:ClusterIssuer")


@pytest.mark.parametrize("case", BAD, ids=[" ".join(c["set"]) for c in BAD])
def test_bad_cluster_config_is_rejected_naming_the_key(case):
    with pytest.raises(ConfigError) as raised:
        program(case["stack"], case["set"])
    message = str(raised.value)
    assert any(line.strip().startswith(f"- {case['key']}") for line in message.splitlines()), message
    assert case["allowed"] in message



# -- ordering: nothing starts before what it needs exists ----------------------------------------------------

def _attachments_of(run: RunResult, role: Registered) -> list[Registered]:
    return [r for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if r.name.startswith(f"{role.name}-")]


def test_irsa_consumers_wait_for_their_roles_policy_attachments(prod):
    """A pod that assumes its role before the policies are attached gets AccessDenied and backs off."""
    releases = {r.inputs["name"]: r for r in prod.of_type("kubernetes:helm.sh/v3:Release")}
    (ebs_addon,) = [a for a in prod.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-ebs-csi-driver"]
    consumers = {
        "eks-ebs-csi": ebs_addon,
        "eks-lb-controller": releases["aws-load-balancer-controller"],
        "eks-autoscaler": releases["cluster-autoscaler"],
    }
    for role_name, consumer in consumers.items():
        attachments = _attachments_of(prod, prod.named(role_name))
        assert attachments, role_name
        missing = [a.name for a in attachments if a.urn not in consumer.depends_on]
        assert missing == [], f"{consumer.name} does not wait for {missing}"


def test_volume_claimants_wait_for_the_storage_class_they_claim(prod):
    storage_class = only(prod, "kubernetes:storage.k8s.io/v1:StorageClass")
    claimants = [s for s in prod.of_type("kubernetes:apps/v1:StatefulSet")
                 if any(claim["spec"].get("storageClassName") == storage_class.inputs["metadata"]["name"]
                        for claim in s.inputs["spec"].get("volumeClaimTemplates", []))]
    assert {s.name for s in claimants} == {"postgres", "redis", "prometheus"}
    for statefulset in claimants:
        assert storage_class.urn in statefulset.depends_on, statefulset.name


def test_the_kubernetes_provider_leaves_delete_unreachable_to_the_operator(monkeypatch):
    """Set in the provider's inputs, deleteUnreachable would override PULUMI_K8S_DELETE_UNREACHABLE (the
    provider reads the env var only when the input is absent) and make a refresh from a runner off the VPN
    drop every Kubernetes object of a running cluster from state (docs/cluster.md "When the cluster is gone")."""
    monkeypatch.delenv("PULUMI_K8S_DELETE_UNREACHABLE", raising=False)
    provider = only(run_program("prod"), "pulumi:providers:kubernetes")
    assert "deleteUnreachable" not in provider.inputs
