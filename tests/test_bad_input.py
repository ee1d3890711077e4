"""Every operator command meets broken stack files and bad arguments with exit 2, a message naming the file or
key, nothing written and no traceback (issue 21). Each runs as the operator runs it, in a copy of the project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
import yaml

from ops.local.scratch import copy_project

PYTHON = [sys.executable]


def _dev_with(key: str, value: object) -> str:
    """Pulumi.dev.yaml with one doc-rag key replaced: the rest of the file is valid."""
    document = yaml.safe_load((Path(__file__).resolve().parent.parent / "Pulumi.dev.yaml").read_text())
    section, _, inner = key.partition(".")
    document["config"].setdefault(f"doc-rag:{section}", {})[inner] = value
    return yaml.safe_dump(document)


# stack name -> (file content, what the message must say)
BROKEN_STACKS = {
    "unclosed": ("config:\n  doc-rag:release: [\n", "Pulumi.unclosed.yaml is not valid YAML at line 3, column 1"),
    "toplist": ("- a\n- b\n", "Pulumi.toplist.yaml: allowed: a mapping at the top level"),
    "configlist": ("config:\n  - a\n", "Pulumi.configlist.yaml: `config` is a list; allowed: a mapping"),
    "intkey": ("config:\n  5: x\n", "Pulumi.intkey.yaml: config: key 5 is not a string"),
    "date": ("config:\n  doc-rag:domain: 2020-01-01\n",
             "Pulumi.date.yaml: config.doc-rag:domain = datetime.date(2020, 1, 1) is a date"),
    "release5": ("config:\n  doc-rag:release: 5\n", "release = 5: Input should be a valid dictionary"),
    "retries": (_dev_with("traffic.retries", "many"), "traffic.retries = 'many': Input should be a valid integer"),
    "steps": (_dev_with("release.steps", "5,25"), "release.steps = '5,25': Input should be a valid list"),
}

# how each command is run against stack S
COMMANDS = {
    "plan": [*PYTHON, "-m", "ops", "plan", "-s", "S"],
    "check": [*PYTHON, "-m", "ops", "check", "-s", "S"],
    "check --offline": [*PYTHON, "-m", "ops", "check", "-s", "S", "--offline"],
    "promote --dry-run": [*PYTHON, "-m", "ops", "promote", "-s", "S", "--dry-run"],
    "rollback --dry-run": [*PYTHON, "-m", "ops", "rollback", "-s", "S", "--dry-run"],
    "status": [*PYTHON, "-m", "ops", "status", "-s", "S"],
    "bench_decision": [*PYTHON, "-m", "ops.bench_decision", "-s", "S", "--runs", "1"],
    "make plan": ["make", "--no-print-directory", "plan", "STACK=S"],
}

# bad arguments on valid stacks: (command, what the message must say)
BAD_ARGUMENTS = [
    ([*PYTHON, "-m", "ops.bench_decision", "--runs", "0"], "'0': allowed: a whole number of runs, at least 1"),
    ([*PYTHON, "-m", "ops.bench_decision", "-s", "staging"], "unknown stack 'staging': no Pulumi.staging.yaml"),
    ([*PYTHON, "-m", "ops.bench_decision", "-s", "dev", "--runs", "1"],
     "stack dev: the release does not reach a breach to measure"),
    ([*PYTHON, "-m", "ops", "plan", "-s", "staging"], "unknown stack 'staging'"),
    ([*PYTHON, "-m", "ops", "plan", "-s", "dev", "--set", "nonsense"], "expected KEY=VALUE"),
    ([*PYTHON, "-m", "ops", "plan", "-s", "dev", "--set", "release.canaryWeight=33"],
     "release.canaryWeight = 33: allowed: 0 or one of release.steps [5, 25, 50, 100]"),
    ([*PYTHON, "-m", "ops", "plan", "-s", "dev", "--compare", "missing.json"], "--compare missing.json"),
    ([*PYTHON, "-m", "ops", "status", "-s", "dev", "--watch", "0"], "'0': allowed: a positive number of seconds"),
    ([*PYTHON, "-m", "ops", "promote", "-s", "dev", "--set", "release.canaryWeight=5"],
     "--set applies only with --dry-run"),
    ([*PYTHON, "-m", "ops", "promote", "-s", "prod"], "the `pulumi` CLI is not on PATH"),
    ([*PYTHON, "-m", "ops", "rollback", "-s", "prod"], "the `pulumi` CLI is not on PATH"),
    ([*PYTHON, "-m", "ops", "check", "-s", "dev", "--set", "release.canaryWeight=33"], "release.canaryWeight = 33"),
    ([*PYTHON, "-m", "ops", "local", "traffic", "--error-share", "2"], "allowed: a share from 0 to 1"),
    ([*PYTHON, "-m", "ops", "frobnicate"], "invalid choice: 'frobnicate'"),
    ([*PYTHON, "-m", "ops", "status", "-s", "prod", "--prometheus-url", "http://[::1"],
     "--prometheus-url = 'http://[::1': allowed: an http:// or https:// URL with a host"),
    ([*PYTHON, "-m", "ops", "check", "-s", "dev", "--api-url", "ftp://example.org"],
     "--api-url = 'ftp://example.org': allowed: an http:// or https:// URL with a host"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    copy = copy_project(tmp_path_factory.mktemp("bad-input") / "project")
    for stack, (content, _) in BROKEN_STACKS.items():
        (copy / f"Pulumi.{stack}.yaml").write_text(content)
    return copy


def _files(root: Path) -> dict[str, int]:
    """Every file under the copy with its modification time (bytecode caches aside)."""
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and not path.is_symlink()}


def _run(project: Path, command: list[str], extra_env: Optional[dict[str, str]] = None
         ) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    before = _files(project)
    # No pulumi CLI: the commands read the stack files themselves, as on a machine without one.
    env = {**os.environ, "PATH": f"{project / '.venv' / 'bin'}:/usr/bin:/bin", **(extra_env or {})}
    env.pop("PROMETHEUS_URL", None)
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=300, env=env)
    after = _files(project)
    return done, {name: mtime for name, mtime in after.items() if before.get(name) != mtime}


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
@pytest.mark.parametrize("stack", BROKEN_STACKS)
def test_a_broken_stack_file_exits_2_naming_it_with_nothing_written(project, stack, command):
    argv = [part.replace("STACK=S", f"STACK={stack}") if part.startswith("STACK=") else (stack if part == "S" else part)
            for part in COMMANDS[command]]
    done, written = _run(project, argv)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert BROKEN_STACKS[stack][1] in " ".join(output.split()), output
    assert "Traceback" not in output
    assert written == {}, written


@pytest.mark.parametrize(("command", "message"), BAD_ARGUMENTS, ids=[" ".join(c[2:]) for c, _ in BAD_ARGUMENTS])
def test_bad_arguments_exit_2_with_the_reason_and_nothing_written(project, command, message):
    done, written = _run(project, command)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert message in " ".join(output.split()), output
    assert "Traceback" not in output
    assert written == {}, written


@pytest.mark.parametrize("stack", ["unclosed", "configlist", "release5"])
def test_local_up_refuses_a_broken_local_stack_file_before_starting_anything(tmp_path, stack):
    """`make up` runs `ops local up` first: a broken Pulumi.local.yaml stops it with exit 2 and nothing started."""
    copy = copy_project(tmp_path / "project")
    content, message = BROKEN_STACKS[stack]
    (copy / "Pulumi.local.yaml").write_text(content)
    # An empty engine home and other ports: were the refusal missing, nothing could start beside a real cluster.
    env = {"DOC_RAG_ENGINE_HOME": str(tmp_path / "no-engine"), "DOC_RAG_LOCAL_PORT_BASE": "36979"}
    done, written = _run(copy, [*PYTHON, "-m", "ops", "local", "up"], env)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert message.replace(f"Pulumi.{stack}.yaml", "Pulumi.local.yaml") in " ".join(output.split()), output
    assert "Traceback" not in output and written == {}
    assert not (copy / "build" / "local").exists()
