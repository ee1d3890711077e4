"""`python -m ops restore`: target parsing, the backup it restores from, the steps it prints, its exit codes."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from rich.console import Console

from ops.checks.kubernetes_schema import validate_manifest
from ops.checks.pod_security import violations
from ops.restore import (
    EXIT_CANNOT_RESTORE,
    RestoreRefused,
    Target,
    choose_backup,
    parse_target,
    restore,
    restore_claim,
    restore_job,
    restore_steps,
)
from ops.stackconfig import UsageError, load_stack_config

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=timezone.utc)
FULL_STOP = 1796320000  # 2026-12-03 17:46:40 UTC
DIFF_STOP = 1796323600  # 2026-12-03 18:46:40 UTC


def info(*backups: tuple[str, str, int]) -> list[dict[str, Any]]:
    """`pgbackrest info --output=json` as pgBackRest 2.45 prints it (the fields read here)."""
    return [{
        "name": "docrag",
        "status": {"code": 0 if backups else 2, "message": "ok" if backups else "no valid backups"},
        "backup": [{"label": label, "type": kind, "timestamp": {"start": stop - 60, "stop": stop}}
                   for label, kind, stop in backups],
    }]


def run_restore(*args: Any, runner: Any = None, **kwargs: Any) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, highlight=False, soft_wrap=True)
    extra = {"run": runner} if runner is not None else {}
    code = restore(*args, console, now=NOW, **extra, **kwargs)
    return code, buffer.getvalue()


@pytest.mark.parametrize("text, expected", [
    ("latest", None),
    ("2026-12-03T19:30:00Z", "2026-12-03 19:30:00.000000+00"),
    ("2026-12-03 20:30:00+01:00", "2026-12-03 19:30:00.000000+00"),
    ("2026-12-03T19:30:00.25+00", "2026-12-03 19:30:00.250000+00"),
])
def test_targets_are_latest_or_a_utc_moment(text: str, expected: str | None) -> None:
    assert parse_target(text, NOW).pgbackrest == expected


@pytest.mark.parametrize("text, problem", [
    ("2026-12-03T19:30:00", "with its offset"),
    ("yesterday", "allowed: latest"),
    ("2026-12-04T00:00:00Z", "in the future"),
])
def test_ambiguous_or_future_targets_are_refused(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_target(text, NOW)


def test_the_newest_backup_finished_before_the_target_is_chosen() -> None:
    repository = info(("20261203-174540F", "full", FULL_STOP), ("20261203-174540F_20261203-184540D", "diff", DIFF_STOP))
    assert choose_backup(repository, Target(None)).label == "20261203-174540F_20261203-184540D"
    between = Target(datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc))
    assert choose_backup(repository, between).label == "20261203-174540F"


def test_no_backup_or_none_old_enough_is_refused_not_an_empty_database() -> None:
    with pytest.raises(RestoreRefused, match="no backup set .* a restore would start an empty database"):
        choose_backup(info(), Target(None))
    with pytest.raises(RestoreRefused, match="no backup finished before 2026-12-03 17:00:00.000000 UTC: the oldest, "
                                             "20261203-174540F, ended 2026-12-03 17:46:40 UTC"):
        choose_backup(info(("20261203-174540F", "full", FULL_STOP)),
                      Target(datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc)))
    with pytest.raises(RestoreRefused, match="no stanza 'docrag'"):
        choose_backup([], Target(None))


def test_the_restore_job_and_claim_are_valid_and_restricted() -> None:
    config = load_stack_config("prod").model()
    target = Target(datetime(2026, 12, 3, 19, 30, tzinfo=timezone.utc))
    job, claim = restore_job(config, target), restore_claim(config)
    for manifest in (job, claim):
        assert validate_manifest(manifest, "1.34") == ("ok", "")
    assert violations([job]) == []
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "postgres"
    assert pod["containers"][0]["image"] == "doc-rag/postgres-pgbackrest:16-alpine-2.54.2"
    assert ("'--type=time' '--target=2026-12-03 19:30:00.000000+00' '--target-action=promote' 'restore'"
            in pod["containers"][0]["command"][2])
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"


def test_the_steps_stop_writes_before_postgres_and_restart_them_last() -> None:
    steps = restore_steps(load_stack_config("prod").model(), Target(None))
    titles = [step.title for step in steps]
    assert titles == [
        "Check the repository", "Stop the API colours", "Stop Postgres", "Suspend the backup jobs",
        "Restore to the latest archived WAL into a new claim", "Switch the StatefulSet's claim to the restored volume",
        "Start Postgres", "Verify", "Restart the API colours", "Resume the backup jobs and take a full backup",
    ]
    assert steps[1].commands == ("kubectl -n doc-rag-prod scale deployment/api-deployment-blue --replicas=0",
                                 "kubectl -n doc-rag-prod scale deployment/api-deployment-green --replicas=0")
    assert steps[8].commands == ("kubectl -n doc-rag-prod scale deployment/api-deployment-blue --replicas=3",
                                 "kubectl -n doc-rag-prod scale deployment/api-deployment-green --replicas=3")


def test_dry_run_prints_every_step_and_contacts_nothing() -> None:
    def no_cluster(args: list[str]) -> tuple[int, str, str]:
        raise AssertionError(f"--dry-run ran {args}")

    code, printed = run_restore("prod", "2026-12-03T19:30:00Z", True, [], runner=no_cluster)
    assert code == 0
    assert "restore plan for stack prod: Postgres to 2026-12-03 19:30:00.000000 UTC" in printed
    assert "10. Resume the backup jobs and take a full backup" in printed
    assert "$ kubectl -n doc-rag-prod scale statefulset/postgres --replicas=0" in printed
    assert "nothing was changed" in printed


def test_a_real_run_reads_the_repository_and_names_the_backup() -> None:
    calls: list[list[str]] = []

    def kubectl(args: list[str]) -> tuple[int, str, str]:
        calls.append(args)
        return 0, json.dumps(info(("20261203-174540F", "full", FULL_STOP))), ""

    code, printed = run_restore("prod", "latest", False, [], runner=kubectl)
    assert code == 0
    assert calls == [["kubectl", "-n", "doc-rag-prod", "exec", "postgres-0", "-c", "postgres", "--", "pgbackrest",
                      "--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=docrag", "--output=json", "info"]]
    assert "restoring from full backup 20261203-174540F (ended 2026-12-03 17:46:40 UTC)" in printed


@pytest.mark.parametrize("answer, message", [
    ((0, json.dumps(info()), ""), "CANNOT RESTORE: the repository holds no backup set"),
    ((1, "", "Error from server (NotFound): pods \"postgres-0\" not found\n"),
     "CANNOT RESTORE: cannot read the repository through postgres-0 (exit 1): Error from server (NotFound)"),
    ((0, "ERROR: [055]: unable to load info file", ""), "CANNOT RESTORE: pgbackrest info printed no JSON"),
])
def test_a_repository_that_cannot_serve_the_restore_exits_1(answer: tuple[int, str, str], message: str) -> None:
    code, printed = run_restore("prod", "latest", False, [], runner=lambda args: answer)
    assert code == EXIT_CANNOT_RESTORE
    assert message in printed
    assert "Stop the API colours" not in printed


@pytest.mark.parametrize("stack, to, dry_run, sets, message", [
    ("dev", "latest", True, [], "stack 'dev' has no Postgres backups"),
    ("prod", "soon", True, [], "allowed: latest"),
    ("prod", "latest", False, ["postgres.storage=200Gi"], "--set is for --dry-run only"),
    ("prod", "latest", True, ["postgres.backup.enabled=false"], "stack 'prod' has no Postgres backups"),
])
def test_usage_and_config_problems_exit_2(stack: str, to: str, dry_run: bool, sets: list[str], message: str) -> None:
    code, printed = run_restore(stack, to, dry_run, sets)
    assert code == 2
    assert message in printed
