"""The `local` stack's side of the local cluster: a file backend, a passphrase and the shell environment
that points the real `pulumi` at both; each secret config key of the stack is generated once, encrypted."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
from pathlib import Path

from components.config.secret_keys import SECRET_KEYS
from ops.engine.build import pulumi_home
from ops.local.cluster import CLUSTER_DIR, KUBECONFIG, LOCAL_DIR, PROMETHEUS_URL, TRAFFIC_PORT
from ops.local.pki import write_private
from ops.stackconfig import PROJECT, PROJECT_DIR, config_section, load_stack_config

STACK = "local"
STACK_FILE = PROJECT_DIR / f"Pulumi.{STACK}.yaml"
# Kept by `down`: the encrypted values in Pulumi.local.yaml stay readable across clusters.
PASSPHRASE_FILE = LOCAL_DIR / "passphrase"
STATE_DIR = CLUSTER_DIR / "state"  # removed with the cluster: its objects are gone too


def environment(bin_dir: Path) -> dict[str, str]:
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(KUBECONFIG),
        "PULUMI_HOME": str(pulumi_home()),
        "PULUMI_BACKEND_URL": f"file://{STATE_DIR}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(PASSPHRASE_FILE),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The provider comes from the plugin cache at the version the SDK asks for, not from PATH.
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PROMETHEUS_URL": PROMETHEUS_URL,  # the local Prometheus, which scrapes the traffic source
        # The traffic source stands in for the API's /health and /ready too (the smoke check after a flip):
        # the stack's apiUrl names the public host, which does not exist here.
        "DOC_RAG_API_URL": f"http://127.0.0.1:{TRAFFIC_PORT}",
    }


def shell_exports(values: dict[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())


def parse_exports(printed: str) -> dict[str, str]:
    """The variables `shell_exports` printed (what `ops local env` shows), for a caller that runs commands itself."""
    values = {}
    for line in printed.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        values[key] = shlex.split(value)[0] if value else ""
    return values


def _forget_unreadable_secrets() -> None:
    """A new passphrase cannot read values encrypted with a lost one: drop them and their salt from the
    local stack file (comments kept) so they are generated again. Only throwaway local values live there."""
    if not STACK_FILE.exists():
        return
    lines = STACK_FILE.read_text().splitlines(keepends=True)
    kept: list[str] = []
    for line in lines:
        if line.lstrip().startswith("secure:") and kept and kept[-1].rstrip().endswith(":"):
            kept.pop()  # `key:` followed by its `secure: v1:...` value
        elif not line.startswith("encryptionsalt:"):
            kept.append(line)
    STACK_FILE.write_text("".join(kept))


def check_stack_file() -> None:
    """Pulumi.local.yaml must be a stack file the program accepts before any process starts (UsageError naming
    the file, or ConfigError naming the key)."""
    load_stack_config(STACK).model()


def prepare(bin_dir: Path, echo=print) -> None:
    """Stack `local` exists in the file backend and holds every secret key (SECRET_KEYS), encrypted."""
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    if not PASSPHRASE_FILE.exists():
        _forget_unreadable_secrets()
        write_private(PASSPHRASE_FILE, secrets.token_urlsafe(32).encode())
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **environment(bin_dir)}
    env.pop("PULUMI_CONFIG_PASSPHRASE", None)  # the file is the one source of the passphrase

    def pulumi(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "pulumi"), *args, "--non-interactive"], cwd=PROJECT_DIR, env=env,
                              input=stdin, capture_output=True, text=True)

    selected = pulumi("stack", "select", STACK, "--create", "--secrets-provider", "passphrase")
    if selected.returncode != 0:
        raise RuntimeError(f"pulumi stack select --create {STACK}: {selected.stderr.strip()}")
    present = config_section(STACK_FILE)
    for key in SECRET_KEYS:
        name = f"{PROJECT}:{key}"
        if name in present:
            continue
        # Through stdin, so the value is never on a command line; generated once, never printed.
        done = pulumi("config", "set", "--secret", name, "--stack", STACK, stdin=secrets.token_urlsafe(24))
        if done.returncode != 0:
            raise RuntimeError(f"pulumi config set --secret {name}: {done.stderr.strip()}")
        echo(f"local: generated {name} (encrypted in {STACK_FILE.name} with {PASSPHRASE_FILE})")
