"""The cluster layer: where Kubernetes runs and the one explicit Kubernetes provider to reach it.

`eks`: VPC, EKS, node group, IRSA, ACM certificate on AWS; the provider's kubeconfig is built from the
cluster's outputs. `existing`: no AWS resource at all; a configured or ambient kubeconfig, or manifests
rendered to a directory. The default SSD StorageClass (EBS CSI) is created in eks mode, and in existing mode
only when `createStorageClass: true` says the cluster has the EBS CSI driver and no such class yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import ClusterConfig
from components.meta import labels

EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
# The platform add-ons that run with an IAM role of their own (IRSA), created here in eks mode.
IRSA_ADDONS = ("awsLoadBalancerController", "clusterAutoscaler")


@dataclass
class ClusterArgs:
    config: ClusterConfig
    kubernetes_version: str
    domain: Optional[str] = None  # eks: the ACM certificate's domain
    # The IRSA_ADDONS the platform installs: only those get an IAM role.
    irsa_addons: frozenset[str] = frozenset()


class Cluster(pulumi.ComponentResource):
    provider: k8s.Provider
    certificate_arn: Optional[pulumi.Output[str]] = None  # ACM certificate for the NLB (eks mode)
    storage_class_name: str = "gp3"  # the SSD StorageClass workloads claim volumes from
    storage_ready: list[pulumi.Resource]  # that class when this stack creates it: claimants depend on it

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("doc-rag:cluster:Cluster", name, None, opts)
        config, domain = args.config, args.domain
        self.mode = config.mode
        self.storage_class_name = config.storageClass
        self.cluster_name = f"doc-rag-{pulumi.get_stack()}"
        # Stack outputs this layer contributes (eks mode only: existing mode owns nothing to report).
        self.outputs: dict[str, pulumi.Input] = {}
        self.eks = None
        self.network = None
        self.region: Optional[pulumi.Output[str]] = None
        storage_depends: list[pulumi.Resource] = []

        if config.mode == "eks":
            # Imported here so `existing` mode never loads pulumi_aws at all.
            import pulumi_aws as aws

            from components.certificate import Certificate, CertificateArgs
            from components.eks import Eks, EksArgs
            from components.network import Network, NetworkArgs

            self.region = aws.get_region_output().region  # the one region lookup; Eks and the add-ons reuse it
            self.network = Network("network", NetworkArgs(config, self.cluster_name),
                                   opts=pulumi.ResourceOptions(parent=self))
            self.eks = Eks("eks", EksArgs(config, self.cluster_name, args.kubernetes_version, self.network, self.region,
                                          addon_roles=args.irsa_addons), opts=pulumi.ResourceOptions(parent=self))
            # The provider waits for nodes and core add-ons: nothing Kubernetes is applied to an empty cluster.
            self.provider = k8s.Provider(
                "k8s", kubeconfig=self.eks.kubeconfig,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eks.node_group, *self.eks.addons.values()]),
            )
            storage_depends.append(self.eks.addons["aws-ebs-csi-driver"])
            self.outputs.update({
                "clusterName": self.eks.cluster.name,
                "clusterEndpoint": self.eks.cluster.endpoint,
                "kubeconfig": self.eks.kubeconfig,
                "vpcId": self.network.vpc.id,
                "publicSubnetIds": [subnet.id for subnet in self.network.public_subnets],
                "privateSubnetIds": [subnet.id for subnet in self.network.private_subnets],
                "nodeRoleArn": self.eks.node_role.arn,
            })
            if domain:
                certificate = Certificate(
                    "certificate", CertificateArgs(domain, existing_arn=config.certificateArn,
                                                   route53_zone_id=config.route53ZoneId),
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self.certificate_arn = certificate.arn
                self.outputs["certificateArn"] = certificate.arn
                if certificate.validation_records is not None:
                    self.outputs["certificateValidationRecords"] = certificate.validation_records
        else:
            self.provider = k8s.Provider(
                "k8s",
                # A kubeconfig may hold a token: keep it secret in state and in every log.
                kubeconfig=pulumi.Output.secret(config.kubeconfig) if config.kubeconfig else None,
                render_yaml_to_directory=config.renderYamlTo,
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.storage_ready = []
        if config.creates_storage_class:
            self.storage_class = self._storage_class(config, storage_depends)
            self.storage_ready.append(self.storage_class)
        self.register_outputs({key: value for key, value in self.outputs.items() if key != "kubeconfig"})

    def _storage_class(self, config: ClusterConfig, depends_on: list[pulumi.Resource]) -> k8s.storage.v1.StorageClass:
        """Encrypted gp3 SSD with provisioned IOPS (config: at least 1000) as the cluster default."""
        return k8s.storage.v1.StorageClass(
            config.storageClass,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=config.storageClass,
                labels=labels("storage", config.storageClass),
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            provisioner=EBS_CSI_PROVISIONER,
            parameters={
                "type": "gp3",
                "iops": str(config.volumeIops),
                "throughput": str(config.volumeThroughput),
                "encrypted": "true",
                "csi.storage.k8s.io/fstype": "ext4",
            },
            # Postgres data outlives an accidental claim deletion.
            reclaim_policy="Retain",
            # Bind in the zone the pod is scheduled to: EBS volumes are zonal.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=depends_on),
        )
