"""The EKS control plane, its managed node group, OIDC for IRSA, the core EKS add-ons and their IAM roles."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.aws_iam import (
    AUTOSCALER_SA,
    CLUSTER_POLICIES,
    EBS_CSI_POLICIES,
    EBS_CSI_SA,
    LB_CONTROLLER_SA,
    NODE_POLICIES,
    assume_role_policy,
    autoscaler_discovery_tags,
    autoscaler_policy,
    load_balancer_controller_policy,
)
from components.config import ClusterConfig
from components.irsa import IrsaRole, irsa_role
from components.network import Network

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
LOG_RETENTION_DAYS = 90
# A label and a name prefix, not a name: an instance-type change replaces the group, and Pulumi creates the
# replacement before deleting the old one, which a fixed name would collide with.
NODE_GROUP_NAME = "doc-rag-workers"
NODE_ROOT_DEVICE = "/dev/xvda"  # AL2023 AMIs
NODE_ROOT_GIB = 50
METADATA_HOP_LIMIT = 2
CLUSTER_ADMIN_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# vpc-cni's network policy agent is off unless asked for: without it no NetworkPolicy is enforced.
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}


@dataclass(frozen=True)
class AwsIdentity:
    """How the kubeconfig's `aws eks get-token` authenticates: as the Pulumi AWS provider does."""

    profile: Optional[str] = None  # aws:profile
    role_arn: Optional[str] = None  # the last role of aws:assumeRoles


