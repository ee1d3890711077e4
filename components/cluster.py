"""The cluster layer: where Kubernetes runs and the one explicit Kubernetes provider to reach it."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import ClusterConfig


class Cluster(pulumi.ComponentResource):
    """`existing` mode: no AWS at all, ambient or configured kubeconfig, or render YAML to a directory."""

    provider: k8s.Provider
    certificate_arn: Optional[pulumi.Output[str]] = None  # ACM certificate for the NLB (eks mode)
    storage_class_name: str = "gp3"  # the SSD StorageClass workloads claim volumes from

    def __init__(self, name: str, config: ClusterConfig, kubernetes_version: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:cluster:Cluster", name, None, opts)
        if config.mode != "existing":
            raise NotImplementedError("cluster.mode eks lands with the cluster layer (issue 8)")
        self.provider = k8s.Provider(
            "k8s",
            kubeconfig=config.kubeconfig,
            render_yaml_to_directory=config.renderYamlTo,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
