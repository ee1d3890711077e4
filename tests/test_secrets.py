"""No secret value in clear: not in manifests, plan.json or anything printed; the placeholder neither."""

from __future__ import annotations

from ops.stackconfig import SECRET_PLACEHOLDER
from tests.conftest import run_plan

CANARY = "Zq7-canary-secret-value-do-not-leak"


def everything_written(outcome, printed: str) -> str:
    files = [path.read_text() for path in outcome.out_dir.rglob("*") if path.is_file()]
    return "\n".join(files + [printed])


def test_a_set_secret_never_appears_in_clear(tmp_path):
    outcome, printed = run_plan(tmp_path, "prod", (f"postgresPassword={CANARY}",), checks=[])
    assert outcome.exit_code == 0
    text = everything_written(outcome, printed)
    assert CANARY not in text
    assert "[secret]" in text  # the Secret object is there, redacted
    assert outcome.document["placeholders"] == ["grafanaAdminPassword"]


def test_a_missing_secret_uses_a_placeholder_that_is_reported_and_never_written(tmp_path):
    outcome, printed = run_plan(tmp_path, "dev", checks=[])
    assert outcome.exit_code == 0
    assert "postgresPassword is not set" in printed
    assert outcome.document["placeholders"] == ["grafanaAdminPassword", "postgresPassword"]
    assert SECRET_PLACEHOLDER not in everything_written(outcome, printed)
