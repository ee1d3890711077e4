"""The secret config keys, and how one is set.

SECRET_KEYS is the one list: the program reads each as a secret Output, Pulumi.yaml declares each
`secret: true`, the offline plan stands a redacted placeholder in for each that is unset or encrypted, and
`ops local up` generates each for the local stack.
"""

from __future__ import annotations

SECRET_KEYS = ("postgresPassword", "grafanaAdminPassword")


def set_secret_command(key: str, stack: str) -> str:
    """The one way to set a secret key: `pulumi config set --secret` without the value on the command line
    (the CLI prompts for it, or reads it from stdin), so it stays out of shell history and process lists."""
    return f"pulumi config set --secret {key} -s {stack}"


def not_set(key: str, stack: str) -> str:
    """A secret key the stack does not set: `pulumi up` refuses rather than deploy a default."""
    return f"{key}: not set; allowed: a secret, set it with `{set_secret_command(key, stack)}`"
