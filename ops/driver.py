"""Drivers: how `ops promote` reads the stack and carries out one `up`.

AutomationDriver is the real one: Pulumi's Automation API on the local workspace of this project
directory (the same stack files the CLI uses; selecting the stack selects it in this checkout, as
`pulumi stack select` would), config written with `path=True` exactly like `pulumi config set --path`,
then `up`. It reads only the plain keys it needs and the outputs without `--show-secrets`: nothing
secret is decrypted to decide a release. OfflineDriver is `--dry-run`: the same config writes applied
to an in-memory copy of the stack config, the program run under the SDK monitor (ops.runner), and the
difference in rendered manifests printed for each step. Each returns what it read as a StackView (ops/drift.py);
neither decides anything: ops/release_state.py does.
"""

from __future__ import annotations

import copy
import difflib
import json
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

import yaml

from components.config import OBJECT_KEYS, STRING_KEYS, ConfigError, Verdict, parse_config
from ops.drift import StackView
from ops.live_drift import DriftedField, drifted_fields
from ops.manifests import manifest_id, manifests
from ops.release_state import Up
from ops.runner import run_program
from ops.stackconfig import (
    PROJECT,
    PROJECT_DIR,
    StackConfig,
    UsageError,
    load_stack_config,
    project_defaults,
    refuse_plain_secrets,
    set_path,
)


@dataclass(frozen=True)
class UpOutcome:
    ok: bool
    error: str = ""
    summary: str = ""
    locked: bool = False  # another update holds the stack's lock: this `up` changed nothing


LOCKED = "the stack is currently locked"  # what the CLI says when another update holds the lock


def locked_message(stack: str, cli_error: str) -> str:
    holder = next((line.strip() for line in cli_error.splitlines() if "created by" in line), "")
    return (f"stack {stack} is locked by another update{f' ({holder})' if holder else ''}: wait for it to end. If "
            f"nothing runs for it any more (a killed promote or up), clear the lock with `pulumi cancel --stack "
            f"{stack} --yes`, then run promote again (it finishes what the killed update left)")


class Driver(Protocol):
    def read(self) -> StackView: ...

    def up(self, action: Up) -> UpOutcome: ...

    def live_drift(self) -> list[DriftedField]: ...


# -- config writes shared by both drivers: `pulumi config set --path` assignments -------------------

def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif isinstance(value, float):
        # --path stores integers typed and everything else as text; the model reads the text back as a float.
        out.append((prefix, repr(value)))
    else:
        out.append((prefix, str(value)))


@dataclass(frozen=True)
class ConfigWrite:
    remove_history: bool  # a new release: drop the previous release's verdicts first
    assignments: tuple[tuple[str, str], ...]  # (path under doc-rag:, value text)


def config_write(current: tuple[Verdict, ...], action: Up) -> ConfigWrite:
    """The config change one action makes: colour, weight, replicas it retires or revives, and the verdicts not
    yet in config."""
    pairs: list[tuple[str, str]] = [("release.activeColor", action.target.active_color),
                                    ("release.canaryWeight", str(action.target.weight))]
    pairs += [(f"release.{color}.replicas", str(count)) for color, count in action.replicas]  # retire, revive
    appends = action.history[:len(current)] == current
    first_new = len(current) if appends else 0
    for index in range(first_new, len(action.history)):
        dumped = action.history[index].model_dump(exclude_none=True, exclude_defaults=True)
        _flatten(f"release.history[{index}]", dumped, pairs)
    return ConfigWrite(remove_history=not appends and bool(current), assignments=tuple(pairs))


def _shell_word(text: str) -> str:
    """One shell word on one line: a value with newlines (a gate's PromQL) in bash's $'...' quoting."""
    if "\n" not in text:
        return shlex.quote(text)
    return "$'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def cli_commands(stack: str, write: ConfigWrite) -> list[str]:
    """The `pulumi` commands a real run makes for one write, as the AutomationDriver issues them (config rm of
    the old history, one `config set-all --path` with colour, weight, replicas and every new verdict, `up`)."""
    commands = [f"pulumi config rm --path release.history -s {stack}"] if write.remove_history else []
    pairs = " ".join(f"--plaintext {_shell_word(f'{path}={value}')}" for path, value in write.assignments)
    commands.append(f"pulumi config set-all --path -s {stack} {pairs}")
    commands.append(f"pulumi up -s {stack} --yes")
    return commands


# -- the real driver -------------------------------------------------------------------------------

class StackAccessError(UsageError):
    """The `pulumi` CLI could not select or read the stack: not logged in, no passphrase, no such stack."""


def cli_error_tail(error: BaseException, lines: int = 3) -> str:
    """The last lines the CLI wrote on stderr (a CommandError's text is `code: .. stdout: .. stderr: ..`)."""
    text = str(error)
    text = text.split(" stderr: ", 1)[1] if " stderr: " in text else text
    tail = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(tail) or type(error).__name__


