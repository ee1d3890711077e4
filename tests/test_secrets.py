"""Secret config keys (issue 19): a plain value is refused everywhere, a secret value never appears in clear.

Offline (T2): the stack file and `--set` are checked by every `ops` command before anything runs, and the program
itself refuses a secret key the engine does not name as encrypted. The real engine's side is in test_e2e_local.py.
Values here are sentinels: a leak shows as the sentinel, never as a real secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from components.config import ConfigError
from components.config.secret_keys import SECRET_KEYS
from ops import plan as plan_module
from ops.runner import run_program
from ops.stackconfig import SECRET_PLACEHOLDER, UsageError, load_stack_config, refuse_plain_secrets
from tests.conftest import PROJECT_DIR, run_plan, with_secrets
from tests.e2e_helpers import copy_project

SENTINELS = {"postgresPassword": "Zq7-postgres-sentinel-do-not-leak",
             "grafanaAdminPassword": "Zq7-grafana-sentinel-do-not-leak"}
CIPHERTEXT = "v1:Zq7CipherSalt:Zq7-ciphertext-sentinel"


def flat(text: str) -> str:
    """Rich wraps long lines at spaces; joined again, a message reads as one line."""
    return " ".join(text.split())


def found_in(value: str, texts: dict[str, str]) -> list[str]:
    """Where `value` occurs, by name only: a failing assertion never prints the value."""
    return [name for name, text in texts.items() if value in text]


def everything_written(out_dir: Path, printed: str) -> dict[str, str]:
    written = {str(path): path.read_text() for path in out_dir.rglob("*") if path.is_file()}
    return {**written, "printed": printed}


def assert_refusal_names_key_file_and_fix(text: str, key: str, stack: str) -> None:
    text = flat(text)
    assert f"{key}: a plain, unencrypted value in Pulumi.{stack}.yaml" in text, text
    assert f"pulumi config rm {key} -s {stack}" in text
    assert f"pulumi config set --secret {key} -s {stack}" in text
    assert "purge the old one from git history with `git filter-repo --replace-text" in text
    assert "docs/security.md#a-secret-in-clear-in-a-stack-file" in text


# -- one list of secret keys --------------------------------------------------------------------------

def test_pulumi_yaml_declares_exactly_the_secret_keys_as_secret_without_defaults():
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    declared = sorted(key for key, spec in project.items() if isinstance(spec, dict) and spec.get("secret"))
    assert declared == sorted(SECRET_KEYS) == ["grafanaAdminPassword", "postgresPassword"]
    assert [key for key in SECRET_KEYS if "default" in project[key]] == []


def test_the_remedy_the_messages_link_exists():
    assert "## A secret in clear in a stack file" in (PROJECT_DIR / "docs" / "security.md").read_text()


# -- offline: the stack file and --set ----------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project whose prod and local stack files hold both secret keys in clear, as
    `pulumi config set KEY VALUE` (without --secret) writes them."""
    root = copy_project(tmp_path_factory.mktemp("plain") / "project")
    for stack in ("prod", "local"):
        stack_file = root / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(stack_file.read_text())
        document["config"].update({f"doc-rag:{key}": value for key, value in SENTINELS.items()})
        stack_file.write_text(yaml.safe_dump(document))
    return root


COMMANDS = {
    "plan": ["plan", "--stack", "prod", "--out", "build/out"],
    "check": ["check", "-s", "prod", "--offline", "--out", "build/out"],
    "check-live": ["check", "-s", "prod", "--out", "build/out"],
    "promote": ["promote", "-s", "prod"],
    "promote-dry-run": ["promote", "-s", "prod", "--dry-run"],
    "rollback": ["rollback", "-s", "prod"],
    "rollback-dry-run": ["rollback", "-s", "prod", "--dry-run"],
    "status": ["status", "-s", "prod"],
}


@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_every_ops_command_refuses_a_plain_secret_in_the_stack_file(plain_project: Path, command: str):
    done = subprocess.run([sys.executable, "-m", "ops", *COMMANDS[command]], cwd=plain_project, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "400"})
    printed = done.stdout + done.stderr
    assert done.returncode == 2, printed
    assert "Traceback" not in printed
    for key in SECRET_KEYS:
        assert_refusal_names_key_file_and_fix(printed, key, "prod")
    assert found_in(SENTINELS["postgresPassword"], {"printed": printed}) == []
    assert found_in(SENTINELS["grafanaAdminPassword"], {"printed": printed}) == []
    assert not (plain_project / "build" / "out").exists()


def test_local_up_refuses_a_plain_secret_and_starts_nothing(plain_project: Path, tmp_path: Path):
    # No engine here: had the refusal not come first, `up` would stop at the engine check (exit 1).
    done = subprocess.run([sys.executable, "-m", "ops", "local", "up"], cwd=plain_project, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "DOC_RAG_ENGINE_HOME": str(tmp_path / "none")})
    assert done.returncode == 2, done.stdout + done.stderr
    for key in SECRET_KEYS:
        assert_refusal_names_key_file_and_fix(done.stderr, key, "local")
    assert found_in(SENTINELS["postgresPassword"], {"stdout": done.stdout, "stderr": done.stderr}) == []
    assert not (plain_project / "build" / "local").exists()


