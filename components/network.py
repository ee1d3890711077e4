"""The VPC the EKS cluster lives in: public subnets (NLB, NAT) and private subnets (nodes) in every zone."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.config import ClusterConfig

# Subnet tags the AWS Load Balancer Controller uses to pick subnets for internet-facing / internal LBs.
PUBLIC_LB_TAG = "kubernetes.io/role/elb"
PRIVATE_LB_TAG = "kubernetes.io/role/internal-elb"
# The opt-in status of a region's standard availability zones (Local/Wavelength Zones are "opted-in").
STANDARD_ZONE_OPT_IN = "opt-in-not-required"
# Zone IDs where EKS creates no control plane (UnsupportedAvailabilityZoneException). Zone IDs, not names:
# us-east-1a is a different zone in every account, use1-az3 is the same one.
EKS_UNSUPPORTED_ZONE_IDS = ["use1-az3", "usw1-az2", "cac1-az3"]


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs: the VPC cut in 16 equal blocks, private from the start, public from the 9th."""
    blocks = list(ipaddress.ip_network(vpc_cidr).subnets(prefixlen_diff=4))
    return [str(b) for b in blocks[8:8 + zones]], [str(b) for b in blocks[:zones]]


def usable_zone_ids(zone_ids: Sequence[str], offered: Sequence[str], count: int, instance_type: str) -> list[str]:
    """The region's first `count` zones (EKS-supported, as listed) that offer the node instance type."""
    usable = [zone_id for zone_id in zone_ids if zone_id in set(offered)]
    if len(usable) < count:
        raise pulumi.RunError(
            f"cluster.availabilityZones asks for {count} zones but only {len(usable)} of the region's zones "
            f"support EKS and offer {instance_type}: {usable}; allowed: at most {len(usable)}, or another "
            "cluster.nodeInstanceType"
        )
    return usable[:count]


def _nth(index: int) -> Callable[[list[str]], str]:
    return lambda items: items[index]


@dataclass
class NetworkArgs:
    config: ClusterConfig
    cluster_name: str  # tagged on the subnets, for the load balancer controllers and the cluster


class Network(pulumi.ComponentResource):
    """VPC, internet gateway, one NAT gateway per zone (or a single one), route tables, LB subnet tags."""

    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    nat_gateways: list[aws.ec2.NatGateway]

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:network:Network", name, None, opts)
        config, cluster_name = args.config, args.cluster_name
        cluster_tag = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
        # Only the region's own zones: Local Zones and Wavelength Zones are "available" once opted in, but
        # have no EKS control-plane support, few instance types and no NAT gateway of their own. Of those, the
        # ones EKS supports and where the node type is offered, so neither the cluster nor the node group
        # fails on its first create.
        zones = aws.get_availability_zones_output(
            state="available",
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=[STANDARD_ZONE_OPT_IN])],
            exclude_zone_ids=EKS_UNSUPPORTED_ZONE_IDS,
        )
        offered = aws.ec2.get_instance_type_offerings_output(
            location_type="availability-zone-id",
            filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type",
                                                                values=[config.nodeInstanceType])],
        )
        zone_ids = pulumi.Output.all(zones.zone_ids, offered.locations).apply(
            lambda found: usable_zone_ids(found[0], found[1], config.availabilityZones, config.nodeInstanceType))
        public_cidrs, private_cidrs = subnet_cidrs(config.vpcCidr, config.availabilityZones)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=config.vpcCidr, enable_dns_hostnames=True, enable_dns_support=True,
            tags={"Name": f"{cluster_name}-vpc", **cluster_tag}, opts=pulumi.ResourceOptions(parent=self),
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": f"{cluster_name}-igw"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{cluster_name}-public"}, opts=pulumi.ResourceOptions(parent=self),
        )

        self.public_subnets, self.private_subnets, self.nat_gateways = [], [], []
        for index in range(config.availabilityZones):
            zone_id = zone_ids.apply(_nth(index))
            public = aws.ec2.Subnet(
                f"{name}-public-{index}", vpc_id=self.vpc.id, cidr_block=public_cidrs[index],
                availability_zone_id=zone_id, map_public_ip_on_launch=False,
                tags={"Name": f"{cluster_name}-public-{index}", PUBLIC_LB_TAG: "1", **cluster_tag},
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}", subnet_id=public.id, route_table_id=public_rt.id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.public_subnets.append(public)
            # perAz: a zone outage never cuts the other zones' egress. single: one NAT in the first zone.
            if config.natGateways == "perAz" or index == 0:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{index}", domain="vpc", tags={"Name": f"{cluster_name}-nat-{index}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                self.nat_gateways.append(aws.ec2.NatGateway(
                    f"{name}-nat-{index}", subnet_id=public.id, allocation_id=eip.id,
                    tags={"Name": f"{cluster_name}-nat-{index}"}, opts=pulumi.ResourceOptions(parent=self),
                ))

        for index in range(config.availabilityZones):
            zone_id = zone_ids.apply(_nth(index))
            nat = self.nat_gateways[index if config.natGateways == "perAz" else 0]
            private = aws.ec2.Subnet(
                f"{name}-private-{index}", vpc_id=self.vpc.id, cidr_block=private_cidrs[index],
                availability_zone_id=zone_id,
                tags={"Name": f"{cluster_name}-private-{index}", PRIVATE_LB_TAG: "1", **cluster_tag},
                opts=pulumi.ResourceOptions(parent=self),
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{index}", vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={"Name": f"{cluster_name}-private-{index}"}, opts=pulumi.ResourceOptions(parent=self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}", subnet_id=private.id, route_table_id=private_rt.id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.private_subnets.append(private)

        self.register_outputs({
            "vpcId": self.vpc.id,
            "publicSubnetIds": [s.id for s in self.public_subnets],
            "privateSubnetIds": [s.id for s in self.private_subnets],
        })
