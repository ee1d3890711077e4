"""What a stack costs each month: the plan's registered resources × the committed price table.

Quantities come from the inputs the program registered (instance type × desired nodes, volume sizes, IOPS
and throughput above gp3's included baseline, NAT gateways, addresses, claims × replicas); charges that
depend on traffic come from `costAssumptions` in stack config and say so on their line. Every resource is
either priced, known to carry no charge (prices.yaml `noCharge`) or listed as not priced; nothing is dropped.
Amounts are Decimals rounded to the cent per line, so a hand-computed total matches exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Optional

from components.config import CostAssumptionsConfig
from ops.cost.price_table import PriceTable, RegionPrices
from ops.stackconfig import PROJECT_DIR

CENT = Decimal("0.01")
GP3_BASELINE_IOPS, GP3_BASELINE_THROUGHPUT = 3000, 125  # included in gp3's storage price
EBS_CSI = "ebs.csi.aws.com"
AWS_NLB_CLASS = "service.k8s.aws/nlb"
LB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
LB_SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"
PUBLIC_LB_SUBNET_TAG = "kubernetes.io/role/elb"  # the subnets an internet-facing NLB takes an address in
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
EKS_CONTROL_PLANE_LOGS = re.compile(r"^/aws/eks/[^/]+/cluster$")
ALL = "(all)"  # the name on a line that charges every resource of its type together
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_BYTES = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


class NotPriced(Exception):
    """This resource (or one of its charges) cannot be priced; the message says why."""


@dataclass(frozen=True)
class Line:
    type: str
    name: str
    item: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    assumption: str = ""  # the costAssumptions key a data-dependent quantity comes from

    @property
    def monthly(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)

    def as_dict(self) -> dict[str, Any]:
        line = {"type": self.type, "name": self.name, "item": self.item, "quantity": _number(self.quantity),
                "unit": self.unit, "unitPrice": _number(self.unit_price), "monthly": float(self.monthly)}
        return {**line, "assumption": self.assumption} if self.assumption else line


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def gibibytes(quantity: Any) -> int:
    """A Kubernetes quantity as whole GiB, rounded up as the EBS CSI driver provisions it."""
    match = _QUANTITY.match(str(quantity))
    if not match:
        raise NotPriced(f"storage {quantity!r} is not a quantity such as 100Gi")
    size = Decimal(match.group(1)) * _BYTES[match.group(2)]
    return max(1, math.ceil(size / 2**30))


def _count(value: Any, what: str) -> int:
    """A whole number >= 0 from registered inputs (StorageClass parameters are strings); unknown or odd
    values make the item not priced rather than guessed."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise NotPriced(f"{what} is {value!r}, not a known whole number")
    return int(value)


