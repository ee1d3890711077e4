"""Postgres backups as the prod stack registers them: bucket, key, IRSA role, AWS Backup, pgBackRest, jobs.

Everything runs the program under the SDK monitor (ops.runner.run_program, which waits for every Output).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import pgbackrest
from components.config import ConfigError, parse_config
from ops.checks import ALL_CHECKS
from ops.manifests import manifests
from ops.runner import Registered, RunResult
from tests.conftest import program, run_plan

BUCKET_NAME = "doc-rag-prod-pg-backups-20261203000000000001"  # ops/mocks.py's name for the bucket
POLICY_CHECK = [check for check in ALL_CHECKS if check.name == "policy-pack"]
MOCK_ARN = "arn:aws:mock:us-east-1:123456789012"  # ops/mocks.py's ARNs
RELEASE = {"blue": {"image": "doc-rag/api:v1.0.0"}, "green": {"image": "doc-rag/api:v1.1.0"}}


def _one(run: RunResult, type_: str) -> Registered:
    found = run.of_type(type_)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def _object(run: RunResult, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in manifests(run.resources) if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The prod plan document, written by `ops plan` (T4 only, the tier this file judges)."""
    tmp_path = tmp_path_factory.mktemp("plan")
    outcome, printed = run_plan(tmp_path, "prod", checks=POLICY_CHECK)
    assert outcome.exit_code == 0, printed
    return json.loads((tmp_path / "plan" / "plan.json").read_text())


def test_the_plan_marks_the_data_that_must_survive_a_destroy(plan_json: dict[str, Any]) -> None:
    kept = {(r["type"], r["name"]) for r in plan_json["resources"] if r.get("protect") and r.get("retainOnDelete")}
    assert kept == {
        ("aws:s3/bucket:Bucket", "postgres-backup-storage-bucket"),
        ("aws:kms/key:Key", "postgres-backup-storage-key"),
        ("aws:backup/vault:Vault", "postgres-backup-storage-vault"),
        ("kubernetes:apps/v1:StatefulSet", "postgres"),
    }
    redis = next(r for r in plan_json["resources"] if r["name"] == "redis" and r["type"].endswith("StatefulSet"))
    assert "protect" not in redis and "retainOnDelete" not in redis


