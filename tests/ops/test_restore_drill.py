"""The restore drill, with real programs: PostgreSQL 15 and pgBackRest (Debian's), S3 from moto on loopback.

pgbackrest.conf comes from components/pgbackrest.render_conf, as the stack renders it; only where the
repository is differs (endpoint 127.0.0.1 and the server's port, path-style URIs, its self-signed certificate
not verified, fake shared keys instead of web identity). The archive_command is the stack's too.

Scenario: rows before a full backup, rows after it, the time noted, rows after that; the data directory
destroyed; restored to the latest point (every row back), destroyed again, restored to the noted time
(exactly the rows committed before it). A backup that is missing or corrupted makes the restore fail with
pgBackRest's error, and no database is started from it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from components import pgbackrest
from ops.restore import Target, choose_backup
from tests.conftest import require_tool
from tests.drill.processes import (
    FAKE_KEY,
    FAKE_SECRET,
    PG_BIN,
    REGION,
    DrillError,
    Postgres,
    S3Server,
    User,
)

BUCKET = "doc-rag-drill"
ROWS_BEFORE_BACKUP = range(1, 101)
ROWS_BEFORE_TARGET = range(101, 201)
ROWS_AFTER_TARGET = range(201, 301)


def _require_tools() -> None:
    require_tool("pgbackrest", "Debian's pgbackrest package (make setup / .ci/run install it)")
    require_tool(str(PG_BIN / "postgres"), "Debian's postgresql-15 package (make setup / .ci/run install it)")
    if importlib.util.find_spec("moto") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("moto is required under CI=true (moto[server] in requirements-dev.txt)")
        pytest.skip("moto not installed: pip install -r requirements-dev.txt")


class Drill:
    """The drill's directory, S3 server, PostgreSQL cluster and pgBackRest configuration."""

    def __init__(self, root: Path, s3: S3Server, user: User):
        self.root, self.s3 = root, s3
        self.conf = root / "pgbackrest.conf"
        socket_dir = root / "socket"
        port = 5432  # only names the socket file: PostgreSQL listens on no TCP port here
        repository = pgbackrest.Repository(bucket=BUCKET, region=REGION, endpoint="127.0.0.1", port=s3.port,
                                           uri_style="path", verify_tls=False, key_type="shared")
        database = pgbackrest.Database(data_path=str(root / "data"), port=port, socket_path=str(socket_dir),
                                       user="docrag")
        scratch = pgbackrest.Scratch(lock_path=str(root / "lock"), log_path=str(root / "log"))
        self.conf.write_text(pgbackrest.render_conf(repository, database, scratch))
        for directory in (socket_dir, root / "lock", root / "log"):
            directory.mkdir()
        (root / "data").mkdir(mode=0o700)
        user.own(root)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(root),
               "PGBACKREST_REPO1_S3_KEY": FAKE_KEY, "PGBACKREST_REPO1_S3_KEY_SECRET": FAKE_SECRET}
        self.postgres = Postgres(user, root / "data", socket_dir, port, root / "postgres.log", env)

    def pgbackrest(self, args: list[str]) -> str:
        return self.postgres.run(args).stdout

    def settings(self) -> str:
        """postgresql.conf additions: the socket, no TCP, and the stack's archive settings."""
        return (f"listen_addresses = ''\nport = {self.postgres.port}\n"
                f"unix_socket_directories = '{self.postgres.socket_dir}'\nwal_level = replica\n"
                + pgbackrest.archive_settings(str(self.conf)))

    def insert(self, rows: range, phase: str) -> None:
        self.postgres.sql(f"INSERT INTO drill (id, phase) SELECT g, '{phase}' FROM generate_series({rows.start}, "
                          f"{rows.stop - 1}) AS g")

    def rows(self) -> list[tuple[int, str]]:
        out = self.postgres.sql("SELECT id || ',' || phase FROM drill ORDER BY id")
        return [(int(line.split(",")[0]), line.split(",")[1]) for line in out.splitlines()]

    def restore(self, target: str | None, job_retries: bool = True) -> None:
        """The stack's restore command into the emptied data directory, then PostgreSQL until promoted.

        Without job_retries, a failing file fails at once: pgBackRest retries each failed file job twice, the
        second time after 15 s, which the stack keeps for transient S3 errors and a corrupted file never passes.
        """
        self.postgres.destroy()
        args = pgbackrest.restore_args(target, str(self.conf))
        self.pgbackrest(args if job_retries else [*args[:-1], "--job-retry=0", args[-1]])
        self.postgres.start()

    def backup_objects(self, label: str) -> list[str]:
        prefix = f"{pgbackrest.REPO_PATH.strip('/')}/backup/{pgbackrest.STANZA}/{label}/"
        listed = self.s3.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]


