"""The optional cross-region copy of Postgres backups (postgres.backup.copyRegion), as the prod plan renders it.

Plans go through `ops plan` (tests/conftest.run_plan) with `--set`-style overrides; expected values are literals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, parse_config
from ops.checks import ALL_CHECKS
from ops.runner import run_program
from tests.conftest import run_plan

POLICY_CHECK = [check for check in ALL_CHECKS if check.name == "policy-pack"]
RELEASE = {"blue": {"image": "doc-rag/api:v1.0.0"}, "green": {"image": "doc-rag/api:v1.1.0"}}
SOURCE_BUCKET_ARN = "arn:aws:mock:us-east-1:123456789012:postgres-backup-storage-bucket"  # ops/mocks.py's ARNs
SOURCE_KEY_ARN = "arn:aws:mock:us-east-1:123456789012:postgres-backup-storage-key"
COPY_BUCKET_ARN = "arn:aws:mock:us-west-2:123456789012:postgres-backup-storage-copy-bucket"
COPY_KEY_ARN = "arn:aws:mock:us-west-2:123456789012:postgres-backup-storage-copy-key"


def _resources(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["type"], r["name"]): r for r in document["resources"]}


@pytest.fixture(scope="module")
def copy_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("copy-plan")
    outcome, printed = run_plan(tmp_path, "prod", ("postgres.backup.copyRegion=us-west-2",), checks=POLICY_CHECK)
    assert outcome.exit_code == 0, printed
    return json.loads((tmp_path / "plan" / "plan.json").read_text())


def test_the_policy_pack_passes_with_a_copy_region(copy_plan: dict[str, Any]) -> None:
    findings = copy_plan["checks"]["policy-pack"]["findings"]
    assert [f for f in findings if f["level"] == "mandatory"] == []


def test_the_copy_bucket_lives_in_the_copy_region_under_the_primarys_rules(copy_plan: dict[str, Any]) -> None:
    resources = _resources(copy_plan)
    prefix = "postgres-backup-storage-copy"
    bucket = resources[("aws:s3/bucket:Bucket", f"{prefix}-bucket")]
    assert bucket["inputs"] == {"bucketPrefix": "doc-rag-prod-pg-copy-", "region": "us-west-2",
                                "tags": {"doc-rag/data": "postgres-backups-copy"}}
    key = resources[("aws:kms/key:Key", f"{prefix}-key")]
    assert key["inputs"]["region"] == "us-west-2" and key["inputs"]["enableKeyRotation"] is True
    for kept in (bucket, key, resources[("aws:backup/vault:Vault", f"{prefix}-vault")]):
        assert kept.get("protect") is True and kept.get("retainOnDelete") is True, kept["name"]
    versioning = resources[("aws:s3/bucketVersioning:BucketVersioning", f"{prefix}-versioning")]["inputs"]
    assert versioning["versioningConfiguration"] == {"status": "Enabled"} and versioning["region"] == "us-west-2"
    encryption = resources[("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                            f"{prefix}-encryption")]["inputs"]["rules"][0]
    assert encryption["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms",
                                                                 "kmsMasterKeyId": COPY_KEY_ARN}
    block = resources[("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{prefix}-public-access")]["inputs"]
    assert [block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                               "restrictPublicBuckets")] == [True, True, True, True]
    lifecycle = resources[("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                           f"{prefix}-lifecycle")]["inputs"]["rules"][0]
    assert lifecycle["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert lifecycle["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    policy = json.loads(resources[("aws:s3/bucketPolicy:BucketPolicy", f"{prefix}-tls-only")]["inputs"]["policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["Statement"][0]["Resource"] == [COPY_BUCKET_ARN, f"{COPY_BUCKET_ARN}/*"]


def test_the_primary_bucket_replicates_to_the_copy_with_the_copys_key(copy_plan: dict[str, Any]) -> None:
    replication = _resources(copy_plan)[("aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                                         "postgres-backup-storage-copy-replication")]["inputs"]
    assert "region" not in replication, "on the source bucket, in the stack's region"
    assert replication["bucket"] == "postgres-backup-storage-bucket-id"
    assert replication["role"] == "arn:aws:mock:us-east-1:123456789012:postgres-backup-storage-copy-replication"
    assert replication["rules"] == [{
        "id": "copy-to-us-west-2",
        "status": "Enabled",
        "priority": 1,
        "filter": {"prefix": ""},
        "deleteMarkerReplication": {"status": "Enabled"},
        "sourceSelectionCriteria": {"sseKmsEncryptedObjects": {"status": "Enabled"}},
        "destination": {"bucket": COPY_BUCKET_ARN, "encryptionConfiguration": {"replicaKmsKeyId": COPY_KEY_ARN}},
    }]


def test_the_replication_role_may_do_only_what_replication_needs(copy_plan: dict[str, Any]) -> None:
    resources = _resources(copy_plan)
    role = resources[("aws:iam/role:Role", "postgres-backup-storage-copy-replication")]["inputs"]
    assert json.loads(role["assumeRolePolicy"])["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    policy = json.loads(resources[("aws:iam/rolePolicy:RolePolicy",
                                   "postgres-backup-storage-copy-replication")]["inputs"]["policy"])
    allowed = {(s["Sid"], tuple(s["Action"]), json.dumps(s["Resource"])) for s in policy["Statement"]}
    assert allowed == {
        ("ReadReplicationConfiguration", ("s3:GetReplicationConfiguration", "s3:ListBucket"),
         json.dumps(SOURCE_BUCKET_ARN)),
        ("ReadSourceVersions", ("s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                                "s3:GetObjectVersionTagging"), json.dumps(f"{SOURCE_BUCKET_ARN}/*")),
        ("WriteReplicas", ("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"),
         json.dumps(f"{COPY_BUCKET_ARN}/*")),
        ("DecryptWithSourceKey", ("kms:Decrypt",), json.dumps(SOURCE_KEY_ARN)),
        ("EncryptWithCopyKey", ("kms:Encrypt",), json.dumps(COPY_KEY_ARN)),
    }
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["DecryptWithSourceKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [SOURCE_BUCKET_ARN, f"{SOURCE_BUCKET_ARN}/*"]}}
    assert by_sid["EncryptWithCopyKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [COPY_BUCKET_ARN, f"{COPY_BUCKET_ARN}/*"]}}
    assert all(s["Effect"] == "Allow" and "*" != s["Resource"] for s in policy["Statement"])


def test_aws_backup_copies_each_snapshot_to_a_vault_in_the_copy_region(copy_plan: dict[str, Any]) -> None:
    resources = _resources(copy_plan)
    vault = resources[("aws:backup/vault:Vault", "postgres-backup-storage-copy-vault")]["inputs"]
    assert vault == {"name": "doc-rag-prod-postgres-copy", "kmsKeyArn": COPY_KEY_ARN, "region": "us-west-2"}
    rule = resources[("aws:backup/plan:Plan", "postgres-backup-storage-plan")]["inputs"]["rules"][0]
    assert rule["copyActions"] == [{
        "destinationVaultArn": "arn:aws:mock:us-west-2:123456789012:postgres-backup-storage-copy-vault",
        "lifecycle": {"deleteAfter": 14},
    }]
    assert rule["targetVaultName"] == "doc-rag-prod-postgres"


def test_without_a_copy_region_nothing_is_copied(tmp_path: Path) -> None:
    outcome, printed = run_plan(tmp_path, "prod", checks=[])
    assert outcome.exit_code == 0, printed
    document = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert [r["name"] for r in document["resources"] if "copy" in r["name"]] == []
    rule = _resources(document)[("aws:backup/plan:Plan", "postgres-backup-storage-plan")]["inputs"]["rules"][0]
    assert "copyActions" not in rule


def test_a_copy_region_plans_under_preview_with_unknown_outputs(tmp_path: Path) -> None:
    outcome, printed = run_plan(tmp_path, "prod", ("postgres.backup.copyRegion=eu-central-1",), preview=True,
                                checks=[])
    assert outcome.exit_code == 0, printed
    names = {r["name"] for r in json.loads((tmp_path / "plan" / "plan.json").read_text())["resources"]}
    assert {"postgres-backup-storage-copy-replication", "postgres-backup-storage-copy-vault"} <= names


@pytest.mark.parametrize("override, message", [
    ("postgres.backup.copyRegion=us-east-1",
     "postgres.backup.copyRegion = 'us-east-1': allowed: a region other than the stack's own (aws:region us-east-1)"),
    ("postgres.backup.copyRegion=west", "postgres.backup.copyRegion = 'west': allowed: an AWS region name such as"),
])
def test_a_bad_copy_region_exits_2_naming_the_key(tmp_path: Path, override: str, message: str) -> None:
    outcome, printed = run_plan(tmp_path, "prod", (override,), checks=[])
    assert outcome.exit_code == 2, printed
    assert message in outcome.error
    assert not (tmp_path / "plan" / "plan.json").exists()


def test_an_existing_cluster_refuses_a_copy_region() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"cluster": {"mode": "existing"}, "release": RELEASE,
                      "postgres": {"backup": {"bucket": "b-1", "region": "eu-west-1", "copyRegion": "eu-central-1"}}})
    assert error.value.problems == [
        "postgres.backup.copyRegion = 'eu-central-1': allowed only with cluster.mode eks (in existing mode the bucket "
        "is yours: set up its replication where you manage it)"]


def test_the_stack_output_names_the_copy_for_a_restore_from_it() -> None:
    outputs = run_program("prod", ("postgres.backup.copyRegion=us-west-2",)).outputs["postgresBackup"]
    assert outputs["copy"] == {"bucket": "doc-rag-prod-pg-copy-20261203000000000001", "region": "us-west-2",
                               "vault": "doc-rag-prod-postgres-copy"}
    assert outputs["bucket"] == "doc-rag-prod-pg-backups-20261203000000000001"