PLAIN_KEYS = STRING_KEYS + OBJECT_KEYS  # everything a release decision reads; the secret keys never are


class AutomationDriver:
    """Pulumi Automation API on the project's local workspace (needs the `pulumi` CLI on PATH)."""

    def __init__(self, stack: str, work_dir: Path = PROJECT_DIR, echo: Callable[[str], None] = print):
        from pulumi import automation as auto

        self._auto = auto
        self._echo = echo
        self.work_dir = Path(work_dir)
        # The CLI would refuse the `up` only after config writes; this names the fix before anything runs.
        refuse_plain_secrets(stack, project_dir=self.work_dir)
        try:
            # Like `pulumi stack select`: the checkout's selected stack becomes this one.
            self.stack = auto.select_stack(stack_name=stack, work_dir=str(work_dir))
        except (auto.CommandError, auto.InvalidVersionError, subprocess.CalledProcessError, OSError) as error:
            raise StackAccessError(f"pulumi could not select stack {stack!r}: {cli_error_tail(error)}") from None

    def read(self) -> StackView:
        try:
            values = self._plain_config()
        except self._auto.CommandError as error:
            raise StackAccessError(f"pulumi could not read stack {self.stack.name!r}: {cli_error_tail(error)}") \
                from None
        return StackView(parse_config(values), self.outputs(), self.stack.name, self.last_update())

    def last_update(self) -> str:
        """The result of the newest update in the stack's history ("" if none), read without decrypting config."""
        try:
            newest = self.stack.history(page_size=1, show_secrets=False)
        except self._auto.CommandError as error:
            raise StackAccessError(f"pulumi could not read the update history of stack {self.stack.name!r}: "
                                   f"{cli_error_tail(error)}") from None
        return str(newest[0].result) if newest else ""

    def _plain_config(self) -> dict[str, Any]:
        """Each plain doc-rag key with `pulumi config get` (`get_all_config` would run `config --show-secrets`),
        over the Pulumi.yaml defaults as the engine applies them."""
        defaults, secret = project_defaults(self.work_dir)
        values = {key: value for key, value in defaults.items() if key in PLAIN_KEYS and key not in secret}
        for key in PLAIN_KEYS:
            try:
                item = self.stack.get_config(f"{PROJECT}:{key}")
            except self._auto.CommandError as error:
                if "not found" in str(error):
                    continue
                raise
            if item.secret:
                continue
            text = item.value
            try:
                values[key] = json.loads(text) if text[:1] in "{[" else text
            except ValueError:
                values[key] = text
        return values

    def _cli(self, *args: str) -> str:
        workspace = self.stack.workspace
        env = {**({"PULUMI_HOME": workspace.pulumi_home} if workspace.pulumi_home else {}),
               **(workspace.env_vars or {})}
        command = workspace.pulumi_command  # LocalWorkspace's CLI runner (public attribute)
        return str(command.run([*args, "--stack", self.stack.name], str(workspace.work_dir), env).stdout)

    def outputs(self) -> dict[str, Any]:
        """The outputs as `pulumi stack output --json` shows them: secret ones masked, so left out here
        (Stack.outputs() would decrypt them all with --show-secrets)."""
        try:
            shown = json.loads(self._cli("stack", "output", "--json") or "{}")
        except self._auto.CommandError as error:
            raise StackAccessError(f"pulumi could not read the outputs of stack {self.stack.name!r}: "
                                   f"{cli_error_tail(error)}") from None
        return {name: value for name, value in shown.items() if value != "[secret]"}

    def secret_output(self, name: str) -> Any:
        """One output decrypted, for the one caller that needs it (`ops check`: the kubeconfig); None if absent."""
        try:
            return json.loads(self._cli("stack", "output", name, "--json", "--show-secrets"))
        except self._auto.CommandError:
            return None

    def live_drift(self) -> list[DriftedField]:
        """What was changed in the cluster outside Pulumi since the last `up` (ops/live_drift.py)."""
        try:
            printed = self._cli("refresh", "--preview-only", "--json", "--non-interactive")
            return drifted_fields(json.loads(printed or "{}"))
        except (self._auto.CommandError, ValueError) as error:
            raise StackAccessError(f"pulumi could not compare the live objects of stack {self.stack.name!r} with "
                                   f"the stack (refresh --preview-only): {cli_error_tail(error)}") from None

    def _config_history(self) -> tuple[Verdict, ...]:
        """The verdicts config holds now, from one `config get` (a whole read() costs a CLI call per key, and
        sits between a rollback's decision and its `up`)."""
        try:
            text = self.stack.get_config(f"{PROJECT}:release").value
        except self._auto.CommandError as error:
            if "not found" in str(error):
                return ()
            raise StackAccessError(f"pulumi could not read release of stack {self.stack.name!r}: "
                                   f"{cli_error_tail(error)}") from None
        release = json.loads(text) if text[:1] == "{" else {}
        return tuple(Verdict.model_validate(verdict) for verdict in release.get("history") or [])

    def up(self, action: Up) -> UpOutcome:
        stack_file = self.work_dir / f"Pulumi.{self.stack.name}.yaml"
        before = stack_file.read_bytes() if stack_file.is_file() else None
        try:
            write = config_write(self._config_history(), action)
            if write.remove_history:
                self.stack.remove_config(f"{PROJECT}:release.history", path=True)
            self.stack.set_all_config({f"{PROJECT}:{path}": self._auto.ConfigValue(value)
                                       for path, value in write.assignments}, path=True)
            result = self.stack.up(on_output=self._echo, show_secrets=False)
        except self._auto.CommandError as error:
            if LOCKED not in str(error):
                return UpOutcome(False, _tail(str(error)))
            if before is not None:  # nothing ran: the config goes back to what is deployed
                stack_file.write_bytes(before)
            return UpOutcome(False, locked_message(self.stack.name, str(error)), locked=True)
        except StackAccessError as error:
            return UpOutcome(False, str(error))
        return UpOutcome(True, summary=str(result.summary.resource_changes or {}))

    def preview(self, policy_packs: Optional[list[str]] = None) -> UpOutcome:
        try:
            result = self.stack.preview(on_output=self._echo, policy_packs=policy_packs)
        except self._auto.CommandError as error:
            return UpOutcome(False, _tail(str(error)))
        return UpOutcome(True, summary=str(result.change_summary))


