"""From stack config to the model: `load_config()` under `pulumi up`, `validate_settings()` for it and the
offline plan alike, so a value one accepts the other accepts too. Secret keys never enter the model: they
stay secret Outputs (Secrets)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import pulumi
from pydantic import ValidationError

from components.config import secret_keys
from components.config.errors import ConfigError, describe, problem_lines
from components.config.model import KNOWN_KEYS, OBJECT_KEYS, STRING_KEYS, DocRagConfig
from components.config.secret_keys import SECRET_KEYS

PROJECT = "doc-rag"


class Secrets:
    """Secret config values (one per SECRET_KEYS entry), only ever held as secret Outputs."""

    def __init__(self, postgres_password: pulumi.Output[str], grafana_admin_password: pulumi.Output[str]):
        self.postgres_password = postgres_password
        self.grafana_admin_password = grafana_admin_password


def parse_config(raw: dict[str, Any]) -> DocRagConfig:
    """Validate a dict shaped like the stack config (without namespace prefixes)."""
    try:
        return DocRagConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(problem_lines(error)) from None


def validate_settings(settings: Mapping[str, str]) -> DocRagConfig:
    """The engine's config strings (short key -> string; structured values as JSON) -> the validated model.

    The one path from stack config to model: `pulumi up` (load_config) and the offline plan both use it,
    so a value one accepts the other accepts too."""
    problems = [
        f"{key}: unknown key; allowed: {sorted(KNOWN_KEYS)}" for key in sorted(set(settings) - set(KNOWN_KEYS))
    ]
    raw: dict[str, Any] = {key: settings[key] for key in STRING_KEYS if key in settings}
    for key in OBJECT_KEYS:
        if key not in settings:
            continue
        try:
            value = json.loads(settings[key])
        except ValueError:
            problems.append(f"{key}: not a structured value; allowed: a YAML mapping in Pulumi.<stack>.yaml")
            continue
        if value is not None:
            raw[key] = value
    if "release" not in raw:
        problems.append("release: required key is missing (activeColor, canaryWeight, blue.image, green.image)")
    if problems:
        raise ConfigError(problems)
    return parse_config(raw)


def copy_region_problems(model: DocRagConfig, stack_region: Optional[str]) -> list[str]:
    """postgres.backup.copyRegion against the stack's own region (aws:region, outside the doc-rag model): a copy
    in the same region survives nothing the primary does not."""
    copy_region = model.postgres.backup.copyRegion
    if copy_region is not None and copy_region == stack_region:
        return [f"postgres.backup.copyRegion = {describe(copy_region)}: allowed: a region other than the stack's "
                f"own (aws:region {stack_region}); a copy in the same region survives no regional outage"]
    return []


def _set_keys() -> set[str]:
    """Names of every `doc-rag:*` key the stack sets, however the engine passed them in."""
    from pulumi.runtime import config as runtime_config

    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {name.split(":", 1)[1] for name in names if name.startswith(f"{PROJECT}:")}


def _plain_secret_keys(set_keys: set[str]) -> list[str]:
    """Secret keys the stack sets whose value the engine does not hold as a secret: the engine passes the
    encrypted keys (PULUMI_CONFIG_SECRET_KEYS; `set_all_config` under the SDK monitor) and a plain value
    (`pulumi config set` without `--secret`) is not among them."""
    from pulumi.runtime import config as runtime_config

    return [key for key in SECRET_KEYS
            if key in set_keys and not runtime_config.is_config_secret(f"{PROJECT}:{key}")]


def load_config() -> tuple[DocRagConfig, Secrets]:
    """Read and validate `doc-rag:*` from the running stack; raise ConfigError before any resource."""
    config = pulumi.Config(PROJECT)
    stack = pulumi.get_stack()
    set_keys = _set_keys()
    plain = _plain_secret_keys(set_keys)
    if plain:  # before anything else reads config: the value is never used, nor shown
        raise ConfigError([secret_keys.plain_in_stack_file(key, stack) for key in plain])
    settings = {key: config.get(key) for key in set_keys - set(SECRET_KEYS)}
    read = {key: config.get_secret(key) for key in SECRET_KEYS}
    secrets = {key: value for key, value in read.items() if value is not None}
    missing = [secret_keys.not_set(key, stack) for key in SECRET_KEYS if key not in secrets]
    try:
        model = validate_settings({key: value for key, value in settings.items() if value is not None})
    except ConfigError as error:
        raise ConfigError(error.problems + missing) from None
    problems = copy_region_problems(model, pulumi.Config("aws").get("region")) + missing
    if problems:
        raise ConfigError(problems)
    return model, Secrets(secrets["postgresPassword"], secrets["grafanaAdminPassword"])
