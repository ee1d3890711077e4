"""Postgres backups inside the cluster: pgbackrest.conf, the Postgres service account, the scheduled backups.

pgBackRest must run where the data directory is, so everything runs in the Postgres container:
- archive_command (components/pgbackrest.archive_settings) pushes every WAL segment to the bucket;
- two CronJobs (full weekly, differential daily by default) start the backup there with `kubectl exec`,
  through a service account that may exec into `postgres-0` and nothing else. The stanza is created by
  the job's init container (idempotent), so the first scheduled job also initialises the repository.
The Postgres pod reaches S3 as its own service account, which IRSA binds to a role: in eks stacks the one of
components/backup_storage.py (bucket prefix only), in existing mode `postgres.backup.roleArn` when set (without
it the account carries no annotation). NetworkPolicies for both pods are in network_policies.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import pgbackrest
from components.checkov_exceptions import checkov_skips
from components.config import BackupConfig
from components.container_hardening import PULL_POLICY, container_security_context, pod_security_context
from components.meta import NS_PROD, child, labels

COMPONENT = "backup"
# The service account the Postgres pod runs as; IRSA binds it to the bucket role (components/backup_storage.py).
POSTGRES_SERVICE_ACCOUNT = "postgres"
IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"  # read by EKS' pod identity webhook
CONFIG_MAP = "postgres-backup-config"
CONFIG_VOLUME = "pgbackrest-config"
RUNNER = "postgres-backup"  # service account, Role and RoleBinding of the backup jobs
RUNNER_UID = 65532  # the kubectl image's nonroot user
# Pinned, and kept within one minor of the control plane (kubectl's supported skew).
RUNNER_IMAGE = "registry.k8s.io/kubectl:v1.34.2"
RUNNER_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
BACKUP_OF_LABEL = "doc-rag/backup-of"  # what the policy pack looks for: which StatefulSet a backup job covers
POSTGRES_POD = "postgres-0"  # the StatefulSet's only pod
# A backup longer than this is stuck: the job is killed and the next schedule tries again.
BACKUP_DEADLINE_SECONDS = 6 * 3600
SCHEDULES: dict[pgbackrest.BackupType, str] = {"full": "fullSchedule", "diff": "differentialSchedule"}
RUNNER_POD_LABELS = {"app.kubernetes.io/name": RUNNER, "app.kubernetes.io/component": COMPONENT}


def cron_job_name(kind: str) -> str:
    return f"{RUNNER}-{kind}"


@dataclass(frozen=True)
class PostgresBackupWiring:
    """What the Postgres StatefulSet adds when backups are on (components/data.py applies it)."""

    image: str
    service_account: str
    postgresql_conf: str  # lines appended to postgresql.conf
    after: list[pulumi.Resource] = field(default_factory=list)
    # protect + retainOnDelete on the StatefulSet: where the stack owns the backup storage (eks)
    keep: bool = True

    def volumes(self) -> list[k8s.core.v1.VolumeArgs]:
        return [k8s.core.v1.VolumeArgs(name=CONFIG_VOLUME,
                                       config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=CONFIG_MAP))]

    def mounts(self) -> list[k8s.core.v1.VolumeMountArgs]:
        return [k8s.core.v1.VolumeMountArgs(name=CONFIG_VOLUME, mount_path=pgbackrest.CONF_DIR, read_only=True)]


@dataclass
class BackupArgs:
    config: BackupConfig
    role_arn: Optional[pulumi.Input[str]]  # the IRSA role Postgres assumes; None: no annotation
    bucket: pulumi.Input[str]
    region: pulumi.Input[str]
    database: pgbackrest.Database
    namespace: pulumi.Resource
    # The role's policy (BackupStorage.role_ready): archive_command fails with AccessDenied until it is attached.
    role_ready: Sequence[pulumi.Resource] = ()
    keep: bool = True  # PostgresBackupWiring.keep


class Backup(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:backup:Backup", name, None, opts)
        self._args = args
        service_account = k8s.core.v1.ServiceAccount(
            f"{POSTGRES_SERVICE_ACCOUNT}-service-account",  # the StatefulSet is Pulumi's `postgres`
            metadata=self._metadata(POSTGRES_SERVICE_ACCOUNT, annotations=(
                {IRSA_ROLE_ANNOTATION: args.role_arn} if args.role_arn is not None else None)),
            # The pod identity webhook projects its own web-identity token; the API token is not needed.
            automount_service_account_token=False,
            opts=self._opts(),
        )
        conf = pulumi.Output.all(args.bucket, args.region).apply(
            lambda values: pgbackrest.render_conf(
                pgbackrest.Repository(bucket=values[0], region=values[1], retention_full=args.config.retentionFull,
                                      uri_style=pgbackrest.uri_style_for(values[0])),
                args.database,
            ))
        config_map = k8s.core.v1.ConfigMap(
            CONFIG_MAP, metadata=self._metadata(CONFIG_MAP), data={"pgbackrest.conf": conf}, opts=self._opts(),
        )
        self.wiring = PostgresBackupWiring(
            image=args.config.image, service_account=POSTGRES_SERVICE_ACCOUNT,
            postgresql_conf=pgbackrest.archive_settings(), after=[service_account, config_map, *args.role_ready],
            keep=args.keep,
        )
        runner = self._runner_identity()
        self.cron_jobs = [self._cron_job(kind, runner) for kind in SCHEDULES]
        self.register_outputs({"cronJobs": [cron_job_name(kind) for kind in SCHEDULES]})

    def _opts(self, *after: pulumi.Resource) -> pulumi.ResourceOptions:
        return child(self, depends_on=[self._args.namespace, *after])

    @staticmethod
    def _metadata(name: str, annotations: dict[str, pulumi.Input[str]] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NS_PROD, labels=labels(COMPONENT, name=name),
                                          annotations=annotations)

    def _runner_identity(self) -> list[pulumi.Resource]:
        """May exec into postgres-0 (and read it, which exec needs), nothing else."""
        account = k8s.core.v1.ServiceAccount(RUNNER, metadata=self._metadata(RUNNER), opts=self._opts())
        role = k8s.rbac.v1.Role(
            RUNNER, metadata=self._metadata(RUNNER),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get"],
                                           resource_names=[POSTGRES_POD]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods/exec"], verbs=["create"],
                                           resource_names=[POSTGRES_POD]),
            ],
            opts=self._opts(),
        )
        binding = k8s.rbac.v1.RoleBinding(
            RUNNER, metadata=self._metadata(RUNNER),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=RUNNER),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=RUNNER, namespace=NS_PROD)],
            opts=self._opts(role, account),
        )
        return [account, role, binding]

    @staticmethod
    def _exec(name: str, pgbackrest_args: list[str]) -> k8s.core.v1.ContainerArgs:
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=RUNNER_IMAGE,
            image_pull_policy=PULL_POLICY,
            command=["kubectl", "exec", "--namespace", NS_PROD, POSTGRES_POD, "--container", "postgres", "--",
                     *pgbackrest_args],
            env=[k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],  # kubectl's discovery cache
            resources=k8s.core.v1.ResourceRequirementsArgs(requests=RUNNER_RESOURCES["requests"],
                                                           limits=RUNNER_RESOURCES["limits"]),
            security_context=container_security_context(),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )

    def _cron_job(self, kind: pgbackrest.BackupType, runner: list[pulumi.Resource]) -> k8s.batch.v1.CronJob:
        name = cron_job_name(kind)
        schedule = getattr(self._args.config, SCHEDULES[kind])
        pod_labels = {**labels(COMPONENT, name=RUNNER), BACKUP_OF_LABEL: "postgres"}
        skips = checkov_skips(
            "CKV_K8S_43", "CKV_K8S_15",
            CKV_K8S_38="the job runs kubectl exec into postgres-0 with this token (Role limited to that pod)",
        )
        return k8s.batch.v1.CronJob(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=NS_PROD, annotations=skips,
                labels={**labels(COMPONENT, name=name), BACKUP_OF_LABEL: "postgres"},
            ),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=schedule,
                time_zone="Etc/UTC",
                concurrency_policy="Forbid",  # pgBackRest holds a lock anyway; never queue a second run
                starting_deadline_seconds=3600,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=2,
                        active_deadline_seconds=BACKUP_DEADLINE_SECONDS,
                        template=k8s.core.v1.PodTemplateSpecArgs(
                            metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                            spec=k8s.core.v1.PodSpecArgs(
                                service_account_name=RUNNER,
                                automount_service_account_token=True,
                                restart_policy="Never",
                                security_context=pod_security_context(RUNNER_UID),
                                init_containers=[self._exec("stanza-create", pgbackrest.stanza_create_args())],
                                containers=[self._exec("backup", pgbackrest.backup_args(kind))],
                                volumes=[k8s.core.v1.VolumeArgs(
                                    name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())],
                            ),
                        ),
                    ),
                ),
            ),
            opts=self._opts(*runner),
        )
