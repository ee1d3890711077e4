"""Processes of the restore drill, each started here and stopped by its own pid.

PostgreSQL refuses to run as root, and CI runs as root: there every PostgreSQL and pgBackRest command runs
as the unprivileged `postgres` user (Debian's package creates it; `nobody` otherwise) through setpriv. A
non-root developer runs them as themselves. PostgreSQL listens on no TCP port at all (a Unix socket in the
drill's directory); the S3 server binds 127.0.0.1 on a port the kernel picks.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DRILL_USERS = ("postgres", "nobody")
# Clearly fake credentials: the S3 server accepts any, pgBackRest needs some (from its environment).
FAKE_KEY = "FAKE-DRILL-ACCESS-KEY"
FAKE_SECRET = "fake-drill-secret-not-a-credential"
REGION = "us-east-1"
DEADLINE_SECONDS = 120.0  # a process that is not ready by then has failed to start


class DrillError(RuntimeError):
    """A drill step failed; the message carries the command's output."""


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class User:
    """Who PostgreSQL and pgBackRest run as: a non-root account (root itself only switches to it)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def for_drill(cls) -> "User":
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)
        for name in DRILL_USERS:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)
        raise DrillError(f"none of the users {DRILL_USERS} exists to run PostgreSQL as non-root")

    def command(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--", *args]

    def own(self, path: Path) -> None:
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(path):
                for name in [root, *(os.path.join(root, entry) for entry in dirs + files)]:
                    os.chown(name, self.uid, self.gid)


class S3Server:
    """tests/drill/s3_server.py in its own process."""

    def __init__(self, log: Path):
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.drill.s3_server"], stdout=subprocess.PIPE, stderr=self._log, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("port "):
            self.stop()
            raise DrillError(f"the S3 server did not start: {log.read_text()[-2000:]}")
        self.port = int(line.split()[1])

    def create_bucket(self, bucket: str) -> None:
        import boto3
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # its certificate is self-signed
        client = boto3.client("s3", endpoint_url=f"https://127.0.0.1:{self.port}", verify=False,
                              region_name=REGION, aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_SECRET)
        client.create_bucket(Bucket=bucket)
        self.client = client

    def stop(self) -> None:
        _stop(self.process)
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()


class Postgres:
    """One PostgreSQL 15 cluster in `data`, as `user`, socket in `socket_dir`, no TCP listener."""

    def __init__(self, user: User, data: Path, socket_dir: Path, port: int, log: Path, env: dict[str, str]):
        self.user, self.data, self.socket_dir, self.port, self.log, self.env = user, data, socket_dir, port, log, env
        self.process: Optional[subprocess.Popen] = None

    def run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.user.command(args), env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise DrillError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}"
                             f"\n{result.stderr[-3000:]}")
        return result

    def initdb(self, settings: str) -> None:
        self.run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "docrag", "--auth=trust", "-E", "UTF8"])
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def start(self) -> None:
        log = self.log.open("a")
        self.process = subprocess.Popen(self.user.command([str(PG_BIN / "postgres"), "-D", str(self.data)]),
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.wait_until("SELECT NOT pg_is_in_recovery()", "t")

    def wait_until(self, query: str, expected: str) -> None:
        """Poll `query` until it answers `expected` (e.g. recovery finished); fail if PostgreSQL exits."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DrillError(f"postgres exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            result = self.run(self._psql(query), check=False)
            if result.returncode == 0 and result.stdout.strip() == expected:
                return
            time.sleep(0.2)
        raise DrillError(f"{query!r} never answered {expected!r}:\n{self.log.read_text()[-3000:]}")

    def _psql(self, sql: str) -> list[str]:
        return [str(PG_BIN / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
                "-p", str(self.port), "-U", "docrag", "-d", "postgres", "-c", sql]

    def sql(self, sql: str) -> str:
        return self.run(self._psql(sql)).stdout.strip()

    def stop(self) -> None:
        """Fast shutdown (SIGINT): what a pod's termination amounts to."""
        if self.process is not None:
            _stop(self.process, signal.SIGINT)
            self.process = None

    def destroy(self) -> None:
        """The data directory gone, as after a lost volume; an empty directory is left to restore into."""
        shutil.rmtree(self.data)
        self.data.mkdir(mode=0o700)
        self.user.own(self.data)
