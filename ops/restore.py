"""`python -m ops restore -s STACK --to TIME|latest [--dry-run]`: the Postgres restore procedure, step by step.

The restore goes into a new volume, so the current one stays as it is until the switch (and after it, as
a Released volume: the StorageClass retains it). Steps: check the repository, stop the API colours, stop
Postgres, restore into a new claim with a Job (the stack's image, service account and pgbackrest.conf),
switch the StatefulSet's claim to the restored volume, start Postgres (it replays WAL to the target and
promotes), verify, restart the API, take a full backup.

What it does by itself is deliberately little: `--dry-run` prints the steps without touching anything;
without it, the command also asks the running Postgres pod for the repository's backups (read-only
`pgbackrest info` through `kubectl exec`) and refuses a target no backup can reach, then prints the steps
with the chosen backup. It never scales, deletes or applies anything: each step that does is printed for
an operator to run and check (docs/operations.md, "Restore runbook").
Exit codes: 0 steps printed (and, without --dry-run, the repository can serve the target), 1 it cannot (no
backup, none old enough, the pod or kubectl unavailable), 2 usage or config.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import yaml
from rich.console import Console

from components import backup, data, pgbackrest, postgres_backup
from components.api import deployment_name
from components.config import COLORS, ConfigError, DocRagConfig
from components.meta import NS_PROD
from ops.exit_codes import EXIT_CANNOT_RESTORE, EXIT_OK, EXIT_USAGE
from ops.stackconfig import UsageError, load_stack_config

RESTORE_CLAIM = "postgres-restore"
RESTORE_JOB = "postgres-restore"
LATEST = "latest"
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$")

# Runs a command and returns (exit code, stdout, stderr); tests pass a fake.
Runner = Callable[[list[str]], tuple[int, str, str]]


class RestoreRefused(Exception):
    """The repository cannot serve the requested target; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """`latest`, or a moment in UTC (what pgBackRest's --target gets, and its epoch for comparisons)."""

    when: Optional[datetime]

    @property
    def pgbackrest(self) -> Optional[str]:
        return None if self.when is None else self.when.strftime("%Y-%m-%d %H:%M:%S.%f+00")

    def describe(self) -> str:
        return "the latest archived WAL" if self.when is None else self.when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def parse_target(text: str, now: datetime) -> Target:
    """`latest` or an ISO 8601 time with its offset (2026-12-03T19:30:00Z); a time without an offset is
    ambiguous and refused, as is a time in the future."""
    if text == LATEST:
        return Target(None)
    if not _TIME_RE.match(text):
        raise UsageError(f"--to {text!r}: allowed: latest, or an ISO 8601 time with its offset such as "
                         "2026-12-03T19:30:00Z or 2026-12-03 19:30:00+01:00")
    when = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    if when > now:
        raise UsageError(f"--to {text!r} is in the future (now {now:%Y-%m-%dT%H:%M:%SZ}); use --to latest")
    return Target(when)


@dataclass(frozen=True)
class Choice:
    label: str
    kind: str
    stopped: datetime


def choose_backup(info: Any, target: Target) -> Choice:
    """The newest backup set that finished before the target (any set for latest), from `pgbackrest info
    --output=json`. Refuses when there is none, so a restore never starts an empty or too-new database."""
    stanzas = [stanza for stanza in info if stanza.get("name") == pgbackrest.STANZA] if isinstance(info, list) else []
    if not stanzas:
        raise RestoreRefused(f"the repository has no stanza {pgbackrest.STANZA!r}: nothing was ever backed up")
    status = stanzas[0].get("status", {})
    sets = [Choice(item["label"], item["type"], datetime.fromtimestamp(item["timestamp"]["stop"], timezone.utc))
            for item in stanzas[0].get("backup", [])]
    if not sets:
        raise RestoreRefused(f"the repository holds no backup set ({status.get('message', 'no status')}): "
                             "a restore would start an empty database")
    usable = [item for item in sets if target.when is None or item.stopped <= target.when]
    if not usable:
        oldest = min(sets, key=lambda item: item.stopped)
        raise RestoreRefused(f"no backup finished before {target.describe()}: the oldest, {oldest.label}, ended "
                             f"{oldest.stopped:%Y-%m-%d %H:%M:%S} UTC")
    return max(usable, key=lambda item: item.stopped)