def test_the_claims_volume_outlives_its_claim_and_the_statefulset(prod_run: RunResult) -> None:
    storage_class = _object(prod_run, "StorageClass", "gp3")
    assert storage_class["reclaimPolicy"] == "Retain"
    postgres = _object(prod_run, "StatefulSet", "postgres")
    assert postgres["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_bucket_is_versioned_encrypted_private_tls_only_with_lifecycle(prod_run: RunResult) -> None:
    versioning = _one(prod_run, "aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    encryption = _one(prod_run, "aws:s3/bucketServerSideEncryptionConfiguration:"
                                "BucketServerSideEncryptionConfiguration").inputs["rules"][0]
    assert encryption["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:aws:mock:us-east-1:123456789012:postgres-backup-storage-key"}
    block = _one(prod_run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert [block[key] for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                    "restrictPublicBuckets")] == [True, True, True, True]
    rule = _one(prod_run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"][0]
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    assert "expiration" not in rule, "current objects are pgBackRest's to expire, never S3's"
    policy = json.loads(_one(prod_run, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    key = prod_run.named("postgres-backup-storage-key").inputs
    assert key["enableKeyRotation"] is True


def test_only_the_postgres_service_account_may_use_the_bucket_and_only_its_prefix(prod_run: RunResult) -> None:
    role = prod_run.named("postgres-backup-storage-postgres").inputs
    trust = json.loads(role["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert sorted(trust.values()) == ["sts.amazonaws.com", "system:serviceaccount:doc-rag-prod:postgres"]
    policy = json.loads(prod_run.named("postgres-backup-storage-postgres-bucket").inputs["policy"])
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    bucket_arn = "arn:aws:mock:us-east-1:123456789012:postgres-backup-storage-bucket"
    assert by_sid["ReadWriteRepository"]["Resource"] == f"{bucket_arn}/postgres/*"
    assert by_sid["ListRepository"]["Condition"] == {"StringLike": {"s3:prefix": ["postgres", "postgres/*"]}}
    assert by_sid["EncryptWithBackupKey"]["Resource"] == f"{MOCK_ARN}:postgres-backup-storage-key"
    account = _object(prod_run, "ServiceAccount", "postgres")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        "arn:aws:mock:us-east-1:123456789012:postgres-backup-storage-postgres")


def test_aws_backup_snapshots_the_postgres_volume_by_its_claim_tags(prod_run: RunResult) -> None:
    selection = _one(prod_run, "aws:backup/selection:Selection").inputs
    assert selection["conditions"][0]["stringEquals"] == [
        {"key": "aws:ResourceTag/kubernetes.io/created-for/pvc/name", "value": "postgres-storage-postgres-0"},
        {"key": "aws:ResourceTag/kubernetes.io/created-for/pvc/namespace", "value": "doc-rag-prod"},
    ]
    plan_rule = _one(prod_run, "aws:backup/plan:Plan").inputs["rules"][0]
    assert plan_rule["lifecycle"]["deleteAfter"] == 14
    assert plan_rule["schedule"] == "cron(0 5 * * ? *)"


def test_postgres_archives_wal_with_the_rendered_pgbackrest_conf(prod_run: RunResult) -> None:
    conf = _object(prod_run, "ConfigMap", "postgres-backup-config")["data"]["pgbackrest.conf"]
    expected = pgbackrest.render_conf(
        pgbackrest.Repository(bucket=BUCKET_NAME, region="us-east-1", retention_full=4),
        pgbackrest.Database(data_path="/var/lib/postgresql/data/pgdata", user="docrag"),
    )
    assert conf == expected
    assert "repo1-s3-key-type=web-id" in conf and "repo1-s3-key=" not in conf
    postgresql_conf = _object(prod_run, "ConfigMap", "postgres-config")["data"]["postgresql.conf"]
    assert ("archive_command = 'pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=docrag archive-push %p'"
            in postgresql_conf.splitlines())
    assert "archive_mode = on" in postgresql_conf.splitlines()
    pod = _object(prod_run, "StatefulSet", "postgres")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "postgres"
    container = pod["containers"][0]
    assert container["image"] == "doc-rag/postgres-pgbackrest:16-alpine-2.54.2"
    assert {"name": "pgbackrest-config", "mountPath": "/etc/pgbackrest", "readOnly": True} in container["volumeMounts"]


def test_backup_jobs_run_pgbackrest_in_postgres_on_their_schedules(prod_run: RunResult) -> None:
    for name, schedule, kind in (("postgres-backup-full", "0 3 * * 0", "full"),
                                 ("postgres-backup-diff", "0 3 * * 1-6", "diff")):
        job = _object(prod_run, "CronJob", name)
        assert job["metadata"]["labels"]["doc-rag/backup-of"] == "postgres"
        assert job["spec"]["schedule"] == schedule and job["spec"]["concurrencyPolicy"] == "Forbid"
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["initContainers"][0]["command"][-1] == "stanza-create"
        assert pod["containers"][0]["command"] == [
            "kubectl", "exec", "--namespace", "doc-rag-prod", "postgres-0", "--container", "postgres", "--",
            "pgbackrest", "--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=docrag", f"--type={kind}", "backup"]
    role = _object(prod_run, "Role", "postgres-backup")
    assert [(rule["resources"], rule["verbs"], rule["resourceNames"]) for rule in role["rules"]] == [
        (["pods"], ["get"], ["postgres-0"]), (["pods/exec"], ["create"], ["postgres-0"])]


def test_schedules_and_retention_come_from_config() -> None:
    run = program("prod", ("postgres.backup.fullSchedule=30 1 * * 6", "postgres.backup.retentionFull=2"))
    assert _object(run, "CronJob", "postgres-backup-full")["spec"]["schedule"] == "30 1 * * 6"
    assert "repo1-retention-full=2" in _object(run, "ConfigMap", "postgres-backup-config")["data"]["pgbackrest.conf"]


def test_dev_has_no_backup_objects(dev_run: RunResult) -> None:
    assert not [r.name for r in dev_run.resources if "backup" in r.name]
    assert "archive_mode" not in _object(dev_run, "ConfigMap", "postgres-config")["data"]["postgresql.conf"]
    assert "postgresBackup" not in dev_run.outputs


@pytest.fixture(scope="module")
def local_run() -> RunResult:
    return program("local")


def test_the_local_stack_backs_up_to_its_existing_bucket_without_any_aws_resource(local_run: RunResult) -> None:
    assert [r.name for r in local_run.resources if r.type.startswith("aws:")] == []
    conf = _object(local_run, "ConfigMap", "postgres-backup-config")["data"]["pgbackrest.conf"].splitlines()
    for line in ("repo1-s3-bucket=doc-rag-local-pg-backups-not-real", "repo1-s3-region=eu-west-1",
                 "repo1-s3-endpoint=s3.eu-west-1.amazonaws.com", "repo1-s3-uri-style=host",
                 "repo1-s3-key-type=web-id", "repo1-path=/postgres"):
        assert line in conf
    account = _object(local_run, "ServiceAccount", "postgres")
    assert "annotations" not in account["metadata"], "no roleArn: no IRSA annotation"
    assert _object(local_run, "StatefulSet", "postgres")["spec"]["template"]["spec"]["serviceAccountName"] == "postgres"
    for name in ("postgres-backup-full", "postgres-backup-diff"):
        assert _object(local_run, "CronJob", name)["metadata"]["labels"]["doc-rag/backup-of"] == "postgres"
    for kind, name in (("Role", "postgres-backup"), ("RoleBinding", "postgres-backup"),
                       ("ServiceAccount", "postgres-backup"), ("NetworkPolicy", "postgres-backup-egress"),
                       ("NetworkPolicy", "postgres-backup-jobs")):
        assert _object(local_run, kind, name)["metadata"]["namespace"] == "doc-rag-prod"
    assert local_run.outputs["postgresBackup"] == {
        "bucket": "doc-rag-local-pg-backups-not-real", "region": "eu-west-1", "stanza": "docrag",
        "repoPath": "/postgres", "cronJobs": ["postgres-backup-full", "postgres-backup-diff"]}


def test_an_existing_bucket_stack_does_not_protect_the_statefulset(local_run: RunResult) -> None:
    """Only eks stacks own their backup storage; the local stack's T7 must be able to destroy everything."""
    postgres = next(r for r in local_run.resources if r.name == "postgres" and r.type.endswith("StatefulSet"))
    assert not postgres.protect and not postgres.retain_on_delete


def test_a_role_arn_annotates_the_postgres_service_account_and_a_dotted_bucket_uses_path_style() -> None:
    run = program("local", ("postgres.backup.roleArn=arn:aws:iam::210987654321:role/pg-backup",
                                "postgres.backup.bucket=backups.example.org"))
    account = _object(run, "ServiceAccount", "postgres")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::210987654321:role/pg-backup"}
    conf = _object(run, "ConfigMap", "postgres-backup-config")["data"]["pgbackrest.conf"].splitlines()
    assert "repo1-s3-bucket=backups.example.org" in conf and "repo1-s3-uri-style=path" in conf
    assert run.outputs["postgresBackup"]["roleArn"] == "arn:aws:iam::210987654321:role/pg-backup"


def test_backups_off_in_existing_mode_render_no_backup_object() -> None:
    run = program("local", ("postgres.backup.enabled=false",))
    assert not [r.name for r in run.resources if "backup" in r.name]
    assert "postgresBackup" not in run.outputs


def test_existing_mode_backups_need_a_bucket_and_its_region() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"cluster": {"mode": "existing"}, "release": RELEASE, "postgres": {"backup": {"enabled": True}}})
    assert error.value.problems == [
        "postgres.backup.bucket: required with backups on in cluster.mode existing; allowed: an S3 bucket name: 3-63 "
        "characters, lower-case letters, digits, hyphens and dots, starting and ending with a letter or digit, e.g. "
        "doc-rag-pg-backups (a bucket you own), or postgres.backup.enabled: false"]
    with pytest.raises(ConfigError) as error:
        parse_config({"cluster": {"mode": "existing"}, "release": RELEASE,
                      "postgres": {"backup": {"bucket": "doc-rag-pg-backups"}}})
    assert error.value.problems == [
        "postgres.backup.region: required with postgres.backup.bucket; allowed: an AWS region name such as "
        "eu-west-1, us-east-1 or ap-southeast-2 (the bucket's region)"]


def test_a_bucket_alone_turns_backups_on_in_existing_mode_and_nothing_else_does() -> None:
    base = {"cluster": {"mode": "existing"}, "release": RELEASE}
    assert parse_config({**base, "postgres": {"backup": {"bucket": "b-1", "region": "us-west-2"}}}).backups is True
    assert parse_config(base).backups is False
    assert parse_config({"release": RELEASE}).backups is True


@pytest.mark.parametrize("key, value", [
    ("bucket", "doc-rag-pg-backups"), ("region", "eu-west-1"), ("roleArn", "arn:aws:iam::123456789012:role/r")])
def test_an_eks_stack_refuses_an_existing_bucket_region_or_role(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"release": RELEASE, "postgres": {"backup": {key: value}}})
    assert error.value.problems == [
        f"postgres.backup.{key} = '{value}': allowed only with cluster.mode existing (an eks stack creates and owns "
        "its bucket, KMS key and IAM role)"]


@pytest.mark.parametrize("bucket", [
    "ab", "a" * 64, "Doc-Rag", "doc_rag", "-doc-rag", "doc-rag-", "doc..rag", "192.168.10.1", "xn--doc-rag",
    "sthree-doc", "doc-rag-s3alias", "doc-rag--ol-s3", "doc rag"])
def test_a_bucket_name_s3_refuses_is_refused(bucket: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"cluster": {"mode": "existing"}, "release": RELEASE,
                      "postgres": {"backup": {"bucket": bucket, "region": "eu-west-1"}}})
    (problem,) = error.value.problems
    assert problem.startswith(f"postgres.backup.bucket = '{bucket}': allowed: an S3 bucket name: 3-63 characters")


@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "doc-rag.backups-1", "0doc-rag9"])
def test_a_bucket_name_s3_accepts_is_accepted(bucket: str) -> None:
    config = parse_config({"cluster": {"mode": "existing"}, "release": RELEASE,
                           "postgres": {"backup": {"bucket": bucket, "region": "eu-west-1"}}})
    assert config.postgres.backup.bucket == bucket


