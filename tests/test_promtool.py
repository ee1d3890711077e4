"""T6: promtool judges the rendered rules, their unit tests, every dashboard expression and prometheus.yml.

Each promtool step has a broken fixture under tests/fixtures/observability/ that it must reject.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components import dashboards
from components import prometheus_rules as rules
from ops.checks import promtool as t6
from ops.checks.base import PlanContext
from ops.manifests import manifests
from ops.runner import RunResult
from tests.conftest import FIXTURES, require_tool

FIXTURE_DIR = FIXTURES / "observability"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", "T6; Debian package `prometheus`")


def _context(run: RunResult, tmp_path: Path) -> PlanContext:
    return PlanContext(run.stack, run, run.config.model(), manifests(run.resources), tmp_path / "manifests", tmp_path)


def _rendered(run: RunResult) -> tuple[str, str, str]:
    found = {name: t6.configmap_data(manifests(run.resources), "doc-rag-monitoring", name)
             for name in ("prometheus-rules", "prometheus-config", "grafana-dashboards")}
    assert all(data is not None for data in found.values()), found
    return (found["prometheus-rules"][rules.RULES_FILE], found["prometheus-config"]["prometheus.yml"],  # type: ignore
            found["grafana-dashboards"][dashboards.DASHBOARD_FILE])  # type: ignore


def _rules(finding_list: list) -> set[str]:
    return {finding.rule for finding in finding_list}


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_plan_check_passes_on_what_each_stack_renders(request, promtool, tmp_path, stack):
    run: RunResult = request.getfixturevalue(f"{stack}_run")
    result = t6.check(_context(run, tmp_path))
    assert result.status == "pass", [finding.as_dict() for finding in result.findings]
    # It really ran: the rendered rules and every unit test file were written and judged.
    assert (tmp_path / "promtool" / "rules" / rules.RULES_FILE).read_text() == _rendered(run)[0]
    assert sorted(p.name for p in (tmp_path / "promtool" / "unit").glob("*.test.yml")) == sorted(
        p.name for p in t6.UNIT_TESTS_DIR.glob("*.test.yml"))


def test_unit_tests_cover_every_alert_firing_and_silent():
    """Each alert has at least one case where it fires and one where it must stay silent."""
    firing: set[str] = set()
    silent: set[str] = set()
    for test_file in t6.UNIT_TESTS_DIR.glob("*.test.yml"):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            for alert_test in case.get("alert_rule_test") or []:
                (firing if alert_test["exp_alerts"] else silent).add(alert_test["alertname"])
    alerts = {rule["alert"] for rule in rules.alerting_rules()}
    assert alerts <= firing, f"no firing case for {alerts - firing}"
    assert alerts <= silent, f"no silent case for {alerts - silent}"


def test_bad_promql_fixture_is_rejected_by_check_rules(promtool, tmp_path):
    findings = t6.check_rendered(promtool, tmp_path, (FIXTURE_DIR / "bad_promql.rules.yml").read_text(), None, None)
    assert _rules(findings) == {"promtool-check-rules"}
    assert "parse error" in findings[0].message


def test_wrong_alert_fixture_is_rejected_by_the_unit_tests(promtool, tmp_path):
    findings = t6.check_rendered(promtool, tmp_path, (FIXTURE_DIR / "wrong_alert.rules.yml").read_text(), None, None)
    assert _rules(findings) == {"promtool-test-rules"}, [f.as_dict() for f in findings]
    # The failure is the one planted: the fast page fires where the tests expect silence.
    assert "alertname: DocRagErrorBudgetBurnFast" in findings[0].message
    assert "exp:[]" in findings[0].message


def test_wrong_alert_fixture_differs_from_the_rendered_rules_only_in_the_planted_threshold():
    fixture = (FIXTURE_DIR / "wrong_alert.rules.yml").read_text()
    body = "".join(line for line in fixture.splitlines(keepends=True) if not line.startswith("#"))
    assert body == rules.render_rules("green", 0).replace("> 0.0144", "> 0.00144")


def test_alert_without_runbook_or_routable_severity_is_rejected(promtool, tmp_path):
    findings = t6.check_rendered(promtool, tmp_path, (FIXTURE_DIR / "bad_alert_lint.rules.yml").read_text(),
                                 None, None, unit_tests_dir=None)
    messages = {finding.message for finding in findings if finding.subject == "alert DocRagSomethingWrong"}
    assert "annotation runbook_url is missing" in messages
    assert "annotation description is missing" in messages
    assert any("severity='critical'" in message for message in messages)


def test_every_dashboard_expression_parses(promtool, tmp_path):
    rendered = dashboards.overview_json()
    exprs = dashboards.dashboard_expressions(json.loads(rendered))
    assert len(exprs) >= 8
    file = tmp_path / "dashboards.rules.yml"
    file.write_text(t6.dashboard_rules(rendered))
    ok, output = t6.promtool_run(promtool, ["check", "rules", str(file)], tmp_path)
    assert ok, output
    assert f"SUCCESS: {len(exprs)} rules found" in output


def test_broken_dashboard_expression_is_rejected(promtool, tmp_path):
    rules_text = rules.render_rules("green", 0)
    findings = t6.check_rendered(promtool, tmp_path, rules_text, None,
                                 (FIXTURE_DIR / "bad_dashboard.json").read_text(), unit_tests_dir=None)
    assert _rules(findings) == {"dashboard-expressions"}
    assert "dashboard:panel_1:check" in findings[0].message or "parse error" in findings[0].message


def test_gate_queries_parse(promtool, tmp_path):
    """The queries `ops promote` sends are valid PromQL (checked the same way as the dashboard)."""
    queries = rules.gate_queries("green", "30m")
    file = tmp_path / "gates.rules.yml"
    records = [{"record": f"gate:{name}:check", "expr": expr} for name, expr in vars(queries).items()]
    file.write_text(yaml.safe_dump({"groups": [{"name": "gates", "rules": records}]}))
    ok, output = t6.promtool_run(promtool, ["check", "rules", str(file)], tmp_path)
    assert ok, output


def test_debian_promtool_lacks_kubernetes_sd_so_the_config_is_checked_with_file_sd(promtool, tmp_path, prod_run):
    """Debian's promtool 2.42 is built without Kubernetes service discovery: the real prometheus.yml is
    refused for that reason alone, which is why the check swaps kubernetes_sd_configs for file_sd_configs."""
    _, config_text, _ = _rendered(prod_run)
    raw = tmp_path / "raw.yml"
    raw.write_text(config_text)
    ok, output = t6.promtool_run(promtool, ["check", "config", "--syntax-only", str(raw)], tmp_path)
    if ok:
        pytest.skip("this promtool has Kubernetes discovery built in; the swap is harmless there")
    assert "kubernetes_sd_configs not found" in output

    swapped = yaml.safe_load(t6.file_sd_copy(config_text, tmp_path / "rules", tmp_path / "targets.json"))
    original = yaml.safe_load(config_text)
    for before, after in zip(original["scrape_configs"], swapped["scrape_configs"], strict=True):
        assert "kubernetes_sd_configs" not in after
        assert after.get("relabel_configs") == before.get("relabel_configs")  # relabelling checked unchanged
        if "kubernetes_sd_configs" in before:
            assert after["file_sd_configs"] == [{"files": [str(tmp_path / "targets.json")]}]
    assert swapped["global"] == original["global"]


def test_bad_prometheus_config_fixture_is_rejected(promtool, tmp_path):
    findings = t6.check_rendered(promtool, tmp_path, rules.render_rules("green", 0),
                                 (FIXTURE_DIR / "bad_prometheus.yml").read_text(), None, unit_tests_dir=None)
    assert _rules(findings) == {"promtool-check-config"}
    assert re.search(r"keepp", findings[0].message)


def test_missing_promtool_skips_locally_and_fails_under_ci(monkeypatch, tmp_path, dev_run):
    monkeypatch.setattr(t6, "find_tool", lambda name: None)
    monkeypatch.setenv("CI", "false")
    assert t6.check(_context(dev_run, tmp_path)).status == "skip"
    monkeypatch.setenv("CI", "true")
    result = t6.check(_context(dev_run, tmp_path))
    assert result.status == "fail" and "promtool" in result.summary


def test_missing_rules_configmap_fails(promtool, tmp_path, dev_run):
    context = _context(dev_run, tmp_path)
    context.manifests = [m for m in context.manifests if (m.get("metadata") or {}).get("name") != "prometheus-rules"]
    result = t6.check(context)
    assert result.status == "fail" and "prometheus-rules" in result.summary
