"""T6's cache of passing promtool runs: a hit only on identical input, a change always re-checked, a failure
never cached (ops/checks/tool_cache.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from components import prometheus_rules as rules
from ops.checks import promtool as t6
from ops.checks import tool_cache
from ops.checks.base import PlanContext
from ops.manifests import manifests
from ops.runner import RunResult
from tests.conftest import FIXTURES, require_tool
from tests.ops.checks.test_promtool import plant_wrong_fast_threshold

FIXTURE_DIR = FIXTURES / "observability"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", "T6; Debian package `prometheus`")


def _check(runs: t6.Runs, work_dir: Path, rules_text: str, **kwargs) -> list:
    return t6.check_rendered(runs.promtool, work_dir, rules_text, None, None, runs=runs, **kwargs)


def test_a_changed_rule_is_checked_again_and_fails(promtool, tmp_path):
    cache = tmp_path / "cache"
    rendered = rules.render_rules("green", 0)
    cold = t6.Runs(promtool, cache)
    assert _check(cold, tmp_path / "a", rendered) == []
    assert (cold.started, cold.cached) == (2, 0)  # check rules, test rules
    warm = t6.Runs(promtool, cache)
    assert _check(warm, tmp_path / "b", rendered) == []
    assert (warm.started, warm.cached) == (0, 2)

    changed = t6.Runs(promtool, cache)
    findings = _check(changed, tmp_path / "c", plant_wrong_fast_threshold(rendered))
    assert changed.cached == 0 and changed.started == 2  # both steps read the rules: both ran again
    assert [finding.rule for finding in findings] == ["promtool-test-rules"]
    assert "alertname: DocRagErrorBudgetBurnFast" in findings[0].message


def test_a_broken_fixture_fails_with_a_warm_cache_and_its_failure_is_not_stored(promtool, tmp_path):
    cache = tmp_path / "cache"
    assert _check(t6.Runs(promtool, cache), tmp_path / "warm", rules.render_rules("green", 0)) == []
    stored = set(cache.iterdir())
    for attempt in ("first", "second"):
        runs = t6.Runs(promtool, cache)
        findings = _check(runs, tmp_path / attempt, (FIXTURE_DIR / "bad_promql.rules.yml").read_text())
        assert [finding.rule for finding in findings] == ["promtool-check-rules"], attempt
        assert "parse error" in findings[0].message
        assert (runs.started, runs.cached) == (1, 0), attempt
    assert set(cache.iterdir()) == stored


def test_a_changed_unit_test_is_run_again(promtool, tmp_path):
    cache = tmp_path / "cache"
    tests = tmp_path / "unit-tests"
    shutil.copytree(t6.UNIT_TESTS_DIR, tests)
    rendered = rules.render_rules("green", 0)
    assert _check(t6.Runs(promtool, cache), tmp_path / "a", rendered, unit_tests_dir=tests) == []
    edited = tests / "slo_alerts.test.yml"
    text = edited.read_text()
    edited.write_text(text.replace("alertname: DocRagErrorBudgetBurnFast", "alertname: DocRagNoSuchAlert", 1))
    runs = t6.Runs(promtool, cache)
    findings = _check(runs, tmp_path / "b", rendered, unit_tests_dir=tests)
    assert (runs.started, runs.cached) == (1, 1)  # the rules check is unchanged, the unit tests are not
    assert [finding.rule for finding in findings] == ["promtool-test-rules"]


def test_the_key_covers_every_file_the_arguments_and_the_binary(tmp_path):
    work = tmp_path / "work"
    (work / "rules").mkdir(parents=True)
    (work / "rules" / "a.yml").write_text("groups: []\n")
    tool = tmp_path / "promtool"
    tool.write_bytes(b"#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    base = tool_cache.run_key(str(tool), ["check", "rules", "rules/a.yml"], work)
    assert tool_cache.run_key(str(tool), ["check", "rules", "rules/a.yml"], work) == base

    assert tool_cache.run_key(str(tool), ["check", "config", "rules/a.yml"], work) != base
    (work / "rules" / "a.yml").write_text("groups: [] \n")
    assert tool_cache.run_key(str(tool), ["check", "rules", "rules/a.yml"], work) != base
    (work / "rules" / "a.yml").write_text("groups: []\n")
    assert tool_cache.run_key(str(tool), ["check", "rules", "rules/a.yml"], work) == base
    (work / "rules" / "b.yml").write_text("")
    assert tool_cache.run_key(str(tool), ["check", "rules", "rules/a.yml"], work) != base
    (work / "rules" / "b.yml").unlink()

    stat = tool.stat()
    os.utime(tool, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # another build of the binary
    assert tool_cache.run_key(str(tool), ["check", "rules", "rules/a.yml"], work) != base
    link = tmp_path / "elsewhere"
    link.symlink_to(tool)
    assert tool_cache.binary_identity(str(link))["path"] == str(tool.resolve())


def test_a_failing_tool_run_is_never_stored(tmp_path):
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho broken; exit 1\n")
    tool.chmod(0o755)
    cache = tmp_path / "cache"
    for _ in range(2):
        run = tool_cache.run_cached(str(tool), ["x"], tmp_path / ".", timeout=30, cache_dir=cache)
        assert (run.ok, run.cached, run.output) == (False, False, "broken")
    assert not cache.exists() or not list(cache.iterdir())


def test_the_plan_check_says_when_it_used_the_cache_and_its_summary_does_not_change(
        promtool, tmp_path, monkeypatch, dev_run: RunResult):
    monkeypatch.setattr(t6, "CACHE_DIR", tmp_path / "cache")
    results = []
    for attempt in ("cold", "warm"):
        context = PlanContext(dev_run.stack, dev_run, dev_run.config.model(), manifests(dev_run.resources),
                              tmp_path / attempt / "manifests", tmp_path / attempt)
        results.append(t6.check(context))
    cold, warm = results
    assert cold.status == warm.status == "pass"
    assert cold.note == "" and warm.note.startswith("4 of 4 promtool runs from the cache")
    assert cold.summary == warm.summary
    # The warm check still wrote what this plan rendered, beside the stored passes.
    assert (tmp_path / "warm" / "promtool" / "rules" / rules.RULES_FILE).read_text() == \
        (tmp_path / "cold" / "promtool" / "rules" / rules.RULES_FILE).read_text()
