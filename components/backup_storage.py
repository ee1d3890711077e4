"""Where Postgres backups live on AWS: the stack's own S3 bucket and KMS key, the IAM role the Postgres pod
assumes to write there, and AWS Backup snapshots of the data volume as a second line.

The bucket and its key (components/backup_bucket.py) are `protect`ed and `retainOnDelete`: a mistaken
`pulumi destroy` (or a stack removed by hand) must leave every backup in place. pgBackRest expires its own
backups (retentionFull); the lifecycle rules only clean up what it cannot: noncurrent versions (kept
`deletedRetentionDays` so a deleted or overwritten object can still be recovered) and abandoned multipart
uploads. With `copyRegion`, components/backup_copy.py replicates the bucket and the snapshots to that region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import pgbackrest
from components.backup_bucket import backup_bucket
from components.backup_copy import BackupCopy, BackupCopyArgs
from components.config import BackupConfig
from components.irsa import irsa_role

# The EBS CSI driver tags every volume it creates with its claim (extra-create-metadata, on in the EKS
# add-on): AWS Backup selects the Postgres volume by these tags, so no StorageClass or claim has to change.
CLAIM_NAME_TAG = "kubernetes.io/created-for/pvc/name"
CLAIM_NAMESPACE_TAG = "kubernetes.io/created-for/pvc/namespace"
SNAPSHOT_SCHEDULE = "cron(0 5 * * ? *)"  # daily 05:00 UTC, after the nightly pgBackRest backup
AWS_BACKUP_POLICY = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
AWS_RESTORE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"


def repository_prefix() -> str:
    """The key prefix pgBackRest writes under (repo1-path without its leading slash)."""
    return pgbackrest.REPO_PATH.strip("/")


def bucket_access_policy(bucket_arn: str, key_arn: str) -> dict[str, Any]:
    """Read, write and delete under the repository prefix only; list only that prefix; use only our key."""
    prefix = repository_prefix()
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListRepository",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
            },
            {
                # Delete: pgBackRest expires old backups and their WAL itself.
                "Sid": "ReadWriteRepository",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
            {
                "Sid": "EncryptWithBackupKey",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": key_arn,
            },
        ],
    }


@dataclass
class BackupStorageArgs:
    config: BackupConfig
    cluster_name: str
    namespace: str  # where the Postgres pod runs
    service_account: str  # the Postgres pod's service account: the only one that may assume the role
    postgres_claim: str  # the StatefulSet's claim name, e.g. postgres-storage-postgres-0
    oidc: aws.iam.OpenIdConnectProvider
    issuer: pulumi.Input[str]
    region: pulumi.Input[str]  # the stack's: the replication role's KMS conditions name S3 there


class BackupStorage(pulumi.ComponentResource):
    """KMS key, bucket (versioned, encrypted, private, TLS only, lifecycle), IRSA role, AWS Backup plan."""

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:backup:BackupStorage", name, None, opts)
        cfg = args.config

        def child(**kwargs: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, **kwargs)

        primary = backup_bucket(
            name, parent=self, key_description=f"{args.cluster_name} Postgres backups",
            bucket_prefix=f"{args.cluster_name}-pg-backups-", tags={"doc-rag/data": "postgres-backups"},
            deleted_retention_days=cfg.deletedRetentionDays,
        )
        self.key, self.bucket, self.versioning = primary.key, primary.bucket, primary.versioning
        self.copy = BackupCopy(f"{name}-copy", BackupCopyArgs(
            cfg.copyRegion, args.region, args.cluster_name, self.bucket, self.key, self.versioning,
            cfg.deletedRetentionDays,
        ), opts=child()) if cfg.copyRegion is not None else None
        self.role = irsa_role(
            f"{name}-postgres", role_name=f"{args.cluster_name}-{args.service_account}-backup", oidc=args.oidc,
            issuer=args.issuer, namespace=args.namespace, service_account=args.service_account, parent=self,
        )
        bucket_access = aws.iam.RolePolicy(
            f"{name}-postgres-bucket", role=self.role.role.id,
            policy=pulumi.Output.all(self.bucket.arn, self.key.arn).apply(
                lambda arns: json.dumps(bucket_access_policy(arns[0], arns[1]))),
            opts=child(),
        )
        self.role_ready: list[pulumi.Resource] = [*self.role.attachments, bucket_access]
        self._snapshots(name, args)
        self.register_outputs({"bucket": self.bucket.bucket, "roleArn": self.role.arn})

    def _snapshots(self, name: str, args: BackupStorageArgs) -> None:
        """AWS Backup: daily EBS snapshots of the Postgres volume, found by the tags the CSI driver gives it."""
        vault = aws.backup.Vault(
            f"{name}-vault", name=f"{args.cluster_name}-postgres", kms_key_arn=self.key.arn,
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        plan = aws.backup.Plan(
            f"{name}-plan", name=f"{args.cluster_name}-postgres-volume",
            rules=[aws.backup.PlanRuleArgs(
                rule_name="daily-volume-snapshot",
                target_vault_name=vault.name,
                schedule=SNAPSHOT_SCHEDULE,
                lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=args.config.snapshotRetentionDays),
                copy_actions=[aws.backup.PlanRuleCopyActionArgs(
                    destination_vault_arn=self.copy.vault.arn,
                    lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(
                        delete_after=args.config.snapshotRetentionDays),
                )] if self.copy is not None else None,
            )],
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = aws.iam.Role(
            f"{name}-aws-backup",
            assume_role_policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
                               "Action": "sts:AssumeRole"}],
            }),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for index, arn in enumerate((AWS_BACKUP_POLICY, AWS_RESTORE_POLICY)):
            aws.iam.RolePolicyAttachment(f"{name}-aws-backup-{index}", role=role.name, policy_arn=arn,
                                         opts=pulumi.ResourceOptions(parent=self))
        aws.backup.Selection(
            f"{name}-volume", name=f"{args.cluster_name}-postgres-volume", plan_id=plan.id, iam_role_arn=role.arn,
            resources=["arn:aws:ec2:*:*:volume/*"],
            conditions=[aws.backup.SelectionConditionArgs(string_equals=[
                aws.backup.SelectionConditionStringEqualArgs(key=f"aws:ResourceTag/{CLAIM_NAME_TAG}",
                                                             value=args.postgres_claim),
                aws.backup.SelectionConditionStringEqualArgs(key=f"aws:ResourceTag/{CLAIM_NAMESPACE_TAG}",
                                                             value=args.namespace),
            ])],
            opts=pulumi.ResourceOptions(parent=self),
        )
