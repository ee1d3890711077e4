"""The command line of `python -m ops` (ops/arguments.py): answered before any SDK is imported, and each
command's function found where its arguments say."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys

import pytest

from ops.arguments import Command, build_parser
from tests.conftest import PROJECT_DIR

HEAVY = ("pulumi", "pulumi_kubernetes", "pulumi_aws", "pulumi_policy", "httpx", "rich", "pydantic", "yaml",
         "components", "policies")

# In a fresh interpreter: run `python -m ops ARGV` as __main__ does, then list the heavy packages it loaded.
_LOADED_AFTER = """
import json, sys
from ops.__main__ import main
code = main(sys.argv[2:])
heavy = set(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "loaded": sorted({name.split(".")[0] for name in sys.modules} & heavy),
                  "ops": sorted(name for name in sys.modules if name.startswith("ops."))}))
"""


@pytest.mark.parametrize("argv", [["frobnicate"], ["promote", "-s", "prod", "--bogus"], ["status"],
                                  ["local", "traffic", "--error-share", "2"], ["promote", "--help"]])
def test_a_usage_error_or_help_imports_no_sdk_and_no_command_module(argv):
    done = subprocess.run([sys.executable, "-c", _LOADED_AFTER, json.dumps(HEAVY), *argv], cwd=PROJECT_DIR,
                          capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["code"] == (0 if "--help" in argv else 2), done.stderr
    assert seen["loaded"] == [], f"parsing {argv} imported {seen['loaded']}"
    assert seen["ops"] == ["ops.__main__", "ops.arguments", "ops.exit_codes"], seen["ops"]


def _commands() -> dict[str, object]:
    parser = build_parser()
    (subparsers,) = [action for action in parser._actions if action.dest == "command"]
    return {name: sub.get_default("func") for name, sub in subparsers.choices.items()}  # type: ignore[attr-defined]


def test_every_command_names_a_function_that_exists():
    commands = _commands()
    assert list(commands) == ["plan", "engine", "check", "promote", "rollback", "status", "restore", "local"]
    for name, func in commands.items():
        if isinstance(func, Command):
            module, _, function = func.target.partition(":")
            assert callable(getattr(importlib.import_module(module), function, None)), f"{name}: {func.target}"
        else:
            assert callable(func), name


def test_the_arguments_module_imports_only_the_standard_library():
    tree = ast.parse((PROJECT_DIR / "ops" / "arguments.py").read_text())
    imported = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in tree.body
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


@pytest.mark.parametrize(("argv", "value"), [(["status", "-s", "prod", "--watch"], 30.0),
                                             (["status", "-s", "prod", "--watch", "2.5"], 2.5)])
def test_status_watch_defaults_to_30_seconds_and_takes_a_positive_number(argv, value):
    assert build_parser().parse_args(argv).watch == value


@pytest.mark.parametrize(("option", "text", "value"), [("--error-share", "0.2", 0.2), ("--error-share", "1", 1.0),
                                                        ("--latency", "2.0", 2.0), ("--latency", "60", 60.0)])
def test_local_traffic_takes_a_share_and_seconds(option, text, value):
    args = build_parser().parse_args(["local", "traffic", "--color", "green", option, text])
    assert getattr(args, option.lstrip("-").replace("-", "_")) == value


@pytest.mark.parametrize(("option", "text"), [("--error-share", "1.5"), ("--error-share", "-0.1"),
                                              ("--latency", "0"), ("--latency", "61"), ("--latency", "soon")])
def test_local_traffic_refuses_values_out_of_range(capsys, option, text):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["local", "traffic", "--color", "green", option, text])
    assert exit_.value.code == 2 and f"'{text}': allowed:" in capsys.readouterr().err