def provider_identity() -> AwsIdentity:
    config = pulumi.Config("aws")
    roles = config.get_object("assumeRoles")
    role_arn = None
    if isinstance(roles, list) and roles and isinstance(roles[-1], dict):
        role_arn = roles[-1].get("roleArn")
    return AwsIdentity(profile=config.get("profile"), role_arn=role_arn)


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str,
               identity: AwsIdentity = AwsIdentity()) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived credential inside), as the
    same profile / role the Pulumi AWS provider uses, so the provider and kubectl see the same cluster."""
    args = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]
    if identity.role_arn:
        args += ["--role-arn", identity.role_arn]
    user: dict[str, Any] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": args,
        "interactiveMode": "Never",
    }
    if identity.profile:
        user["env"] = [{"name": "AWS_PROFILE", "value": identity.profile}]
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": user}}],
    })


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    oidcs = identities[0].oidcs if identities else None
    issuer = oidcs[0].issuer if oidcs else None
    if not issuer:  # every EKS cluster has one; without it no IRSA trust policy can be written
        raise pulumi.RunError("the EKS cluster reported no OIDC issuer (identities[0].oidcs[0].issuer)")
    return issuer


def _stable_suffix(value: str) -> str:
    """A resource-name suffix per list entry (a principal, a CIDR), so reordering the list replaces nothing."""
    return hashlib.sha256(value.encode()).hexdigest()[:10]


@dataclass
class EksArgs:
    config: ClusterConfig
    cluster_name: str
    kubernetes_version: str
    network: Network
    region: pulumi.Input[str]
    addon_roles: frozenset[str] = frozenset()  # the platform add-ons that get an IRSA role (cluster.IRSA_ADDONS)


class Eks(pulumi.ComponentResource):
    """`cluster_name` is fixed at program time so subnet and autoscaler tags can name it."""

    cluster: aws.eks.Cluster
    node_group: aws.eks.NodeGroup
    node_role: aws.iam.Role
    oidc: aws.iam.OpenIdConnectProvider
    addons: dict[str, aws.eks.Addon]
    lb_controller_role: Optional[IrsaRole] = None  # only when the platform installs the controller
    autoscaler_role: Optional[IrsaRole] = None  # only when the platform installs cluster-autoscaler
    kubeconfig: pulumi.Output[str]  # secret

    def __init__(self, name: str, args: EksArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:eks:Eks", name, None, opts)
        config, cluster_name, kubernetes_version = args.config, args.cluster_name, args.kubernetes_version
        network, region, addon_roles = args.network, args.region, args.addon_roles
        self.cluster_name = cluster_name

        def child(**kwargs) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, **kwargs)

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role", assume_role_policy=json.dumps(assume_role_policy("eks.amazonaws.com")), opts=child()
        )
        cluster_attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-cluster-{i}", role=cluster_role.name, policy_arn=arn, opts=child())
            for i, arn in enumerate(CLUSTER_POLICIES)
        ]
        # Kubernetes Secrets are envelope-encrypted with a key of our own, rotated yearly.
        secrets_key = aws.kms.Key(
            f"{name}-secrets", description=f"{cluster_name} Kubernetes Secrets envelope encryption",
            enable_key_rotation=True, deletion_window_in_days=30, opts=child(),
        )
        # EKS writes control-plane logs to this group; created first so it never auto-creates one that
        # keeps logs forever.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs", name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=LOG_RETENTION_DAYS, opts=child(),
        )
        private_ids = [subnet.id for subnet in network.private_subnets]
        self.cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=kubernetes_version,
            role_arn=cluster_role.arn,
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=private_ids,
                endpoint_private_access=True,
                endpoint_public_access=config.endpointPublicAccess,
                public_access_cidrs=config.endpointPublicAccessCidrs if config.endpointPublicAccess else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn)
            ),
            opts=child(depends_on=[*cluster_attachments, self.log_group]),
        )
        self.admin_access = self._admins(name, config.adminPrincipalArns)
        self.api_access = self._api_access(name, config)

        self.node_role = aws.iam.Role(
            f"{name}-node-role", assume_role_policy=json.dumps(assume_role_policy("ec2.amazonaws.com")), opts=child()
        )
        node_attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{i}", role=self.node_role.name, policy_arn=arn, opts=child())
            for i, arn in enumerate(NODE_POLICIES)
        ]
        self.addons = {
            # The CNI must be there before nodes join, or they never become Ready.
            "vpc-cni": self._addon(name, "vpc-cni", configuration=VPC_CNI_CONFIGURATION),
            "kube-proxy": self._addon(name, "kube-proxy"),
        }
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes",
            name_prefix=f"{cluster_name}-nodes-",
            # IMDSv2 only, two hops (the limit EKS's own launch template sets): the EBS CSI node plugin runs in
            # a pod, one hop further, and reads the instance type, zone and attached ENIs from IMDS to count
            # the volumes the node can still attach. At one hop it falls back to Kubernetes metadata and
            # misestimates that limit, so the scheduler places Postgres where its volume cannot attach. What
            # two hops would open to every pod (the node role's credentials) our NetworkPolicies close:
            # components/network_policies.py INSTANCE_METADATA.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=METADATA_HOP_LIMIT,
            ),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=NODE_ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_type="gp3", volume_size=NODE_ROOT_GIB, encrypted="true", delete_on_termination="true",
                ),
            )],
            tags={"Name": f"{cluster_name}-nodes"},
            opts=child(),
        )
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=self.cluster.name,
            node_group_name_prefix=f"{NODE_GROUP_NAME}-",
            # The kubelet follows the control plane: an upgrade of kubernetesVersion rolls the nodes too.
            version=self.cluster.version,
            node_role_arn=self.node_role.arn,
            subnet_ids=private_ids,  # nodes never get a public address
            instance_types=[config.nodeInstanceType],
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=self.launch_template.id, version=self.launch_template.latest_version.apply(str),
            ),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=config.minNodes, desired_size=config.desiredNodes, max_size=config.maxNodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={"doc-rag/node-group": NODE_GROUP_NAME},
            # EKS puts the same discovery tags on the group's ASG; here they document which group scales.
            tags=autoscaler_discovery_tags(cluster_name),
            # cluster-autoscaler owns the desired size once the group exists; an update must not reset it.
            opts=child(depends_on=[*node_attachments, self.addons["vpc-cni"]],
                       ignore_changes=["scalingConfig.desiredSize"]),
        )

        issuer = self.cluster.identities.apply(_oidc_issuer)
        self.oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], opts=child()
        )
        ebs_role = irsa_role(
            f"{name}-ebs-csi", oidc=self.oidc, issuer=issuer, role_name=f"{cluster_name}-{EBS_CSI_SA.name}",
            namespace=EBS_CSI_SA.namespace,
            service_account=EBS_CSI_SA.name, parent=self, managed_policy_arns=EBS_CSI_POLICIES,
        )
        # Roles only for the add-ons this stack installs: an unused role is standing access nobody watches.
        if "awsLoadBalancerController" in addon_roles:
            self.lb_controller_role = irsa_role(
                f"{name}-lb-controller", oidc=self.oidc, issuer=issuer,
                role_name=f"{cluster_name}-{LB_CONTROLLER_SA.name}", namespace=LB_CONTROLLER_SA.namespace,
                service_account=LB_CONTROLLER_SA.name, parent=self, policy=load_balancer_controller_policy(),
            )
        if "clusterAutoscaler" in addon_roles:
            self.autoscaler_role = irsa_role(
                f"{name}-autoscaler", oidc=self.oidc, issuer=issuer, role_name=f"{cluster_name}-{AUTOSCALER_SA.name}",
                namespace=AUTOSCALER_SA.namespace,
                service_account=AUTOSCALER_SA.name, parent=self, policy=autoscaler_policy(cluster_name),
            )
        # These run as pods, so they wait for nodes.
        self.addons["coredns"] = self._addon(name, "coredns", depends_on=[self.node_group])
        self.addons["aws-ebs-csi-driver"] = self._addon(
            name, "aws-ebs-csi-driver", role_arn=ebs_role.arn, depends_on=[self.node_group, *ebs_role.attachments]
        )

        identity = provider_identity()
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.cluster.endpoint,
                              self.cluster.certificate_authority.apply(lambda ca: ca.data if ca else None),
                              region).apply(lambda args: kubeconfig(args[0], args[1], args[2], args[3], identity))
        )
        self.register_outputs({
            "clusterName": self.cluster.name,
            "endpoint": self.cluster.endpoint,
            "nodeRoleArn": self.node_role.arn,
        })

    def _api_access(self, name: str, config: ClusterConfig) -> list[aws.vpc.SecurityGroupIngressRule]:
        """HTTPS to the private endpoint from the configured networks and security groups. EKS's cluster
        security group admits only itself (the control plane and the nodes); without these rules a runner in
        the VPC, a peered network or on a VPN reaches the endpoint's address and is dropped."""
        group = self.cluster.vpc_config.cluster_security_group_id
        # (source, as a CIDR, as a security group): exactly one of the two is set.
        sources: list[tuple[str, Optional[str], Optional[str]]] = [
            *((cidr, cidr, None) for cidr in config.apiAccessCidrs),
            *((group_id, None, group_id) for group_id in config.apiAccessSecurityGroupIds),
        ]
        return [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-from-{_stable_suffix(source)}", security_group_id=group, ip_protocol="tcp",
                from_port=443, to_port=443, cidr_ipv4=cidr, referenced_security_group_id=source_group,
                description=f"Kubernetes API from {source} (cluster.apiAccess*)",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for source, cidr, source_group in sources
        ]

    def _admins(self, name: str, principal_arns: Sequence[str]) -> list[aws.eks.AccessPolicyAssociation]:
        """Cluster-admin access entries (API authentication mode) for the configured IAM principals."""
        associations = []
        for arn in principal_arns:
            key = _stable_suffix(arn)
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{key}", cluster_name=self.cluster.name, principal_arn=arn, type="STANDARD",
                opts=pulumi.ResourceOptions(parent=self),
            )
            associations.append(aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{key}",
                cluster_name=self.cluster.name,
                principal_arn=arn,
                policy_arn=CLUSTER_ADMIN_POLICY.format(partition=arn.split(":")[1]),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
            ))
        return associations

    def _addon(self, name: str, addon: str, role_arn: Optional[pulumi.Input[str]] = None,
               configuration: Optional[dict[str, Any]] = None,
               depends_on: Optional[list[pulumi.Resource]] = None) -> aws.eks.Addon:
        # The add-on's default build for the cluster's Kubernetes version: upgrading kubernetesVersion moves
        # every add-on with it instead of leaving whatever version it was first created with.
        version = aws.eks.get_addon_version_output(
            addon_name=addon, kubernetes_version=self.cluster.version, most_recent=False
        ).version
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            addon_version=version,
            configuration_values=json.dumps(configuration) if configuration else None,
            service_account_role_arn=role_arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
        )
