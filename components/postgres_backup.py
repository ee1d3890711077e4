"""Assembles Postgres backups for a stack: the AWS side (backup_storage.py) and the cluster side (backup.py).

eks stacks (on by default) create their bucket, key and role; pulumi_aws is imported only then. Existing-mode
stacks with postgres.backup.bucket get the cluster side only, pointed at the operator's bucket: no AWS resource,
and the StatefulSet is not protected (the stack owns no storage there, and the local stack's T7 destroys it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components import data, pgbackrest
from components.backup import POSTGRES_SERVICE_ACCOUNT, Backup, BackupArgs, PostgresBackupWiring
from components.cluster import Cluster
from components.config import DocRagConfig
from components.meta import NS_PROD

# The claim the StatefulSet's volumeClaimTemplate makes for its only pod.
POSTGRES_CLAIM = f"postgres-storage-{data.POSTGRES_NAME}-0"


def postgres_database() -> pgbackrest.Database:
    """The Postgres container as pgBackRest sees it: its data directory, port, socket and superuser."""
    # The socket directory is pgbackrest.Database's default, /var/run/postgresql, as in data.POSTGRESQL_CONF.
    return pgbackrest.Database(data_path=data.POSTGRES_PGDATA, port=data.POSTGRES_PORT, user=data.POSTGRES_USER)


@dataclass
class PostgresBackup:
    wiring: PostgresBackupWiring  # what the Postgres StatefulSet adds
    outputs: dict[str, pulumi.Input]  # the stack output `postgresBackup`: what `ops restore` needs


def postgres_backup(config: DocRagConfig, cluster: Cluster, namespace: pulumi.Resource,
                    aws_opts: pulumi.ResourceOptions, k8s_opts: pulumi.ResourceOptions) -> Optional[PostgresBackup]:
    if not config.backups:
        return None
    if cluster.eks is None or cluster.region is None:
        return _existing_bucket(config, namespace, k8s_opts)
    from components.backup_storage import BackupStorage, BackupStorageArgs

    storage = BackupStorage("postgres-backup-storage", BackupStorageArgs(
        config.postgres.backup, cluster.cluster_name, NS_PROD, POSTGRES_SERVICE_ACCOUNT, POSTGRES_CLAIM,
        cluster.eks.oidc, cluster.eks.oidc.url, cluster.region,
    ), opts=aws_opts)
    backup = Backup("postgres-backup", BackupArgs(
        config.postgres.backup, storage.role.arn, storage.bucket.bucket, cluster.region, postgres_database(),
        namespace, role_ready=storage.role_ready,
    ), opts=k8s_opts)
    return PostgresBackup(backup.wiring, {
        "bucket": storage.bucket.bucket, "region": cluster.region, "stanza": pgbackrest.STANZA,
        "repoPath": pgbackrest.REPO_PATH, "roleArn": storage.role.arn,
        "cronJobs": [job.metadata.name for job in backup.cron_jobs],
        **({"copy": {"bucket": storage.copy.bucket.bucket, "region": config.postgres.backup.copyRegion,
                     "vault": storage.copy.vault.name}} if storage.copy is not None else {}),
    })


def _existing_bucket(config: DocRagConfig, namespace: pulumi.Resource,
                     k8s_opts: pulumi.ResourceOptions) -> PostgresBackup:
    """The operator's bucket (validated: bucket and region set in existing mode with backups on)."""
    cfg = config.postgres.backup
    assert cfg.bucket is not None and cfg.region is not None
    backup = Backup("postgres-backup", BackupArgs(
        cfg, cfg.roleArn, cfg.bucket, cfg.region, postgres_database(), namespace, keep=False,
    ), opts=k8s_opts)
    outputs: dict[str, pulumi.Input] = {
        "bucket": cfg.bucket, "region": cfg.region, "stanza": pgbackrest.STANZA, "repoPath": pgbackrest.REPO_PATH,
        "cronJobs": [job.metadata.name for job in backup.cron_jobs],
    }
    if cfg.roleArn is not None:
        outputs["roleArn"] = cfg.roleArn
    return PostgresBackup(backup.wiring, outputs)