def _tail(text: str, limit: int = 800) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


# -- the dry-run driver ----------------------------------------------------------------------------

@dataclass
class OfflineStep:
    action: Up
    manifests: dict[str, dict[str, Any]]
    diff: list[str]


@dataclass
class OfflineDriver:
    """`--dry-run`: each `up` is a run of the program under the SDK monitor with the step's config."""

    stack: str
    overrides: tuple[str, ...] = ()
    echo: Callable[[str], None] = print
    fail_on: Callable[[Up], Optional[str]] = field(default=lambda action: None)  # tests inject failures
    steps: list[OfflineStep] = field(default_factory=list)
    _config: Optional[StackConfig] = None
    _outputs: dict[str, Any] = field(default_factory=dict)
    _manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _load(self) -> StackConfig:
        if self._config is None:
            self._config = load_stack_config(self.stack, self.overrides)
            run = run_program(self.stack, stack_config=self._config)  # what is deployed now
            self._outputs = run.outputs
            self._manifests = {manifest_id(m): m for m in manifests(run.resources)}
        return self._config

    def live_drift(self) -> list[DriftedField]:
        return []  # no cluster: the offline plan is all there is

    def read(self) -> StackView:
        config = self._load()
        return StackView(config.model(), dict(self._outputs), self.stack, "succeeded")  # every offline up succeeds

    def up(self, action: Up) -> UpOutcome:
        current = self._load()
        write = config_write(tuple(self.read().release.history), action)
        values = copy.deepcopy(current.values)
        if write.remove_history:
            values["release"].pop("history", None)
        for path, value in write.assignments:
            set_path(values, path, value)
        staged = StackConfig(current.stack, values, current.foreign, set(current.secret_keys), current.placeholders)
        self.echo("  would run: " + " && ".join(cli_commands(self.stack, write)))
        injected = self.fail_on(action)
        if injected:
            return UpOutcome(False, injected)
        try:
            run = run_program(self.stack, stack_config=staged)
        except ConfigError as error:
            return UpOutcome(False, str(error))
        rendered = {manifest_id(m): m for m in manifests(run.resources)}
        diff = manifest_diff(self._manifests, rendered)
        for line in diff or ["  (no manifest changes)"]:
            self.echo(line)
        self.steps.append(OfflineStep(action, rendered, diff))
        self._config, self._outputs, self._manifests = staged, run.outputs, rendered
        return UpOutcome(True, summary=f"{len(diff)} diff lines")


class _BlockStrings(yaml.SafeDumper):
    """Multi-line strings (a ConfigMap's prometheus rules, a dashboard) as YAML blocks, so their diff shows the
    changed line itself rather than one escaped string."""


def _str_block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockStrings.add_representer(str, _str_block)


def _lines(manifest: dict[str, Any]) -> list[str]:
    return yaml.dump(manifest, Dumper=_BlockStrings, sort_keys=True, width=1_000_000).splitlines()


def manifest_diff(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """A unified diff per changed object, `+ Kind/ns/name` / `- ...` for added and removed ones."""
    lines: list[str] = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            lines.append(f"  + {key}")
        elif key not in after:
            lines.append(f"  - {key}")
        elif before[key] != after[key]:
            old, new = _lines(before[key]), _lines(after[key])
            lines.append(f"  ~ {key}")
            lines.extend(f"    {line}" for line in difflib.unified_diff(old, new, lineterm="", n=1)
                         if not line.startswith(("---", "+++")))
    return lines
