"""Rules on the cluster's capacity: enough nodes for the replicas, fast enough volumes (at least 1000 IOPS)."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from policies.k8s import dig, kind_of, name_of, to_int
from policies.model import ResourceRule, Settings

NODE_GROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"


def check_node_group(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    if type_ != NODE_GROUP_TYPE:
        return
    minimum = to_int(settings["minSize"])
    size = to_int(dig(props, "scalingConfig", "minSize"))
    if size is None:
        yield "node group sets no scalingConfig.minSize"
    elif minimum is not None and size < minimum:
        yield f"node group scalingConfig.minSize is {size}; at least {minimum} nodes are required"


def check_storage_class(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    if kind_of(type_) != "StorageClass" or not type_.startswith("kubernetes:"):
        return
    minimum = to_int(settings["minIops"])
    iops = to_int(dig(props, "parameters", "iops"))
    if iops is None:
        yield f"StorageClass {name_of(props)!r} sets no parameters.iops (at least {minimum} required)"
    elif minimum is not None and iops < minimum:
        yield f"StorageClass {name_of(props)!r} has parameters.iops {iops}; at least {minimum} required"


NODE_GROUP_MIN_SIZE = ResourceRule(
    name="node-group-min-size",
    description="EKS node groups keep at least 3 nodes (scalingConfig.minSize).",
    level="mandatory",
    config={"minSize": {"type": "integer", "minimum": 1, "default": 3, "description": "smallest allowed minSize"}},
    check=check_node_group,
)
STORAGE_CLASS_IOPS = ResourceRule(
    name="storage-class-iops",
    description="StorageClasses provision at least 1000 IOPS (parameters.iops).",
    level="mandatory",
    config={"minIops": {"type": "integer", "minimum": 1, "default": 1000, "description": "smallest allowed iops"}},
    check=check_storage_class,
)

RULES = [NODE_GROUP_MIN_SIZE, STORAGE_CLASS_IOPS]