def expected(rows: range, phase: str) -> list[tuple[int, str]]:
    return [(number, phase) for number in rows]


@pytest.fixture
def drill() -> Iterator[Drill]:
    _require_tools()
    user = User.for_drill()
    # Not pytest's tmp_path: its parents are private to root, and PostgreSQL runs as another user.
    root = Path(tempfile.mkdtemp(prefix="doc-rag-drill-"))
    root.chmod(0o755)
    s3 = S3Server(root / "s3.log")
    drill = Drill(root, s3, user)
    try:
        s3.create_bucket(BUCKET)
        drill.postgres.initdb(drill.settings())
        drill.postgres.start()
        drill.pgbackrest(pgbackrest.stanza_create_args(str(drill.conf)))
        drill.postgres.sql("CREATE TABLE drill (id integer PRIMARY KEY, phase text NOT NULL)")
        drill.insert(ROWS_BEFORE_BACKUP, "before-backup")
        drill.pgbackrest(pgbackrest.backup_args("full", str(drill.conf)))
        yield drill
    finally:
        drill.postgres.stop()
        s3.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_restore_to_latest_and_to_a_noted_time_brings_back_exactly_the_committed_rows(drill: Drill) -> None:
    drill.insert(ROWS_BEFORE_TARGET, "before-target")
    target = drill.postgres.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                                "'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    drill.insert(ROWS_AFTER_TARGET, "after-target")
    # Forces a WAL switch and waits until the segment holding the last rows is in the repository.
    drill.pgbackrest(pgbackrest.check_args(str(drill.conf)))
    everything = (expected(ROWS_BEFORE_BACKUP, "before-backup") + expected(ROWS_BEFORE_TARGET, "before-target")
                  + expected(ROWS_AFTER_TARGET, "after-target"))
    assert drill.rows() == everything
    drill.postgres.stop()

    # Latest first: a promotion starts a new timeline, and "latest" would follow the newest one.
    drill.restore(None)
    assert drill.rows() == everything
    drill.postgres.stop()

    drill.restore(target)
    assert drill.rows() == expected(ROWS_BEFORE_BACKUP, "before-backup") + expected(ROWS_BEFORE_TARGET,
                                                                                    "before-target")
    drill.postgres.stop()


def test_a_missing_or_corrupted_backup_fails_the_restore_and_starts_no_database(drill: Drill) -> None:
    drill.postgres.stop()
    info = json.loads(drill.pgbackrest(pgbackrest.info_args(str(drill.conf))))
    label = info[0]["backup"][-1]["label"]
    # What `ops restore` reads from the real repository: the drill's full backup.
    assert choose_backup(info, Target(None)).label == label and label.endswith("F")
    objects = drill.backup_objects(label)
    data_files = [key for key in objects if "/pg_data/" in key or "/bundle/" in key]
    assert data_files, objects

    # Corrupted: one stored file's bytes replaced.
    drill.s3.client.put_object(Bucket=BUCKET, Key=data_files[0], Body=b"not what pgBackRest wrote")
    with pytest.raises(DrillError) as corrupted:
        drill.restore(None, job_retries=False)
    # pgBackRest checks every file it restores: here the stored bytes do not decompress.
    assert "ERROR: [" in str(corrupted.value) and "restore" in str(corrupted.value)
    assert drill.postgres.process is None, "no PostgreSQL may start from a failed restore"

    # Missing: the backup's files gone (its manifest still names them).
    for key in objects:
        drill.s3.client.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(DrillError) as missing:
        drill.restore(None)
    assert f"unable to load backup manifest file '/postgres/backup/docrag/{label}/backup.manifest'" in str(
        missing.value)
    assert drill.postgres.process is None
