"""pgBackRest's configuration and command lines: rendered once, used by the stack and by the restore drill.

The Postgres pod, the backup CronJob, `ops restore` and tests/ops/test_restore_drill.py all take
pgbackrest.conf from `render_conf` and their commands from the functions below, so the drill proves the
configuration production runs, not a look-alike. Only where the repository is differs: S3 in the region
through IRSA (web identity) in the stack, an S3-compatible server on loopback with dummy keys in the drill.
Credentials never appear in the file: web-id reads AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE (set by EKS'
pod identity webhook), shared keys come from PGBACKREST_REPO1_S3_KEY / _KEY_SECRET in the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

STANZA = "docrag"
CONF_DIR = "/etc/pgbackrest"
CONF_PATH = f"{CONF_DIR}/pgbackrest.conf"
# Key prefix of the repository inside the bucket: the IAM role is scoped to it.
REPO_PATH = "/postgres"
# Every WAL segment is closed and archived at least this often, which bounds the RPO of a quiet database.
ARCHIVE_TIMEOUT_SECONDS = 60
BackupType = Literal["full", "diff", "incr"]


@dataclass(frozen=True)
class Repository:
    """Where backups go: an S3 bucket (or an S3-compatible server) and how to authenticate to it."""

    bucket: str
    region: str
    endpoint: str = ""  # "" = s3.<region>.amazonaws.com
    port: int = 443
    uri_style: Literal["host", "path"] = "host"  # path: servers without virtual-host buckets (the drill's)
    verify_tls: bool = True
    key_type: Literal["web-id", "shared"] = "web-id"
    path: str = REPO_PATH
    retention_full: int = 4


@dataclass(frozen=True)
class Database:
    """The PostgreSQL cluster pgBackRest backs up, as seen from inside its pod (or the drill's host)."""

    data_path: str
    port: int = 5432
    socket_path: str = "/var/run/postgresql"
    user: str = "postgres"  # the superuser pgBackRest connects as over the socket (peer/trust, never a password)


@dataclass(frozen=True)
class Scratch:
    """Writable paths: the pod's root filesystem is read-only, so lock and log files go to /tmp."""

    lock_path: str = "/tmp/pgbackrest/lock"
    log_path: str = "/tmp/pgbackrest/log"


def uri_style_for(bucket: str) -> Literal["host", "path"]:
    """S3's virtual-host TLS certificate (*.s3.<region>.amazonaws.com) covers no bucket name with a dot."""
    return "path" if "." in bucket else "host"


def endpoint_of(repository: Repository) -> str:
    return repository.endpoint or f"s3.{repository.region}.amazonaws.com"


def render_conf(repository: Repository, database: Database, scratch: Scratch = Scratch()) -> str:
    """pgbackrest.conf. Backups are compressed (zst), bundled and checked; expiry follows retention_full."""
    repo = [
        "repo1-type=s3",
        f"repo1-path={repository.path}",
        f"repo1-s3-bucket={repository.bucket}",
        f"repo1-s3-region={repository.region}",
        f"repo1-s3-endpoint={endpoint_of(repository)}",
        f"repo1-storage-port={repository.port}",
        f"repo1-s3-uri-style={repository.uri_style}",
        f"repo1-s3-key-type={repository.key_type}",
        f"repo1-retention-full={repository.retention_full}",
        "repo1-bundle=y",  # small files bundled: far fewer S3 requests per backup
    ]
    if not repository.verify_tls:
        repo.append("repo1-storage-verify-tls=n")
    lines = [
        "[global]",
        *repo,
        "compress-type=zst",
        "start-fast=y",  # a checkpoint at once instead of waiting for the next scheduled one
        "archive-check=y",
        f"lock-path={scratch.lock_path}",
        f"log-path={scratch.log_path}",
        "log-level-console=info",
        "log-level-file=off",  # the console (the pod's log) is the record
        "",
        f"[{STANZA}]",
        f"pg1-path={database.data_path}",
        f"pg1-port={database.port}",
        f"pg1-socket-path={database.socket_path}",
        f"pg1-user={database.user}",
        "",
    ]
    return "\n".join(lines)


def _base(conf_path: str) -> list[str]:
    return ["pgbackrest", f"--config={conf_path}", f"--stanza={STANZA}"]


def archive_command(conf_path: str = CONF_PATH) -> str:
    """PostgreSQL's archive_command: a segment counts as archived only once pgBackRest stored it."""
    return " ".join(_base(conf_path) + ["archive-push", "%p"])


def restore_command(conf_path: str = CONF_PATH) -> str:
    """PostgreSQL's restore_command during recovery (pgBackRest's restore writes it itself; kept for docs)."""
    return " ".join(_base(conf_path) + ["archive-get", "%f", '"%p"'])


def archive_settings(conf_path: str = CONF_PATH) -> str:
    """postgresql.conf lines that turn WAL archiving on."""
    return (
        "archive_mode = on\n"
        f"archive_command = '{archive_command(conf_path)}'\n"
        f"archive_timeout = {ARCHIVE_TIMEOUT_SECONDS}\n"
    )


def stanza_create_args(conf_path: str = CONF_PATH) -> list[str]:
    """Idempotent: creates the stanza on first use, checks it matches the cluster afterwards."""
    return _base(conf_path) + ["stanza-create"]


def backup_args(kind: BackupType, conf_path: str = CONF_PATH) -> list[str]:
    return _base(conf_path) + [f"--type={kind}", "backup"]


def check_args(conf_path: str = CONF_PATH) -> list[str]:
    """Checks the repository is reachable and WAL archiving works (forces a segment through archive_command)."""
    return _base(conf_path) + ["check"]


def info_args(conf_path: str = CONF_PATH) -> list[str]:
    return _base(conf_path) + ["--output=json", "info"]


def restore_args(target: Optional[str], conf_path: str = CONF_PATH) -> list[str]:
    """Restore into an empty data directory: to `target` (a timestamp PostgreSQL understands, e.g.
    2026-12-03 19:30:00+00) and promote there, or with target None to the end of the archived WAL."""
    args = _base(conf_path)
    if target is not None:
        args += ["--type=time", f"--target={target}", "--target-action=promote"]
    return args + ["restore"]
