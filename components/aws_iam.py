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


# The tag the AWS Load Balancer Controller puts on everything it creates; its IAM policy lets it change only
# resources that carry it, so it can never claim another application's load balancers or security groups.
LB_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
# The guard on AddTags/RemoveTags/DeleteTags of existing resources: the resource must already be the
# controller's (ResourceTag present) and the request must not touch the ownership tag (RequestTag absent).
OWN_RESOURCE_TAG_CHANGE = {"Null": {f"aws:RequestTag/{LB_CLUSTER_TAG}": "true",
                                    f"aws:ResourceTag/{LB_CLUSTER_TAG}": "false"}}
OWN_RESOURCE = {"Null": {f"aws:ResourceTag/{LB_CLUSTER_TAG}": "false"}}
TAGGED_ON_CREATE = {"Null": {f"aws:RequestTag/{LB_CLUSTER_TAG}": "false"}}
ELB_ARN = "arn:aws:elasticloadbalancing:*:*:"
LB_AND_TARGET_GROUP_ARNS = [f"{ELB_ARN}targetgroup/*/*", f"{ELB_ARN}loadbalancer/net/*/*",
                            f"{ELB_ARN}loadbalancer/app/*/*"]
LISTENER_ARNS = [f"{ELB_ARN}listener/net/*/*/*", f"{ELB_ARN}listener/app/*/*/*",
                 f"{ELB_ARN}listener-rule/net/*/*/*", f"{ELB_ARN}listener-rule/app/*/*/*"]
SECURITY_GROUP_ARN = "arn:aws:ec2:*:*:security-group/*"


def load_balancer_controller_policy() -> dict[str, Any]:
    """The controller's upstream policy (kubernetes-sigs/aws-load-balancer-controller docs/install/
    iam_policy.json at v3.5.0, the chart version pinned in config), statement for statement: read what it
    discovers; create load balancers, target groups and security groups only with the ownership tag; change,
    tag or delete only resources that already carry it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ElbServiceLinkedRole",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
            },
            {
                "Sid": "Discover",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
                    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
                    "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage",
                    "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
                    "ec2:DescribeRouteTables",
                    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
                    "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
                    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
                    "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
                    "elasticloadbalancing:DescribeCapacityReservation",
                ],
                "Resource": "*",
            },
            {
                "Sid": "CertificatesWafShield",
                "Effect": "Allow",
                "Action": [
                    "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
                    "iam:ListServerCertificates", "iam:GetServerCertificate",
                    "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL",
                    "waf-regional:DisassociateWebACL", "wafv2:GetWebACL", "wafv2:GetWebACLForResource",
                    "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "shield:GetSubscriptionState",
                    "shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection",
                ],
                "Resource": "*",
            },
            {
                # Upstream allows these on any group: the controller edits rules of the node security
                # group, which it did not create.
                "Sid": "SecurityGroupRules",
                "Effect": "Allow",
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                "Resource": "*",
            },
            {"Sid": "CreateSecurityGroup", "Effect": "Allow", "Action": ["ec2:CreateSecurityGroup"], "Resource": "*"},
            {
                "Sid": "TagSecurityGroupOnCreate",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": SECURITY_GROUP_ARN,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **TAGGED_ON_CREATE},
            },
            {
                "Sid": "TagOwnSecurityGroups",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
                "Resource": SECURITY_GROUP_ARN,
                "Condition": OWN_RESOURCE_TAG_CHANGE,
            },
            {
                "Sid": "ChangeOwnSecurityGroups",
                "Effect": "Allow",
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
                           "ec2:DeleteSecurityGroup"],
                "Resource": "*",
                "Condition": OWN_RESOURCE,
            },
            {
                "Sid": "CreateTaggedLoadBalancers",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
                "Resource": "*",
                "Condition": TAGGED_ON_CREATE,
            },
            {
                "Sid": "Listeners",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
                           "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule"],
                "Resource": "*",
            },
            {
                "Sid": "TagOwnLoadBalancers",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                "Resource": LB_AND_TARGET_GROUP_ARNS,
                "Condition": OWN_RESOURCE_TAG_CHANGE,
            },
            {
                "Sid": "TagListeners",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                "Resource": LISTENER_ARNS,
            },
            {
                "Sid": "ChangeOwnLoadBalancers",
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
                    "elasticloadbalancing:ModifyIpPools",
                ],
                "Resource": "*",
                "Condition": OWN_RESOURCE,
            },
            {
                "Sid": "TagLoadBalancersOnCreate",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:AddTags"],
                "Resource": LB_AND_TARGET_GROUP_ARNS,
                "Condition": {
                    "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
                    **TAGGED_ON_CREATE,
                },
            },
            {
                "Sid": "Targets",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                "Resource": f"{ELB_ARN}targetgroup/*/*",
            },
            {
                "Sid": "ListenerSettings",
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
                    "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities",
                ],
                "Resource": "*",
            },
        ],
    }


# Actions that change or re-tag existing load balancers, target groups or security groups: a statement
# allowing one of them on a resource must carry an ownership guard, or the role could take over resources
# of other applications (e.g. re-tag their load balancer as ours, then delete it).
GUARDED_ACTIONS = frozenset({
    "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
    "ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup",
})
# Resources the controller may tag without an ownership guard: listeners and rules, which it creates only
# on load balancers that are already its own (upstream does the same).
_UNGUARDED_TAG_RESOURCES = frozenset(LISTENER_ARNS)


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return {action} if isinstance(action, str) else set(action)


def _resources(statement: dict[str, Any]) -> set[str]:
    resource = statement.get("Resource", [])
    return {resource} if isinstance(resource, str) else set(resource)


def _ownership_guard(condition: dict[str, Any]) -> bool:
    """Requires the resource to carry the ownership tag, or the request to add it at creation."""
    null = condition.get("Null", {})
    return (null.get(f"aws:ResourceTag/{LB_CLUSTER_TAG}") == "false"
            or null.get(f"aws:RequestTag/{LB_CLUSTER_TAG}") == "false")


def unguarded_lb_controller_grants(policy: dict[str, Any]) -> list[str]:
    """Statements that would let the LB controller change, tag or delete resources it does not own."""
    problems = []
    for index, statement in enumerate(policy.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        risky = sorted(_actions(statement) & GUARDED_ACTIONS)
        if not risky or _resources(statement) <= _UNGUARDED_TAG_RESOURCES:
            continue
        label = statement.get("Sid", f"#{index}")
        condition = statement.get("Condition", {})
        if not _ownership_guard(condition):
            problems.append(f"{label}: {risky} on {sorted(_resources(statement))} without an ownership tag guard")
            continue
        tagging = {"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "ec2:CreateTags",
                   "ec2:DeleteTags"} & set(risky)
        created = condition.get("StringEquals", {}).keys() & {"ec2:CreateAction", "elasticloadbalancing:CreateAction"}
        # Re-tagging an existing resource must also keep the request away from the ownership tag itself.
        if tagging and not created and condition.get("Null", {}).get(f"aws:RequestTag/{LB_CLUSTER_TAG}") != "true":
            problems.append(f"{label}: {sorted(tagging)} may rewrite the {LB_CLUSTER_TAG} tag")
        if "*" in _resources(statement) and tagging:
            problems.append(f"{label}: {sorted(tagging)} on every resource type (Resource \"*\")")
    return problems