@pytest.mark.parametrize("key, value, allowed", [
    ("region", "eu-west", "allowed: an AWS region name such as eu-west-1"),
    ("region", "EU-WEST-1", "allowed: an AWS region name such as eu-west-1"),
    ("region", "mars-north-1", "allowed: an AWS region name such as eu-west-1"),
    ("roleArn", "arn:aws:iam::123:role/r", "allowed: an IAM role ARN such as arn:aws:iam::123456789012:role/"),
    ("roleArn", "arn:aws:iam::123456789012:user/u", "allowed: an IAM role ARN such as"),
])
def test_bad_region_or_role_is_refused_naming_the_key(key: str, value: str, allowed: str) -> None:
    backup = {"bucket": "doc-rag-pg-backups", "region": "eu-west-1", key: value}
    with pytest.raises(ConfigError) as error:
        parse_config({"cluster": {"mode": "existing"}, "release": RELEASE, "postgres": {"backup": backup}})
    (problem,) = error.value.problems
    assert problem.startswith(f"postgres.backup.{key} = '{value}': {allowed}")


@pytest.mark.parametrize("override, key, allowed", [
    ("postgres.backup.bucket=Not_A_Bucket", "postgres.backup.bucket", "allowed: an S3 bucket name"),
    ("postgres.backup.region=moon-1", "postgres.backup.region", "allowed: an AWS region name"),
    ("postgres.backup.roleArn=role/x", "postgres.backup.roleArn", "allowed: an IAM role ARN"),
])
def test_bad_existing_bucket_config_exits_2_naming_the_key(tmp_path: Path, override: str, key: str,
                                                           allowed: str) -> None:
    outcome, _ = run_plan(tmp_path, "local", (override,), checks=[])
    assert outcome.exit_code == 2
    assert any(line.strip().startswith(f"- {key}") for line in outcome.error.splitlines()), outcome.error
    assert allowed in outcome.error


