"""The data layer: the `doc-rag-secrets` Secret, the Postgres StatefulSet and Redis.

Numbers a ResourceQuota / LimitRange must be sized from are module constants (POSTGRES_RESOURCES,
REDIS_RESOURCES, REDIS_STORAGE) so components/quotas.py computes quotas from the same values.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Optional, Sequence
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from components.backup import PostgresBackupWiring
from components.checkov_exceptions import annotated, checkov_skips
from components.config import DocRagConfig, Secrets
from components.container_hardening import PULL_POLICY, container_security_context, pod_security_context
from components.meta import NS_PROD, child, labels

SECRET_NAME = "doc-rag-secrets"
# Keys of doc-rag-secrets; the API reads `database-url`, Postgres `postgres-password`.
KEY_POSTGRES_PASSWORD = "postgres-password"
KEY_DATABASE_URL = "database-url"
KEY_REDIS_PASSWORD = "redis-password"
KEY_REDIS_URL = "redis-url"
# A one-line redis.conf (`requirepass ...`): the password reaches redis-server as a file, never as an argument.
KEY_REDIS_CONF = "redis.conf"

POSTGRES_NAME = "postgres"
POSTGRES_SERVICE = "postgres-service"
POSTGRES_CONFIG = "postgres-config"
POSTGRES_PORT = 5432
POSTGRES_DB = "docrag"
POSTGRES_USER = "docrag"
POSTGRES_UID = 70  # the `postgres` user of the official alpine image
POSTGRES_DATA_MOUNT = "/var/lib/postgresql/data"
# A subdirectory: the volume root holds lost+found, which initdb refuses to initialise over.
POSTGRES_PGDATA = f"{POSTGRES_DATA_MOUNT}/pgdata"
POSTGRES_CONF_PATH = "/etc/postgresql/postgresql.conf"
POSTGRES_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
# Parallel query workers share memory through /dev/shm (dynamic_shared_memory_type posix), which a
# container gets at 64 MiB: larger sorts and hashes fail with "could not resize shared memory segment".
# A memory-backed emptyDir counts against the memory limit above, so 1 GiB leaves 3 GiB for
# shared_buffers (1GB) and the backends.
POSTGRES_SHM_SIZE = "1Gi"

REDIS_NAME = "redis"
REDIS_SERVICE = "redis-service"
REDIS_PORT = 6379
REDIS_IMAGE = "redis:7.4.1-alpine"  # pinned; the official image runs as redis (uid 999)
REDIS_UID = 999
REDIS_STORAGE = "10Gi"
REDIS_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
REDIS_CONF_DIR = "/etc/redis"
REDIS_CONF_PATH = f"{REDIS_CONF_DIR}/{KEY_REDIS_CONF}"

# Domain separation for the Redis password derived from the Postgres secret (see redis_password()).
_REDIS_KEY_CONTEXT = b"doc-rag/redis-password/v1"

# Used through `-c config_file=` below; tuned for 16 GiB nodes and the 4 GiB limit.
POSTGRESQL_CONF = f"""\
listen_addresses = '*'
port = {POSTGRES_PORT}
max_connections = 200
unix_socket_directories = '/var/run/postgresql'
password_encryption = scram-sha-256
shared_buffers = 1GB
effective_cache_size = 3GB
work_mem = 8MB
maintenance_work_mem = 256MB
wal_level = replica
max_wal_size = 2GB
checkpoint_completion_target = 0.9
log_destination = 'stderr'
logging_collector = off
log_min_duration_statement = 1000
log_connections = on
log_disconnections = on
"""


def service_host(service: str, namespace: str = NS_PROD) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def redis_password(postgres_password: str) -> str:
    """HMAC-SHA256 of a fixed context under the Postgres secret: deterministic (no extra config key,
    stable across runs), one-way (Redis' password never reveals Postgres'). A new postgresPassword changes
    it in doc-rag-secrets, but running pods keep the old values until restarted (docs/traffic.md,
    "Rotating the database password")."""
    return hmac.new(postgres_password.encode(), _REDIS_KEY_CONTEXT, hashlib.sha256).hexdigest()


def database_url(password: pulumi.Output[str]) -> pulumi.Output[str]:
    """postgres://docrag:<password>@postgres-service...:5432/docrag; secret because the password is."""
    escaped = password.apply(lambda value: quote(value, safe=""))
    return pulumi.Output.format(
        "postgresql://{0}:{1}@{2}:{3}/{4}", POSTGRES_USER, escaped, service_host(POSTGRES_SERVICE),
        POSTGRES_PORT, POSTGRES_DB,
    )


def redis_url(password: pulumi.Output[str]) -> pulumi.Output[str]:
    return pulumi.Output.format("redis://:{0}@{1}:{2}/0", password, service_host(REDIS_SERVICE), REDIS_PORT)


def redis_conf(password: str) -> str:
    """The config file redis-server is started with. The derived password is hex, so it needs no quoting."""
    return f"requirepass {password}\n"


def _resources(spec: dict[str, dict[str, str]]) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(requests=spec["requests"], limits=spec["limits"])


def secret_env(name: str, key: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=SECRET_NAME, key=key)
        ),
    )


