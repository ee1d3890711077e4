"""The optional cross-region copy of Postgres backups (postgres.backup.copyRegion): survives the loss of the
stack's region.

- A second bucket in copyRegion, with its own key there, under the primary's rules (components/backup_bucket.py).
- S3 replication from the primary: every new object version (pgBackRest's backups and WAL), re-encrypted with
  the copy's key. Delete markers replicate too, so pgBackRest's expiry reaches the copy and it holds the same
  backup set; the deleted objects stay as noncurrent versions for deletedRetentionDays, and S3 never replicates
  the deletion of a version, so a delete in the primary cannot destroy the copy's history.
- An AWS Backup vault in copyRegion, encrypted with the copy's key: the snapshot plan's rule copies each
  volume snapshot there (components/backup_storage.py adds the copy action).
Resources take `region=` (pulumi-aws v7) instead of a second provider; IAM is global.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.backup_bucket import backup_bucket


def replication_policy(source_bucket_arn: str, source_key_arn: str, source_region: str,
                       copy_bucket_arn: str, copy_key_arn: str, copy_region: str) -> dict[str, Any]:
    """What S3 needs to replicate KMS-encrypted objects, and nothing more: read the source's versions, write
    replicas into the copy, decrypt with the source key and encrypt with the copy key, each only through S3 in
    its region and for its bucket (with bucket keys the encryption context is the bucket's ARN)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadReplicationConfiguration",
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": source_bucket_arn,
            },
            {
                "Sid": "ReadSourceVersions",
                "Effect": "Allow",
                "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                           "s3:GetObjectVersionTagging"],
                "Resource": f"{source_bucket_arn}/*",
            },
            {
                "Sid": "WriteReplicas",
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                "Resource": f"{copy_bucket_arn}/*",
            },
            {
                "Sid": "DecryptWithSourceKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": source_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{source_region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [source_bucket_arn, f"{source_bucket_arn}/*"]},
                },
            },
            {
                "Sid": "EncryptWithCopyKey",
                "Effect": "Allow",
                "Action": ["kms:Encrypt"],
                "Resource": copy_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{copy_region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [copy_bucket_arn, f"{copy_bucket_arn}/*"]},
                },
            },
        ],
    }


def s3_trust_policy() -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    })


@dataclass
class BackupCopyArgs:
    region: str  # postgres.backup.copyRegion
    source_region: pulumi.Input[str]  # the stack's region
    cluster_name: str
    source_bucket: aws.s3.Bucket
    source_key: aws.kms.Key
    source_versioning: aws.s3.BucketVersioning
    deleted_retention_days: int


class BackupCopy(pulumi.ComponentResource):
    """Copy bucket + key in another region, the replication role and rule, a vault there for snapshot copies."""

    def __init__(self, name: str, args: BackupCopyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:backup:BackupCopy", name, None, opts)
        region = args.region
        copy = backup_bucket(
            name, parent=self, key_description=f"{args.cluster_name} Postgres backups, copy in {region}",
            bucket_prefix=f"{args.cluster_name}-pg-copy-", tags={"doc-rag/data": "postgres-backups-copy"},
            deleted_retention_days=args.deleted_retention_days, region=region,
        )
        self.bucket, self.key = copy.bucket, copy.key
        role = aws.iam.Role(f"{name}-replication", assume_role_policy=s3_trust_policy(),
                            opts=pulumi.ResourceOptions(parent=self))
        policy = aws.iam.RolePolicy(
            f"{name}-replication", role=role.id,
            policy=pulumi.Output.all(args.source_bucket.arn, args.source_key.arn, args.source_region,
                                     copy.bucket.arn, copy.key.arn).apply(
                lambda values: json.dumps(replication_policy(values[0], values[1], values[2], values[3], values[4],
                                                             region))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # On the source bucket, in the stack's region; both buckets must be versioned first.
        self.replication = aws.s3.BucketReplicationConfig(
            f"{name}-replication", bucket=args.source_bucket.id, role=role.arn,
            rules=[aws.s3.BucketReplicationConfigRuleArgs(
                id=f"copy-to-{region}",
                status="Enabled",
                priority=1,
                filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                    status="Enabled"),
                source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                    sse_kms_encrypted_objects=aws.s3
                    .BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(status="Enabled"),
                ),
                destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                    bucket=copy.bucket.arn,
                    encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                        replica_kms_key_id=copy.key.arn),
                ),
            )],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.source_versioning, copy.versioning, policy]),
        )
        self.vault = aws.backup.Vault(
            f"{name}-vault", name=f"{args.cluster_name}-postgres-copy", kms_key_arn=copy.key.arn, region=region,
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        self.register_outputs({"bucket": copy.bucket.bucket, "region": region, "vault": self.vault.name})
