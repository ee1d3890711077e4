"""`make engine`: the recipe, its cache key, the pins it shares with requirements.txt, failures that say
where to look, and (tier T7) the built binaries reporting the versions of their sources."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ops.engine import build
from ops.engine.lock import exclusive
from tests.conftest import PROJECT_DIR
from tests.e2e_helpers import engine_bin


def pinned(requirement: str) -> str:
    text = (PROJECT_DIR / "requirements.txt").read_text()
    match = re.search(rf"^{re.escape(requirement)}==(\S+)$", text, re.MULTILINE)
    assert match, f"{requirement} is not pinned in requirements.txt"
    return match.group(1)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_python_sdks_pair_with_the_engine():
    # The Kubernetes SDK asks the engine for its own release of the provider: they must be the same.
    assert pinned("pulumi-kubernetes") == build.PROVIDER_VERSION
    # The CLI must be at least as new as the SDK that talks to it.
    assert version_tuple(pinned("pulumi")) <= version_tuple(build.PULUMI_VERSION)


def test_wrapper_modules_require_the_versions_the_builder_stamps():
    recipes = build.RECIPES
    assert f"k8s.io/kubernetes v{build.KUBERNETES_VERSION}" in (recipes / "kubernetes/go.mod").read_text()
    staging = re.findall(r"k8s.io/[a-z-]+ => k8s.io/[a-z-]+ (v\S+)", (recipes / "kubernetes/go.mod").read_text())
    assert len(staging) > 25 and set(staging) == {"v0." + build.KUBERNETES_VERSION.split(".", 1)[1]}
    assert f"go.etcd.io/etcd/server/v3 v{build.ETCD_VERSION}" in (recipes / "etcd/go.mod").read_text()
    pulumi_mod = (recipes / "pulumi/go.mod").read_text()
    for module in ("pkg", "sdk"):
        assert f"github.com/pulumi/pulumi/{module}/v3 v{build.PULUMI_VERSION}" in pulumi_mod
    for recipe in ("kubernetes", "etcd", "pulumi"):
        assert (recipes / recipe / "go.sum").stat().st_size > 0, f"{recipe}: go.sum pins are committed"


def test_recipe_hash_changes_with_any_recipe_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    copy = tmp_path / "recipes"
    shutil.copytree(build.RECIPES, copy)
    monkeypatch.setattr(build, "RECIPES", copy)
    before = build.recipe_hash()
    assert build.recipe_hash() == before  # deterministic
    (copy / "etcd" / "go.mod").write_text((copy / "etcd" / "go.mod").read_text() + "\n// changed\n")
    assert build.recipe_hash() != before


def test_engine_home_and_bin_dir_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DOC_RAG_ENGINE_HOME", str(tmp_path))
    assert build.bin_dir() == tmp_path / build.recipe_hash() / "bin"
    # -S: no site-packages, so the command proves it needs the standard library only (it runs before .venv).
    done = subprocess.run([sys.executable, "-S", "-m", "ops.engine", "--bin"], cwd=PROJECT_DIR, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "DOC_RAG_ENGINE_HOME": str(tmp_path)})
    assert done.returncode == 0 and done.stdout == f"{build.bin_dir()}\n" and not done.stderr


def test_a_failed_step_names_its_log_and_shows_the_last_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DOC_RAG_ENGINE_HOME", str(tmp_path))

    def breaks(b: build.Builder) -> None:
        (b.bin / "broken").write_text("half-written")
        b.sh(["sh", "-c", "echo compiling; echo 'undefined: provider.Serve' >&2; exit 3"], b.target)

    monkeypatch.setattr(build, "STEPS", (build.Step("broken thing v1", ("broken",), breaks),))
    monkeypatch.setattr(build.shutil, "which", lambda name: f"/usr/bin/{name}")  # no Go needed for this step
    printed: list[str] = []
    with pytest.raises(build.EngineBuildError) as failure:
        build.build(printed.append)
    message = str(failure.value)
    log = build.engine_dir() / "logs" / "1-broken.log"
    assert "broken thing v1 failed" in message and f"log: {log}" in message
    assert "undefined: provider.Serve" in message  # the log's last lines, so CI output says why
    assert not (build.bin_dir() / "broken").exists() and not (build.bin_dir() / ".complete").exists()
    assert printed[-1] == "engine: [1/2] broken thing v1 ..."


def test_version_check_names_each_wrong_or_missing_binary(tmp_path: Path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "kubectl").write_text("#!/bin/sh\necho 'Client Version: v1.30.0'\n")
    (fake / "kubectl").chmod(0o755)
    problems = build.version_mismatches(fake)
    assert any(p.startswith("kubectl: expected 'Client Version: v1.34.4'") and "v1.30.0" in p for p in problems)
    assert "pulumi: missing from " + str(fake) in problems
    assert any(p.startswith("resource plugin kubernetes v4.25.0: not installed") for p in problems)


@pytest.mark.e2e
def test_the_built_engine_reports_the_versions_of_its_sources():
    bin_path = engine_bin()
    assert build.version_mismatches(bin_path) == []
    env = {"PULUMI_HOME": str(build.pulumi_home()), "PULUMI_SKIP_UPDATE_CHECK": "true", "PATH": "/usr/bin:/bin"}
    plugins = subprocess.run([str(bin_path / "pulumi"), "plugin", "ls"], capture_output=True, text=True, env=env,
                             check=True).stdout
    assert re.search(rf"^kubernetes\s+resource\s+{re.escape(build.PROVIDER_VERSION)}\b", plugins, re.MULTILINE), plugins
    shim = bin_path / "pulumi-language-python-exec"
    assert shim.stat().st_mode & 0o111 and shim.read_text().startswith("#!")


def test_a_second_build_waits_for_the_first_and_says_so(tmp_path: Path):
    # Two builds in one engine home would delete each other's work trees: the second waits for the lock.
    lock_path = tmp_path / "build.lock"
    printed: list[str] = []
    entered = threading.Event()

    def second_build() -> None:
        with exclusive(lock_path, printed.append):
            entered.set()

    with exclusive(lock_path, printed.append):
        waiter = threading.Thread(target=second_build)
        waiter.start()
        assert not entered.wait(0.5), "the second build ran while the first held the lock"
        assert printed == [f"engine: another build holds {lock_path}; waiting for it to finish"]
    waiter.join(10)
    assert entered.is_set(), "the second build never ran after the first released the lock"
