"""One bucket for Postgres backups with its own KMS key, held to one set of rules: versioned, SSE-KMS, owner-
enforced, public access blocked, TLS only, lifecycle for what pgBackRest cannot expire itself.

The primary (components/backup_storage.py) and its cross-region copy (components/backup_copy.py) are both made
here, so the copy can never be weaker than the original. Bucket and key are `protect`ed and `retainOnDelete`:
losing either loses every backup in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

ABORT_MULTIPART_DAYS = 7


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Refuse every request that is not over TLS."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    })


@dataclass(frozen=True)
class BackupBucket:
    key: aws.kms.Key
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning  # replication and lifecycle need versioning on first


def backup_bucket(name: str, *, parent: pulumi.Resource, key_description: str, bucket_prefix: str,
                  tags: dict[str, str], deleted_retention_days: int, region: Optional[str] = None) -> BackupBucket:
    """`region` None: the provider's region (the stack's); else the resource's own region (pulumi-aws v7)."""

    def child(**kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, **kwargs)

    def kept(**kwargs: Any) -> pulumi.ResourceOptions:
        return child(protect=True, retain_on_delete=True, **kwargs)

    key = aws.kms.Key(
        f"{name}-key", description=key_description, enable_key_rotation=True, deletion_window_in_days=30,
        region=region, opts=kept(),
    )
    bucket = aws.s3.Bucket(f"{name}-bucket", bucket_prefix=bucket_prefix[:37], tags=tags, region=region, opts=kept())
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), region=region,
        opts=child(),
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
        ignore_public_acls=True, restrict_public_buckets=True, region=region, opts=child(),
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        region=region, opts=child(),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket.id,
        rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=aws.s3
            .BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=key.arn,
            ),
            bucket_key_enabled=True,  # one data key per object batch: fewer KMS calls
        )],
        region=region, opts=child(),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle", bucket=bucket.id,
        rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="noncurrent-versions-and-uploads",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=deleted_retention_days,
            ),
            abort_incomplete_multipart_upload=aws.s3
            .BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=ABORT_MULTIPART_DAYS,
            ),
        )],
        # Lifecycle on a bucket whose versioning is still being enabled is rejected by S3.
        region=region, opts=child(depends_on=[versioning]),
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only", bucket=bucket.id, policy=bucket.arn.apply(tls_only_bucket_policy), region=region,
        opts=child(),
    )
    return BackupBucket(key, bucket, versioning)