def restore_claim(config: DocRagConfig) -> dict[str, Any]:
    """A new claim of the Postgres volume's size and class, bound where the restore Job is scheduled."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": RESTORE_CLAIM, "namespace": NS_PROD},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": config.cluster.storageClass,
                 "resources": {"requests": {"storage": config.postgres.storage}}},
    }


def restore_job(config: DocRagConfig, target: Target) -> dict[str, Any]:
    """`pgbackrest restore` into the new claim, as the Postgres pod would run it: same image, service account
    (IRSA), pgbackrest.conf and UID, Pod Security "restricted"."""
    database = postgres_backup.postgres_database()
    uid = data.POSTGRES_UID
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": RESTORE_JOB, "namespace": NS_PROD},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "serviceAccountName": backup.POSTGRES_SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "restore", "image": config.postgres.backup.image,
                "command": ["sh", "-c", f"mkdir -p {database.data_path} && chmod 700 {database.data_path} && "
                            + " ".join(f"'{arg}'" for arg in pgbackrest.restore_args(target.pgbackrest))],
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "volumeMounts": [
                    {"name": "data", "mountPath": data.POSTGRES_DATA_MOUNT},
                    {"name": backup.CONFIG_VOLUME, "mountPath": pgbackrest.CONF_DIR, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": RESTORE_CLAIM}},
                {"name": backup.CONFIG_VOLUME, "configMap": {"name": backup.CONFIG_MAP}},
                {"name": "tmp", "emptyDir": {}},
            ],
        }}},
    }


@dataclass(frozen=True)
class Step:
    title: str
    why: str
    commands: tuple[str, ...]


def _kubectl(args: str) -> str:
    return f"kubectl -n {NS_PROD} {args}"


def restore_steps(config: DocRagConfig, target: Target) -> list[Step]:
    claim = postgres_backup.POSTGRES_CLAIM
    exec_postgres = f"exec {backup.POSTGRES_POD} -c postgres --"
    api = [deployment_name(color) for color in COLORS]
    min_replicas = {color: config.release.color(color).replicas for color in COLORS}
    manifests = yaml.safe_dump_all([restore_claim(config), restore_job(config, target)], sort_keys=False, width=1000)
    return [
        Step("Check the repository", "a backup set must have finished before the target, and WAL reach it",
             (_kubectl(f"{exec_postgres} {' '.join(pgbackrest.info_args()[:-2] + ['info'])}"),)),
        Step("Stop the API colours", "no writes may land on the database being replaced (HPAs leave 0 alone)",
             tuple(_kubectl(f"scale deployment/{name} --replicas=0") for name in api)),
        Step("Stop Postgres", "the old volume stays, untouched, until the switch (and Released after it)",
             (_kubectl("scale statefulset/postgres --replicas=0"),
              _kubectl(f"wait --for=delete pod/{backup.POSTGRES_POD} --timeout=120s"))),
        Step("Suspend the backup jobs", "a scheduled backup must not run against the restore",
             tuple(_kubectl(f"patch cronjob/{backup.cron_job_name(kind)} -p '{{\"spec\":{{\"suspend\":true}}}}'")
                   for kind in backup.SCHEDULES)),
        Step(f"Restore to {target.describe()} into a new claim",
             "pgBackRest writes the backup and the recovery settings; Postgres replays WAL when it starts. "
             "For a zone outage, add a nodeSelector topology.kubernetes.io/zone=<a healthy zone> to the Job",
             (f"cat <<'EOF' | kubectl apply -f -\n{manifests}EOF",
              _kubectl(f"wait --for=condition=complete job/{RESTORE_JOB} --timeout=6h"),
              _kubectl(f"logs job/{RESTORE_JOB}"))),
        Step("Switch the StatefulSet's claim to the restored volume",
             "the StatefulSet always claims its pod's volume by name; the old volume is kept (reclaim Retain)",
             (f"NEW_PV=$(kubectl -n {NS_PROD} get pvc {RESTORE_CLAIM} -o jsonpath='{{.spec.volumeName}}')",
              f"OLD_PV=$(kubectl -n {NS_PROD} get pvc {claim} -o jsonpath='{{.spec.volumeName}}')",
              _kubectl(f"delete job/{RESTORE_JOB} pvc/{RESTORE_CLAIM} pvc/{claim}"),
              "kubectl patch pv \"$NEW_PV\" -p '{\"spec\":{\"claimRef\":null}}'",
              f"kubectl -n {NS_PROD} create -f - <<EOF\n"
              + yaml.safe_dump({**restore_claim(config), "metadata": {"name": claim, "namespace": NS_PROD},
                                "spec": {**restore_claim(config)["spec"], "volumeName": "$NEW_PV"}},
                               sort_keys=False, width=1000) + "EOF",
              "echo \"previous volume kept: $OLD_PV\"")),
        Step("Start Postgres", "it replays WAL to the target, promotes, and archives a new timeline",
             (_kubectl("scale statefulset/postgres --replicas=1"),
              _kubectl(f"wait --for=condition=Ready pod/{backup.POSTGRES_POD} --timeout=1h"),
              _kubectl(f"{exec_postgres} psql -U {data.POSTGRES_USER} -d {data.POSTGRES_DB} -Atc "
                       "'SELECT pg_is_in_recovery()'  # must print f"))),
        Step("Verify", "the data the application needs is there, and archiving works on the new timeline",
             (_kubectl(f"{exec_postgres} psql -U {data.POSTGRES_USER} -d {data.POSTGRES_DB} -c "
                       "'SELECT now(), pg_last_xact_replay_timestamp()'"),
              _kubectl(f"{exec_postgres} {' '.join(pgbackrest.check_args())}"))),
        Step("Restart the API colours", "back to each colour's configured replicas; the HPAs take over again",
             tuple(_kubectl(f"scale deployment/{deployment_name(color)} --replicas={min_replicas[color]}")
                   for color in COLORS if min_replicas[color] > 0)),
        Step("Resume the backup jobs and take a full backup", "the restored database starts a new backup history",
             (*(_kubectl(f"patch cronjob/{backup.cron_job_name(kind)} -p '{{\"spec\":{{\"suspend\":false}}}}'")
                for kind in backup.SCHEDULES),
              _kubectl(f"create job --from=cronjob/{backup.cron_job_name('full')} postgres-backup-after-restore"))),
    ]


def _subprocess_runner(args: list[str]) -> tuple[int, str, str]:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return 127, "", f"{args[0]} not found on PATH"
    except subprocess.TimeoutExpired:
        return 124, "", f"{' '.join(args)} timed out"
    return result.returncode, result.stdout, result.stderr


def repository_info(run: Runner, kubeconfig: Optional[str]) -> Any:
    """`pgbackrest info` as the running Postgres pod sees the repository (read-only)."""
    command = ["kubectl", *(["--kubeconfig", kubeconfig] if kubeconfig else []), "-n", NS_PROD, "exec",
               backup.POSTGRES_POD, "-c", "postgres", "--", *pgbackrest.info_args()]
    code, out, err = run(command)
    if code != 0:
        lines = (err.strip() or out.strip()).splitlines()
        raise RestoreRefused(f"cannot read the repository through {backup.POSTGRES_POD} (exit {code}): "
                             f"{lines[-1] if lines else 'no output'}; with Postgres down, run the Job of step 5 "
                             "with `info` instead of `restore`")
    try:
        return json.loads(out)
    except ValueError:
        raise RestoreRefused(f"pgbackrest info printed no JSON: {out[:500]}") from None


def restore(stack: str, to: str, dry_run: bool, sets: list[str], console: Console, *,
            now: Optional[datetime] = None, run: Runner = _subprocess_runner,
            kubeconfig: Optional[str] = None) -> int:
    try:
        if sets and not dry_run:
            raise UsageError("--set is for --dry-run only")
        config = load_stack_config(stack, sets).model()
        target = parse_target(to, now or datetime.now(timezone.utc))
    except (UsageError, ConfigError) as error:
        console.print(f"error: {error}", markup=False)
        return EXIT_USAGE
    if not config.backups:
        console.print(f"error: stack {stack!r} has no Postgres backups (postgres.backup: on by default in eks "
                      "stacks, in existing mode with postgres.backup.bucket; enabled: false or unset here): nothing "
                      "to restore from", markup=False)
        return EXIT_USAGE
    console.print(f"restore plan for stack {stack}: Postgres to {target.describe()}", markup=False)
    if not dry_run:
        try:
            choice = choose_backup(repository_info(run, kubeconfig), target)
        except RestoreRefused as refused:
            console.print(f"CANNOT RESTORE: {refused}", markup=False)
            return EXIT_CANNOT_RESTORE
        console.print(f"repository: restoring from {choice.kind} backup {choice.label} (ended "
                      f"{choice.stopped:%Y-%m-%d %H:%M:%S} UTC), then WAL to {target.describe()}", markup=False)
    for number, step in enumerate(restore_steps(config, target), start=1):
        console.print(f"\n{number}. {step.title}: {step.why}", markup=False)
        for command in step.commands:
            console.print(f"   $ {command}", markup=False)
    console.print("\nnothing was changed: run the steps above in order, checking each "
                  "(docs/operations.md, \"Restore runbook\")", markup=False)
    return EXIT_OK


def restore_command(args: argparse.Namespace) -> int:
    # soft_wrap: commands are printed whole, to be copied, never folded at the terminal's width.
    return restore(args.stack, args.to, args.dry_run, args.set, Console(highlight=False, soft_wrap=True),
                   kubeconfig=args.kubeconfig)

