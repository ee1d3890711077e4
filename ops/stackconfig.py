"""Stack config as the Pulumi CLI assembles it: Pulumi.yaml defaults, Pulumi.<stack>.yaml, then overrides.

The result is what the engine hands a program: project-qualified keys, structured values as JSON
strings, and the list of keys that are secret. `--set` follows `pulumi config set --path` semantics.
A secret key (components/config/secret_keys.py) in clear, in a stack file or through `--set`, is refused before
anything runs: every `ops` command that reads a stack goes through refuse_plain_secrets.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import SECRET_KEYS, DocRagConfig, validate_settings
from components.config.secret_keys import plain_in_stack_file, plain_on_command_line

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "doc-rag"
# Stands in for a secret that is not set (or is encrypted and cannot be read offline); it reaches the
# program as a secret, so it is redacted like any other secret and never printed.
SECRET_PLACEHOLDER = "plan-placeholder-not-a-real-secret"


class UsageError(Exception):
    """Bad command-line input (unknown stack, malformed --set). Exit code 2."""


@dataclass
class StackConfig:
    stack: str
    values: dict[str, Any]  # doc-rag key (without project prefix) -> plain value
    foreign: dict[str, Any] = field(default_factory=dict)  # other namespaces (aws:region, pulumi:...)
    secret_keys: set[str] = field(default_factory=set)
    placeholders: list[str] = field(default_factory=list)  # secret keys given a placeholder

    def engine_config(self) -> dict[str, str]:
        """`project:key` -> string, structured values as JSON, exactly as the CLI passes them."""
        merged = {**self.foreign, **{f"{PROJECT}:{key}": value for key, value in self.values.items()}}
        return {key: value if isinstance(value, str) else json.dumps(value) for key, value in merged.items()}

    def model(self) -> "DocRagConfig":
        """The validated non-secret config, exactly as the program reads it (raises ConfigError)."""
        prefix = f"{PROJECT}:"
        return validate_settings({key[len(prefix):]: value for key, value in self.engine_config().items()
                                  if key.startswith(prefix) and key[len(prefix):] not in SECRET_KEYS})

    def engine_secret_keys(self) -> list[str]:
        return sorted(f"{PROJECT}:{key}" for key in self.secret_keys)


def _strip_project(key: str) -> str:
    return key.split(":", 1)[1] if key.startswith(f"{PROJECT}:") else key


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _without_ciphertext(value: Any, path: str) -> tuple[Any, list[str]]:
    """Encrypted values (`{secure: ...}`, at any depth) cannot be read offline: each becomes the placeholder."""
    if _is_secure(value):
        return SECRET_PLACEHOLDER, [path]
    if isinstance(value, dict):
        pairs = {key: _without_ciphertext(item, f"{path}.{key}") for key, item in value.items()}
        return {key: item for key, (item, _) in pairs.items()}, [p for _, found in pairs.values() for p in found]
    if isinstance(value, list):
        items = [_without_ciphertext(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return [item for item, _ in items], [p for _, found in items for p in found]
    return value, []


def yaml_mapping(path: Path) -> dict[str, Any]:
    """A project or stack file's top-level mapping; a file that is not one is a usage error naming the file and
    the place the parser stopped (exit 2), never a traceback."""
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UsageError(f"{path.name} is not valid YAML{where}: {problem}; fix the file (it is what "
                         f"`pulumi config` reads too)") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise UsageError(f"{path.name}: allowed: a mapping at the top level (`config:` ...), not a "
                         f"{type(document).__name__}")
    return document


# What `pulumi config` can hold: JSON's types. YAML also reads dates, binary and sets, which the CLI refuses.
_PLAIN_SCALARS = (str, bool, int, float, type(None))


def _plain_value(value: Any, where: str, file_name: str) -> None:
    """A config value the engine can pass on as JSON; else a usage error naming the file and the key."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UsageError(f"{file_name}: {where}: key {key!r} is not a string; allowed: "
                                 f"string keys (quote it)")
            _plain_value(item, f"{where}.{key}", file_name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _plain_value(item, f"{where}[{index}]", file_name)
    elif not isinstance(value, _PLAIN_SCALARS):
        raise UsageError(f"{file_name}: {where} = {value!r} is a {type(value).__name__}; allowed: a string, "
                         f"number, boolean, list or mapping (quote a date or a tagged value)")


def config_section(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a project or stack file, every key a string and every value plain JSON."""
    section = yaml_mapping(path).get("config")
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise UsageError(f"{path.name}: `config` is a {type(section).__name__}; allowed: a mapping of "
                         f"key: value (`doc-rag:domain: api.example.org`)")
    _plain_value(section, "config", path.name)
    return section


def project_defaults(project_dir: Path = PROJECT_DIR) -> tuple[dict[str, Any], set[str]]:
    """Defaults and secret declarations from Pulumi.yaml's typed `config:` block."""
    defaults: dict[str, Any] = {}
    secret: set[str] = set()
    for key, spec in config_section(project_dir / "Pulumi.yaml").items():
        name = _strip_project(key)
        if isinstance(spec, dict) and ("type" in spec or "description" in spec or "default" in spec):
            if "default" in spec:
                defaults[name] = spec["default"]
            if spec.get("secret"):
                secret.add(name)
        else:
            defaults[name] = spec
    return defaults, secret


def parse_set_value(text: str) -> Any:
    """`pulumi config set --path` stores integers and booleans typed, everything else as a string; like the
    CLI, a number with a leading zero (`007`) stays a string."""
    if re.fullmatch(r"[+-]?[0-9]+", text) and not (len(text) > 1 and text.startswith("0")):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[([0-9]+)\]")


def _path_parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    for match in _PATH_TOKEN.finditer(path):
        between = path[pos : match.start()]
        if between not in ("", "."):
            raise UsageError(f"{path!r}: cannot parse the key path near {between!r}")
        parts.append(int(match.group(2)) if match.group(2) is not None else match.group(1))
        pos = match.end()
    if not parts or pos != len(path) or isinstance(parts[0], int):
        raise UsageError(f"{path!r}: expected a key path such as release.canaryWeight")
    return parts


def set_path(values: dict[str, Any], path: str, text: str) -> None:
    """`pulumi config set --path PATH TEXT` on plain values: missing containers are created and a list
    item may be appended (index == length), as the CLI does; a gap in a list is refused."""
    parts = _path_parts(_strip_project(path))
    node: Any = values
    for part, following in zip(parts, parts[1:], strict=False):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(node, list) and isinstance(part, int) and part <= len(node):
            if part == len(node):
                node.append(empty)
            elif not isinstance(node[part], (dict, list)):
                node[part] = empty
        elif isinstance(node, dict) and isinstance(part, str):
            if not isinstance(node.get(part), (dict, list)):
                node[part] = empty
        else:
            raise UsageError(f"{path!r}: cannot reach {part!r} (a list index past the end, or a type mismatch)")
        node = node[part]
    last, value = parts[-1], parse_set_value(text)
    if isinstance(node, list) and isinstance(last, int) and last <= len(node):
        node[last:last + 1] = [value]
    elif isinstance(node, dict) and isinstance(last, str):
        node[last] = value
    else:
        raise UsageError(f"{path!r}: cannot set {last!r} (a list index past the end, or a type mismatch)")


def apply_set(values: dict[str, Any], assignment: str) -> None:
    """Apply one `--set KEY.PATH=VALUE` to `values` in place."""
    if "=" not in assignment:
        raise UsageError(f"--set {assignment!r}: expected KEY=VALUE, e.g. release.canaryWeight=25")
    path, text = assignment.split("=", 1)
    name = path.strip()
    if ":" in name and not name.startswith(f"{PROJECT}:"):
        raise UsageError(f"--set {assignment!r}: only {PROJECT}: keys can be overridden")
    try:
        set_path(values, name, text)
    except UsageError as error:
        raise UsageError(f"--set {error}") from None


def _secret_key_of(path: str) -> str | None:
    """The secret key a config key or `--set` path names (`doc-rag:postgresPassword`, `postgresPassword.x`)."""
    if ":" in path and not path.startswith(f"{PROJECT}:"):
        return None  # another namespace (aws:region): never one of ours
    head = re.split(r"[.\[]", _strip_project(path.strip()), maxsplit=1)[0]
    return head if head in SECRET_KEYS else None


def plain_secret_problems(stack: str, section: dict[str, Any], overrides: tuple[str, ...] | list[str] = ()
                          ) -> list[str]:
    """One line per secret key the stack file's `config:` (config_section) holds in clear (anything but
    `{secure: ...}`) or `--set` gives."""
    problems = []
    for name, value in section.items():
        key = _secret_key_of(str(name))
        if key is not None and not _is_secure(value):
            problems.append(plain_in_stack_file(key, stack))
    for assignment in overrides:
        key = _secret_key_of(assignment.split("=", 1)[0])
        if key is not None:
            problems.append(plain_on_command_line(key, stack))
    return problems


def _stack_file(stack: str, project_dir: Path) -> Path:
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise UsageError(f"unknown stack {stack!r}: no {stack_file.name}; allowed: {known}")
    return stack_file


def _refuse(problems: list[str]) -> None:
    if problems:
        raise UsageError("a secret in clear is refused; nothing was run or written:\n"
                         + "\n".join(f"  - {problem}" for problem in problems))


def refuse_plain_secrets(stack: str, overrides: tuple[str, ...] | list[str] = (),
                         project_dir: Path = PROJECT_DIR) -> None:
    """Raise UsageError (exit 2) naming each secret key in clear in Pulumi.<stack>.yaml or `--set`. For the
    commands that read the stack through the CLI rather than load_stack_config (ops/driver.py, ops local up);
    a stack without a file yet (the CLI writes it on the first `config set`) holds nothing in clear."""
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    section = config_section(stack_file) if stack_file.is_file() else {}
    _refuse(plain_secret_problems(stack, section, overrides))


def load_stack_config(stack: str, overrides: tuple[str, ...] | list[str] = (),
                      project_dir: Path = PROJECT_DIR) -> StackConfig:
    stack_file = _stack_file(stack, project_dir)
    defaults, secret_keys = project_defaults(project_dir)
    values = copy.deepcopy(defaults)
    section = config_section(stack_file)  # the file's shape first: a broken file is named before its values
    _refuse(plain_secret_problems(stack, section, overrides))
    foreign: dict[str, Any] = {}
    for key, value in section.items():
        if ":" in key and not key.startswith(f"{PROJECT}:"):
            foreign[key] = value
        else:
            values[_strip_project(key)] = value
    for assignment in overrides:
        apply_set(values, assignment)

    placeholders: list[str] = []
    for key, value in list(values.items()):
        values[key], found = _without_ciphertext(value, key)
        if found:  # the CLI marks a whole key secret when any value inside it is
            secret_keys.add(key)
            placeholders += found
    for key in sorted(secret_keys - set(values)):
        values[key] = SECRET_PLACEHOLDER
        placeholders.append(key)
    return StackConfig(stack, values, foreign, secret_keys, sorted(placeholders))
