"""`postgres`: the image and volume, and `postgres.backup` (pgBackRest to S3, AWS Backup snapshots)."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator

from components.config.validators import (
    StrictModel,
    check_bucket_name,
    check_cron,
    check_image,
    check_quantity,
    check_region,
)

_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


class BackupConfig(StrictModel):
    """pgBackRest to S3, plus AWS Backup snapshots of the EBS volume (docs/operations.md).

    eks mode: the stack owns the bucket, its KMS key and the IRSA role, and with copyRegion a copy in a second
    region. existing mode: the operator owns the bucket (`bucket`, `region`, optionally `roleArn`); the stack
    renders only the in-cluster objects."""

    enabled: Optional[bool] = Field(
        default=None, description="unset: on in eks mode, and in existing mode when `bucket` is set")
    bucket: Optional[str] = Field(default=None, description="existing mode: the S3 bucket (yours) pgBackRest writes to")
    region: Optional[str] = Field(default=None, description="existing mode: the AWS region of `bucket`")
    roleArn: Optional[str] = Field(
        default=None, description="existing mode: IAM role for IRSA, set as the Postgres service account's "
                                  "eks.amazonaws.com/role-arn annotation; unset: no annotation")
    copyRegion: Optional[str] = Field(
        default=None, description="eks mode: replicate the backups to a bucket in this region (S3 replication) "
                                  "and copy the volume snapshots to a vault there; unset: no copy")
    image: str = Field(
        default="doc-rag/postgres-pgbackrest:16-alpine-2.54.2",
        description="postgres.image plus pgBackRest (same major, UID 70); with backups on the Postgres container "
                    "runs it, because archive_command runs pgbackrest inside that container",
    )
    fullSchedule: str = Field(default="0 3 * * 0", description="full backup, cron in UTC")
    differentialSchedule: str = Field(default="0 3 * * 1-6", description="differential backup, cron in UTC")
    retentionFull: int = Field(default=4, ge=1, le=52, description="full backups pgBackRest keeps (and their WAL)")
    deletedRetentionDays: int = Field(
        default=30, ge=1, le=3650,
        description="days a deleted or overwritten object stays recoverable as a noncurrent S3 version",
    )
    snapshotRetentionDays: int = Field(default=14, ge=1, le=365, description="AWS Backup EBS snapshots kept")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return check_image(value)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else check_bucket_name(value)

    @field_validator("region", "copyRegion")
    @classmethod
    def _region(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else check_region(value)

    @field_validator("roleArn")
    @classmethod
    def _role_arn(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _ROLE_ARN_RE.match(value):
            raise ValueError("allowed: an IAM role ARN such as arn:aws:iam::123456789012:role/doc-rag-postgres-backup")
        return value

    @field_validator("fullSchedule", "differentialSchedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_cron(value)


class PostgresConfig(StrictModel):
    image: str = "postgres:16-alpine"
    storage: str = "100Gi"
    backup: BackupConfig = Field(default_factory=BackupConfig)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return check_image(value)

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        return check_quantity(value)