def _claim(name: str, storage: str, storage_class: str) -> k8s.core.v1.PersistentVolumeClaimArgs:
    return k8s.core.v1.PersistentVolumeClaimArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": storage}),
        ),
    )


def _exec_probe(command: list[str], initial_delay: int, period: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=command),
        initial_delay_seconds=initial_delay,
        period_seconds=period,
        timeout_seconds=5,
        failure_threshold=6,
    )


def _selector(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}


def _empty_dir(name: str) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())


@dataclass
class DataArgs:
    config: DocRagConfig
    secrets: Secrets
    storage_class_name: str  # the cluster's SSD class (Cluster.storage_class_name)
    namespace: pulumi.Resource  # doc-rag-prod, created by components/namespaces.py
    # The class when this stack creates it (Cluster.storage_ready): a claim made before its class exists
    # stays Pending with no provisioner named.
    storage_ready: Sequence[pulumi.Resource] = ()
    backup: Optional[PostgresBackupWiring] = None  # components/backup.py, when postgres backups are on


class Data(pulumi.ComponentResource):
    """Secret, Postgres StatefulSet + Service + ConfigMap, Redis StatefulSet + Service."""

    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("doc-rag:data:Data", name, None, opts)
        self._args = args
        self.secret = self._secret()
        self.postgres_service, self.postgres = self._postgres()
        self.redis_service, self.redis = self._redis()
        self.register_outputs({
            "secretName": SECRET_NAME,
            "postgresService": POSTGRES_SERVICE,
            "redisService": REDIS_SERVICE,
        })

    def _opts(self, *after: pulumi.Resource) -> pulumi.ResourceOptions:
        return child(self, depends_on=[self._args.namespace, *after])

    def _metadata(self, name: str, component: str, app: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NS_PROD, labels=labels(component, name=app))

    def _secret(self) -> k8s.core.v1.Secret:
        password = self._args.secrets.postgres_password
        cache_password = password.apply(redis_password)
        # string_data from secret Outputs: the values reach the engine wrapped as secrets, never in clear.
        return k8s.core.v1.Secret(
            SECRET_NAME,
            metadata=self._metadata(SECRET_NAME, "secrets", "doc-rag"),
            type="Opaque",
            string_data={
                KEY_POSTGRES_PASSWORD: password,
                KEY_DATABASE_URL: database_url(password),
                KEY_REDIS_PASSWORD: cache_password,
                KEY_REDIS_URL: redis_url(cache_password),
                KEY_REDIS_CONF: cache_password.apply(redis_conf),
            },
            opts=self._opts(),
        )

    def _single_pod_statefulset(
        self, name: str, service: str, component: str, uid: int, uid_reason: str,
        container: k8s.core.v1.ContainerArgs, volumes: list[k8s.core.v1.VolumeArgs],
        claim: k8s.core.v1.PersistentVolumeClaimArgs, after: list[pulumi.Resource],
        termination_grace_period_seconds: int | None = None, service_account: str | None = None,
        keep: bool = False,
    ) -> k8s.apps.v1.StatefulSet:
        """One replica with its own SSD claim, run as the image's non-root user; fsGroup = that UID makes the
        claimed volume writable."""
        return k8s.apps.v1.StatefulSet(
            name,
            metadata=annotated(self._metadata(name, component, name), checkov_skips(
                "CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_35", CKV_K8S_40=uid_reason)),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=service,
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(name, component)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component, name=name)),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        service_account_name=service_account,
                        security_context=pod_security_context(uid, fs_group=uid),
                        termination_grace_period_seconds=termination_grace_period_seconds,
                        containers=[container],
                        volumes=volumes,
                    ),
                ),
                volume_claim_templates=[claim],
                # Explicit: deleting or scaling the StatefulSet never deletes its claims (or their volumes).
                persistent_volume_claim_retention_policy=k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"),
            ),
            # keep: a mistaken `pulumi destroy` must not take the database down with the stack.
            opts=pulumi.ResourceOptions.merge(self._opts(*after), pulumi.ResourceOptions(
                protect=True, retain_on_delete=True) if keep else pulumi.ResourceOptions()),
        )

    def _postgres(self) -> tuple[k8s.core.v1.Service, k8s.apps.v1.StatefulSet]:
        cfg = self._args.config.postgres
        backup = self._args.backup
        selector = _selector(POSTGRES_NAME, "database")
        config_map = k8s.core.v1.ConfigMap(
            POSTGRES_CONFIG,
            metadata=self._metadata(POSTGRES_CONFIG, "database", POSTGRES_NAME),
            data={"postgresql.conf": POSTGRESQL_CONF + (backup.postgresql_conf if backup else "")},
            opts=self._opts(),
        )
        # Headless: the StatefulSet's governing Service; clients resolve postgres-service to the pod.
        service = k8s.core.v1.Service(
            POSTGRES_SERVICE,
            metadata=self._metadata(POSTGRES_SERVICE, "database", POSTGRES_NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="postgres", port=POSTGRES_PORT, target_port="postgres")],
            ),
            opts=self._opts(),
        )
        ready = ["pg_isready", "-U", POSTGRES_USER, "-d", POSTGRES_DB, "-h", "127.0.0.1", "-p", str(POSTGRES_PORT)]
        container = k8s.core.v1.ContainerArgs(
            name="postgres",
            image=backup.image if backup else cfg.image,  # archive_command runs pgbackrest in this container
            image_pull_policy=PULL_POLICY,
            # The image's entrypoint prepends `postgres` to arguments starting with '-'.
            args=["-c", f"config_file={POSTGRES_CONF_PATH}"],
            env=[
                k8s.core.v1.EnvVarArgs(name="POSTGRES_DB", value=POSTGRES_DB),
                k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value=POSTGRES_USER),
                secret_env("POSTGRES_PASSWORD", KEY_POSTGRES_PASSWORD),
                k8s.core.v1.EnvVarArgs(name="PGDATA", value=POSTGRES_PGDATA),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=POSTGRES_PORT)],
            resources=_resources(POSTGRES_RESOURCES),
            readiness_probe=_exec_probe(ready, initial_delay=5, period=10),
            liveness_probe=_exec_probe(ready, initial_delay=30, period=10),
            security_context=container_security_context(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="postgres-storage", mount_path=POSTGRES_DATA_MOUNT),
                k8s.core.v1.VolumeMountArgs(
                    name="postgres-config", mount_path=POSTGRES_CONF_PATH, sub_path="postgresql.conf", read_only=True
                ),
                # Writable paths under a read-only root filesystem: the socket/lock dir and scratch.
                k8s.core.v1.VolumeMountArgs(name="run", mount_path="/var/run/postgresql"),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
                *(backup.mounts() if backup else []),
            ],
        )
        statefulset = self._single_pod_statefulset(
            POSTGRES_NAME, POSTGRES_SERVICE, "database", POSTGRES_UID,
            "UID 70 is the image's postgres user; fsGroup 70 owns the data volume", container,
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="postgres-config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=POSTGRES_CONFIG)
                ),
                _empty_dir("run"),
                _empty_dir("tmp"),
                k8s.core.v1.VolumeArgs(name="shm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                    medium="Memory", size_limit=POSTGRES_SHM_SIZE)),
                *(backup.volumes() if backup else []),
            ],
            claim=_claim("postgres-storage", cfg.storage, self._args.storage_class_name),
            after=[self.secret, config_map, *self._args.storage_ready, *(backup.after if backup else [])],
            termination_grace_period_seconds=60,
            service_account=backup.service_account if backup else None,
            keep=backup is not None and backup.keep,
        )
        return service, statefulset

    def _redis(self) -> tuple[k8s.core.v1.Service, k8s.apps.v1.StatefulSet]:
        selector = _selector(REDIS_NAME, "cache")
        service = k8s.core.v1.Service(
            REDIS_SERVICE,
            metadata=self._metadata(REDIS_SERVICE, "cache", REDIS_NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="redis", port=REDIS_PORT, target_port="redis")],
            ),
            opts=self._opts(),
        )
        # redis-cli reads REDISCLI_AUTH, so the probe never puts the password on a command line.
        ping = ["sh", "-c", f"redis-cli -h 127.0.0.1 -p {REDIS_PORT} ping | grep -q PONG"]
        container = k8s.core.v1.ContainerArgs(
            name="redis",
            image=REDIS_IMAGE,
            image_pull_policy=PULL_POLICY,
            command=["redis-server"],
            # A config file first, then options. The password is in that file: an argument (even a kubelet-
            # expanded $(VAR)) would be readable in /proc/<pid>/cmdline by anything sharing the pod.
            args=[REDIS_CONF_PATH, "--appendonly", "yes", "--dir", "/data", "--port", str(REDIS_PORT)],
            env=[secret_env("REDISCLI_AUTH", KEY_REDIS_PASSWORD)],
            ports=[k8s.core.v1.ContainerPortArgs(name="redis", container_port=REDIS_PORT)],
            resources=_resources(REDIS_RESOURCES),
            readiness_probe=_exec_probe(ping, initial_delay=5, period=5),
            liveness_probe=_exec_probe(ping, initial_delay=30, period=10),
            security_context=container_security_context(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="redis-storage", mount_path="/data"),
                k8s.core.v1.VolumeMountArgs(name="redis-config", mount_path=REDIS_CONF_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        statefulset = self._single_pod_statefulset(
            REDIS_NAME, REDIS_SERVICE, "cache", REDIS_UID,
            "UID 999 is the image's redis user; fsGroup 999 owns the data volume", container,
            volumes=[
                # Only the redis.conf key of the Secret; readable by the redis group (fsGroup) only.
                k8s.core.v1.VolumeArgs(
                    name="redis-config",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=SECRET_NAME, default_mode=0o440,
                        items=[k8s.core.v1.KeyToPathArgs(key=KEY_REDIS_CONF, path=KEY_REDIS_CONF)],
                    ),
                ),
                _empty_dir("tmp"),
            ],
            claim=_claim("redis-storage", REDIS_STORAGE, self._args.storage_class_name),
            after=[self.secret, *self._args.storage_ready],
        )
        return service, statefulset