@pytest.mark.parametrize("override, key, allowed", [
    ("postgres.backup.fullSchedule=weekly", "postgres.backup.fullSchedule", "five-field cron schedule"),
    ("postgres.backup.retentionFull=0", "postgres.backup.retentionFull", "greater than or equal to 1"),
    ("postgres.backup.image=postgres", "postgres.backup.image", "pinned"),
    ("postgres.backup.snapshotRetentionDays=400", "postgres.backup.snapshotRetentionDays", "less than or equal to 365"),
    ("postgres.backup.keep=yes", "postgres.backup.keep", "unknown key"),
])
def test_bad_backup_config_exits_2_naming_the_key(tmp_path: Path, override: str, key: str, allowed: str) -> None:
    outcome, _ = run_plan(tmp_path, "prod", (override,), checks=[])
    assert outcome.exit_code == 2
    assert any(line.strip().startswith(f"- {key}") for line in outcome.error.splitlines()), outcome.error
    assert allowed in outcome.error


def test_prod_without_backups_fails_the_policy_pack(tmp_path: Path) -> None:
    outcome, printed = run_plan(tmp_path, "prod", ("postgres.backup.enabled=false",), checks=POLICY_CHECK)
    assert outcome.exit_code == 1
    findings = json.loads((tmp_path / "plan" / "plan.json").read_text())["checks"]["policy-pack"]["findings"]
    mandatory = [(f["rule"], f["subject"]) for f in findings if f["level"] == "mandatory"]
    assert mandatory == [("stateful-workload-backup", "StatefulSet/doc-rag-prod/postgres")]
    assert "keeps data on volume claims but no CronJob labelled doc-rag/backup-of: postgres" in printed