def test_the_automation_driver_refuses_before_the_cli_is_asked_anything(plain_project: Path):
    from ops.driver import AutomationDriver

    with pytest.raises(UsageError) as error:
        AutomationDriver("prod", work_dir=plain_project, echo=lambda line: None)
    assert_refusal_names_key_file_and_fix(str(error.value), "postgresPassword", "prod")


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_plain_secret_given_with_set_is_refused_and_nothing_written(tmp_path: Path, key: str):
    outcome, printed = run_plan(tmp_path, "prod", (f"{key}={SENTINELS[key]}",), checks=[])
    assert outcome.exit_code == 2
    text = flat(printed)
    assert f"--set {key}: a secret key cannot be given in clear on the command line" in text
    assert f"pulumi config set --secret {key} -s prod" in text
    assert found_in(SENTINELS[key], {"printed": printed, "error": outcome.error}) == []
    assert not (tmp_path / "plan").exists()


def test_a_path_into_a_secret_key_is_refused_too():
    with pytest.raises(UsageError, match="--set postgresPassword: a secret key cannot be given in clear"):
        load_stack_config("prod", ["doc-rag:postgresPassword.x=1"])


def test_an_encrypted_value_is_accepted_and_neither_it_nor_its_ciphertext_is_written(tmp_path: Path):
    root = copy_project(tmp_path / "project")
    stack_file = root / "Pulumi.prod.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"].update({f"doc-rag:{key}": {"secure": CIPHERTEXT} for key in SECRET_KEYS})
    stack_file.write_text(yaml.safe_dump(document))
    refuse_plain_secrets("prod", project_dir=root)  # no error
    config = load_stack_config("prod", project_dir=root)
    assert config.placeholders == sorted(SECRET_KEYS)
    assert {f"doc-rag:{key}" for key in SECRET_KEYS} <= set(config.engine_secret_keys())
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "ops", "plan", "--stack", "prod", "--out", str(out)], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "note: postgresPassword is not set (or is encrypted)" in flat(done.stdout)
    written = everything_written(out, done.stdout + done.stderr)
    assert found_in(CIPHERTEXT, written) == [] and found_in(SECRET_PLACEHOLDER, written) == []


# -- the program: what the engine says is secret ------------------------------------------------------

@pytest.mark.parametrize("key", SECRET_KEYS)
def test_the_program_refuses_a_secret_key_the_engine_does_not_name_as_secret(key: str):
    """Under `pulumi up` a plain value reaches the program outside PULUMI_CONFIG_SECRET_KEYS; it stops before
    registering anything, naming the key, the stack file and the fix, never the value."""
    from pulumi.runtime import settings

    config = load_stack_config("dev")
    config.values[key] = SENTINELS[key]
    config.secret_keys.discard(key)
    config.placeholders.remove(key)
    with pytest.raises(ConfigError) as error:
        run_program("dev", stack_config=config)
    assert_refusal_names_key_file_and_fix(str(error.value), key, "dev")
    assert found_in(SENTINELS[key], {"message": str(error.value)}) == []
    assert settings.get_monitor().registered == []


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_missing_secret_is_refused_under_a_real_up(key: str):
    config = load_stack_config("dev")
    del config.values[key]
    with pytest.raises(ConfigError, match=rf"{key}: not set; allowed: a secret, set it with "
                                          rf"`pulumi config set --secret {key} -s dev`"):
        run_program("dev", stack_config=config)


# -- secret values never in clear ---------------------------------------------------------------------

@pytest.fixture
def decrypted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plan as if the engine had decrypted both secrets: each reaches the program as a secret value."""
    real = plan_module.load_stack_config
    monkeypatch.setattr(plan_module, "load_stack_config",
                        lambda stack, overrides: with_secrets(real(stack, overrides), **SENTINELS))
    yield


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_secret_values_never_appear_in_plan_json_manifests_or_output(tmp_path: Path, decrypted: None, stack: str):
    from components.data import redis_password

    outcome, printed = run_plan(tmp_path, stack, checks=[])
    assert outcome.exit_code == 0 and outcome.document["placeholders"] == []
    written = everything_written(outcome.out_dir, printed)
    for value in (*SENTINELS.values(), redis_password(SENTINELS["postgresPassword"])):
        assert found_in(value, written) == []
    grafana_admin = (outcome.out_dir / "manifests" / "secret--doc-rag-monitoring--grafana-admin.yaml").read_text()
    assert yaml.safe_load(grafana_admin)["stringData"] == {"admin-password": "[secret]"}


def test_a_missing_secret_uses_a_placeholder_that_is_reported_and_never_written(tmp_path: Path):
    outcome, printed = run_plan(tmp_path, "dev", checks=[])
    assert outcome.exit_code == 0
    assert outcome.document["placeholders"] == ["grafanaAdminPassword", "postgresPassword"]
    text = flat(printed)
    for key in SECRET_KEYS:
        assert f"note: {key} is not set (or is encrypted)" in text
        assert f"`pulumi up` refuses until `pulumi config set --secret {key} -s dev`" in text
    assert found_in(SECRET_PLACEHOLDER, everything_written(outcome.out_dir, printed)) == []