class Estimator:
    """One estimate: the resources of one plan, in one region, under one set of assumptions."""

    def __init__(self, resources: list[dict[str, Any]], region: RegionPrices, table: PriceTable,
                 assumptions: CostAssumptionsConfig):
        self.resources, self.region, self.table, self.assumptions = resources, region, table, assumptions
        self.hours = Decimal(table.hours_per_month)
        self.lines: list[Line] = []
        self.not_priced: list[dict[str, str]] = []
        self.no_charge: dict[str, int] = {}
        self._egress_priced = False

    # -- helpers ---------------------------------------------------------------------------------------
    def price(self, key: str) -> Decimal:
        return Decimal(self.region.prices[key].usd)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [resource for resource in self.resources if resource["type"] == type_]

    def add(self, resource: dict[str, Any], item: str, quantity: Decimal | int, unit: str, price_key: str,
            assumption: str = "", name: Optional[str] = None) -> None:
        if Decimal(quantity) > 0:
            self.lines.append(Line(resource["type"], name or resource["name"], item, Decimal(quantity), unit,
                                   self.price(price_key), assumption))

    def skip(self, resource: dict[str, Any], reason: str, item: str = "") -> None:
        self.not_priced.append({"type": resource["type"], "name": resource["name"],
                                **({"item": item} if item else {}), "reason": reason})

    # -- pricers, one per billable resource type -------------------------------------------------------
    def eks_cluster(self, resource: dict[str, Any]) -> None:
        self.add(resource, "control plane (standard support)", self.hours, "hour", "eksClusterHour")

    def node_group(self, resource: dict[str, Any]) -> None:
        inputs = resource["inputs"]
        if inputs.get("capacityType", "ON_DEMAND") != "ON_DEMAND":
            raise NotPriced(f"capacityType {inputs.get('capacityType')}: only on-demand prices are in the table")
        types = inputs.get("instanceTypes") or []
        if len(types) != 1:
            raise NotPriced(f"instanceTypes {types!r}: one instance type is priced, not a mix")
        price = self.region.instances.get(types[0])
        if price is None:
            raise NotPriced(f"instance type {types[0]} has no price for {self.region.region} in "
                            f"{_shown(self.table.path)} (add it to price it)")
        nodes = _count((inputs.get("scalingConfig") or {}).get("desiredSize"), "scalingConfig.desiredSize")
        # The item names the type, not the count: the count is the quantity, and items are what
        # `--compare` matches base and head lines by.
        self.lines.append(Line(resource["type"], resource["name"], f"{types[0]} nodes", nodes * self.hours,
                               "instance-hour", Decimal(price.usd)))

    def launch_template(self, resource: dict[str, Any]) -> None:
        nodes = self._nodes_launched_from(resource)
        for mapping in resource["inputs"].get("blockDeviceMappings") or []:
            ebs = mapping.get("ebs") or {}
            device = mapping.get("deviceName", "?")
            self._gp3(resource, f"root volume {device}", ebs.get("volumeType", "gp2"),
                      _count(ebs.get("volumeSize"), f"{device} volumeSize"), ebs.get("iops"), ebs.get("throughput"),
                      nodes)

    def nat_gateway(self, resource: dict[str, Any]) -> None:
        self.add(resource, "NAT gateway hours", self.hours, "hour", "natGatewayHour")

    def public_ip(self, resource: dict[str, Any]) -> None:
        self.add(resource, "public IPv4 address", self.hours, "hour", "publicIpv4Hour")

    def kms_key(self, resource: dict[str, Any]) -> None:
        self.add(resource, "customer managed key", 1, "key-month", "kmsKeyMonth")

    def log_group(self, resource: dict[str, Any]) -> None:
        inputs = resource["inputs"]
        if not EKS_CONTROL_PLANE_LOGS.match(str(inputs.get("name", ""))):
            raise NotPriced("log volume is data-dependent and only EKS control-plane logs have an assumption "
                            "(costAssumptions.controlPlaneLogGb)")
        gigabytes = Decimal(str(self.assumptions.controlPlaneLogGb))
        key = "costAssumptions.controlPlaneLogGb"
        self.add(resource, "logs ingested", gigabytes, "GB", "logsIngestedGb", assumption=key)
        retention = inputs.get("retentionInDays")
        if not retention:
            self.skip(resource, "logs are kept forever, so storage grows every month", "logs stored")
            return
        # Steady state: `retention` days of logs are stored (uncompressed size, an upper bound).
        stored = (gigabytes * _count(retention, "retentionInDays") / 30).quantize(Decimal("0.001"))
        self.add(resource, "logs stored", stored, "GB-month", "logsStoredGbMonth", assumption=key)

    def service(self, resource: dict[str, Any]) -> None:
        spec = resource["inputs"].get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            self.no_charge[resource["type"]] = self.no_charge.get(resource["type"], 0) + 1
            return
        annotations = (resource["inputs"].get("metadata") or {}).get("annotations") or {}
        if spec.get("loadBalancerClass") != AWS_NLB_CLASS and annotations.get(LB_TYPE_ANNOTATION) not in (
                "external", "nlb", "nlb-ip"):
            raise NotPriced("a LoadBalancer Service without the AWS NLB class or annotation: the load balancer "
                            "it gets depends on the cluster")
        self.add(resource, "NLB hours", self.hours, "hour", "nlbHour")
        lcu = Decimal(str(self.assumptions.nlbLcuPerHour)) * self.hours
        self.add(resource, "NLB capacity units", lcu, "LCU-hour", "nlbLcuHour",
                 assumption="costAssumptions.nlbLcuPerHour")
        if annotations.get(LB_SCHEME_ANNOTATION) != "internet-facing":
            return
        subnets = [subnet for subnet in self.of_type("aws:ec2/subnet:Subnet")
                   if (subnet["inputs"].get("tags") or {}).get(PUBLIC_LB_SUBNET_TAG) == "1"]
        if subnets:
            self.add(resource, "public IPv4 addresses (one per public subnet)",
                     len(subnets) * self.hours, "hour", "publicIpv4Hour")
        else:
            self.skip(resource, "its public subnets are not in this stack, so their number is unknown",
                      "public IPv4 addresses")
        if not self._egress_priced:  # traffic leaves once, whichever load balancer carries it
            self._egress_priced = True
            self.add(resource, "data transfer out to the internet", Decimal(str(self.assumptions.internetEgressGb)),
                     "GB", "internetEgressGb", assumption="costAssumptions.internetEgressGb")

    def stateful_set(self, resource: dict[str, Any]) -> None:
        spec = resource["inputs"].get("spec") or {}
        claims = spec.get("volumeClaimTemplates") or []
        if not claims:  # its pods run on the priced nodes
            self.no_charge[resource["type"]] = self.no_charge.get(resource["type"], 0) + 1
            return
        replicas = _count(spec.get("replicas", 1), "spec.replicas")
        for claim in claims:
            self._claim(resource, (claim.get("metadata") or {}).get("name", "?"), claim.get("spec") or {}, replicas)

    def volume_claim(self, resource: dict[str, Any]) -> None:
        self._claim(resource, "volume", resource["inputs"].get("spec") or {}, 1)

    # -- shared by the pricers -------------------------------------------------------------------------
    def _claim(self, resource: dict[str, Any], claim: str, spec: dict[str, Any], replicas: int) -> None:
        try:
            size = gibibytes(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
            parameters = self._storage_class(spec.get("storageClassName"))
            self._gp3(resource, claim, parameters.get("type", "gp3"), size, parameters.get("iops"),
                      parameters.get("throughput"), replicas)
        except NotPriced as reason:
            self.skip(resource, str(reason), claim)

    def _storage_class(self, name: Optional[str]) -> dict[str, Any]:
        classes = self.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
        matches = [c for c in classes if (c["inputs"].get("metadata") or {}).get("name") == name] if name else [
            c for c in classes
            if ((c["inputs"].get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
        if len(matches) != 1:
            raise NotPriced(f"storage class {name or '(default)'} is not registered by this stack, so its "
                            "volume type is unknown")
        if matches[0]["inputs"].get("provisioner") != EBS_CSI:
            raise NotPriced(f"storage class {name} is not provisioned by {EBS_CSI}")
        return matches[0]["inputs"].get("parameters") or {}

    def _gp3(self, resource: dict[str, Any], what: str, volume_type: Any, size: int, iops: Any, throughput: Any,
             copies: int) -> None:
        """`copies` volumes of one shape (one per node or per replica): storage, and IOPS and throughput above
        the baseline gp3 includes."""
        if volume_type != "gp3":
            raise NotPriced(f"{what}: volume type {volume_type!r}; the table prices gp3 only")
        iops_value = _count(GP3_BASELINE_IOPS if iops is None else iops, f"{what} iops")
        throughput_value = _count(GP3_BASELINE_THROUGHPUT if throughput is None else throughput, f"{what} throughput")
        self.add(resource, f"{what}: gp3 storage", size * copies, "GB-month", "gp3StorageGbMonth")
        self.add(resource, f"{what}: gp3 IOPS above {GP3_BASELINE_IOPS}",
                 max(0, iops_value - GP3_BASELINE_IOPS) * copies, "IOPS-month", "gp3IopsMonth")
        self.add(resource, f"{what}: gp3 throughput above {GP3_BASELINE_THROUGHPUT} MB/s",
                 max(0, throughput_value - GP3_BASELINE_THROUGHPUT) * copies, "MBps-month", "gp3ThroughputMonth")

    def _nodes_launched_from(self, template: dict[str, Any]) -> int:
        """Desired nodes of the node groups using this launch template. The plan's mocks give each resource the
        id `<name>-id` (ops/mocks.py); during a preview the id is unknown, and a lone template is the one."""
        templates = self.of_type("aws:ec2/launchTemplate:LaunchTemplate")
        nodes = 0
        for group in self.of_type("aws:eks/nodeGroup:NodeGroup"):
            reference = (group["inputs"].get("launchTemplate") or {})
            if reference.get("id") == f"{template['name']}-id" or reference.get("name") == template["inputs"].get(
                    "name") or (reference and len(templates) == 1):
                nodes += _count((group["inputs"].get("scalingConfig") or {}).get("desiredSize"),
                                "scalingConfig.desiredSize")
        return nodes

    # -- the whole estimate ----------------------------------------------------------------------------
    def pricers(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {
            "aws:eks/cluster:Cluster": self.eks_cluster,
            "aws:eks/nodeGroup:NodeGroup": self.node_group,
            "aws:ec2/launchTemplate:LaunchTemplate": self.launch_template,
            "aws:ec2/natGateway:NatGateway": self.nat_gateway,
            "aws:ec2/eip:Eip": self.public_ip,
            "aws:kms/key:Key": self.kms_key,
            "aws:cloudwatch/logGroup:LogGroup": self.log_group,
            "kubernetes:core/v1:Service": self.service,
            "kubernetes:apps/v1:StatefulSet": self.stateful_set,
            "kubernetes:core/v1:PersistentVolumeClaim": self.volume_claim,
        }

    def run(self) -> None:
        pricers = self.pricers()
        for resource in self.resources:
            pricer = pricers.get(resource["type"])
            if pricer is not None:
                try:
                    pricer(resource)
                except NotPriced as reason:
                    self.skip(resource, str(reason))
            elif self.table.no_charge_reason(resource["type"]) is not None:
                self.no_charge[resource["type"]] = self.no_charge.get(resource["type"], 0) + 1
            else:
                self.skip(resource, f"no price for this resource type in {_shown(self.table.path)}")
        gateways = self.of_type("aws:ec2/natGateway:NatGateway")
        if gateways:
            gigabytes = Decimal(str(self.assumptions.natDataProcessedGb))
            self.add(gateways[0], "data processed by the NAT gateways", gigabytes, "GB", "natGatewayDataGb",
                     assumption="costAssumptions.natDataProcessedGb", name=ALL)


def _shown(path: Any) -> str:
    try:
        return str(path.relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def estimate(resources: list[dict[str, Any]], region: Optional[str], table: PriceTable,
             assumptions: CostAssumptionsConfig) -> dict[str, Any]:
    """plan.json's `cost`: the monthly estimate, or a note saying why there is none (no region, or a region
    the table has no prices for)."""
    document: dict[str, Any] = {
        "currency": table.currency,
        "region": region,
        "priceTable": _shown(table.path),
        "priceListDate": None,
        "hoursPerMonth": table.hours_per_month,
        "assumptions": assumptions.model_dump(),
        "monthlyTotal": None,
        "lines": [],
        "notPriced": [],
        "noCharge": {},
        "notes": [],
    }
    if region is None:
        document["notes"].append("not priced: the stack sets no aws:region (a stack without AWS resources)")
        return document
    if region not in table.regions:
        document["notes"].append(f"not priced: {_shown(table.path)} has no prices for region {region} "
                                 f"(it has {', '.join(sorted(table.regions))}); add the region to price this stack")
        return document
    estimator = Estimator(resources, table.regions[region], table, assumptions)
    estimator.run()
    document["priceListDate"] = table.regions[region].read
    document["lines"] = [line.as_dict() for line in estimator.lines]
    document["monthlyTotal"] = float(sum((line.monthly for line in estimator.lines), Decimal("0.00")))
    document["notPriced"] = estimator.not_priced
    document["noCharge"] = dict(sorted(estimator.no_charge.items()))
    if estimator.not_priced:
        document["notes"].append(f"{len(estimator.not_priced)} item(s) not priced: the total leaves them out")
    return document
