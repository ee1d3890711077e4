"""The secret config keys, and why and how a plain value for one is refused.

SECRET_KEYS is the one list: the program reads each as a secret Output, Pulumi.yaml declares each
`secret: true` (tests/test_secrets.py keeps the two equal), the offline plan stands a redacted
placeholder in for each that is unset or encrypted, and `ops local up` generates each for the local stack.
A value for one of them that is not encrypted is refused everywhere, with the same remedy: the program
(under `pulumi preview/up`, where the engine names the encrypted keys) and every `ops` command (from the
stack file and `--set`, before anything runs).
"""

from __future__ import annotations

SECRET_KEYS = ("postgresPassword", "grafanaAdminPassword")

# Where a stack file holding a secret in clear is explained: rotation and the purge from git history.
REMEDY_DOC = "docs/security.md#a-secret-in-clear-in-a-stack-file"


def set_secret_command(key: str, stack: str) -> str:
    """The one way to set a secret key: `pulumi config set --secret` without the value on the command line
    (the CLI prompts for it, or reads it from stdin), so it stays out of shell history and process lists."""
    return f"pulumi config set --secret {key} -s {stack}"


def plain_in_stack_file(key: str, stack: str) -> str:
    """A secret key with a plain value in Pulumi.<stack>.yaml (`pulumi config set` without `--secret`).
    Names the key, the file and the fix; never the value."""
    stack_file = f"Pulumi.{stack}.yaml"
    return (
        f"{key}: a plain, unencrypted value in {stack_file}; allowed: only an encrypted value (`secure: v1:...`, "
        f"written by `pulumi config set --secret`). Fix: `pulumi config rm {key} -s {stack}`, then "
        f"`{set_secret_command(key, stack)}`. If {stack_file} was ever committed or pushed with the value, it "
        f"is known to every clone: set a new value, and purge the old one from git history with "
        f"`git filter-repo --replace-text <file naming the old value>` ({REMEDY_DOC})"
    )


def plain_on_command_line(key: str, stack: str) -> str:
    """A secret key given in clear with `--set`: refused, so a secret never rides on a command line."""
    return (
        f"--set {key}: a secret key cannot be given in clear on the command line; allowed: an encrypted value in "
        f"Pulumi.{stack}.yaml, written by `{set_secret_command(key, stack)}` (offline, the plan stands a redacted "
        f"placeholder in for it: secrets are never decrypted to plan)"
    )


def not_set(key: str, stack: str) -> str:
    """A secret key the stack does not set: `pulumi up` refuses rather than deploy a default."""
    return f"{key}: not set; allowed: a secret, set it with `{set_secret_command(key, stack)}`"
