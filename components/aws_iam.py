"""The AWS identities the cluster add-ons run as: service accounts, discovery tags and their IAM policies.

Both sides read these names: the eks layer binds an IAM role to each service account, the platform layer
installs the chart under that same service account, so the two can never drift apart.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class ServiceAccount(NamedTuple):
    namespace: str
    name: str


EBS_CSI_SA = ServiceAccount("kube-system", "ebs-csi-controller-sa")
LB_CONTROLLER_SA = ServiceAccount("kube-system", "aws-load-balancer-controller")
AUTOSCALER_SA = ServiceAccount("kube-system", "cluster-autoscaler")

MANAGED = "arn:aws:iam::aws:policy/"
CLUSTER_POLICIES = (f"{MANAGED}AmazonEKSClusterPolicy", f"{MANAGED}AmazonEKSVPCResourceController")
NODE_POLICIES = (
    f"{MANAGED}AmazonEKSWorkerNodePolicy",
    f"{MANAGED}AmazonEKS_CNI_Policy",
    f"{MANAGED}AmazonEC2ContainerRegistryReadOnly",
    f"{MANAGED}AmazonSSMManagedInstanceCore",  # shell access through SSM instead of SSH keys
)
EBS_CSI_POLICIES = (f"{MANAGED}service-role/AmazonEBSCSIDriverPolicy",)


def autoscaler_discovery_tags(cluster_name: str) -> dict[str, str]:
    """The tags cluster-autoscaler's `--node-group-auto-discovery=asg:tag=...` looks for (the chart's
    autoDiscovery.clusterName builds exactly these two keys)."""
    return {
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{cluster_name}": "owned",
    }


def assume_role_policy(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def autoscaler_policy(cluster_name: str) -> dict[str, Any]:
    """Scale only groups carrying this cluster's discovery tags; read-only calls need `*`."""
    tag_conditions = {f"aws:ResourceTag/{key}": value for key, value in autoscaler_discovery_tags(cluster_name).items()}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ScaleOwnNodeGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": {"StringEquals": tag_conditions},
            },
            {
                "Sid": "Discover",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": "*",
            },
        ],
    }


def load_balancer_controller_policy() -> dict[str, Any]:
    """A condensed form of the controller's upstream iam_policy.json (v2.10): read anything it needs to
    discover, mutate only load balancers and security groups it tagged itself (elbv2.k8s.aws/cluster)."""
    own_resource = {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    tagging_on_create = {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
            },
            {
                "Effect": "Allow",
                "Action": [
                    "ec2:Describe*", "ec2:GetCoipPoolUsage", "ec2:GetSecurityGroupsForVpc",
                    "elasticloadbalancing:Describe*", "acm:ListCertificates", "acm:DescribeCertificate",
                    "iam:ListServerCertificates", "iam:GetServerCertificate", "cognito-idp:DescribeUserPoolClient",
                    "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL",
                    "wafv2:DisassociateWebACL", "shield:GetSubscriptionState", "shield:DescribeProtection",
                    "shield:CreateProtection", "shield:DeleteProtection",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateSecurityGroup"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": "arn:aws:ec2:*:*:security-group/*",
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **tagging_on_create},
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup"],
                "Resource": "*",
                "Condition": own_resource,
            },
            {
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
                "Resource": "*",
                "Condition": tagging_on_create,
            },
            {
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
                    "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyListenerAttributes",
                ],
                "Resource": "*",
                "Condition": own_resource,
            },
            {
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
                    "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
                    "elasticloadbalancing:ModifyRule",
                ],
                "Resource": "*",
            },
        ],
    }
