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
from tests.conftest import FIXTURES, PROJECT_DIR, require_tool

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


def plant_wrong_fast_threshold(rendered: str) -> str:
    """The API's fast-burn threshold at 1.44x the budget instead of 14.4x (the edge alerts are left alone)."""
    return re.sub(r'(job:slo_errors_per_request:ratio_rate(?:1h|5m)\{job="doc-rag-api"\}) > 0\.0144\n',
                  r"\1 > 0.00144\n", rendered)


def test_wrong_alert_fixture_differs_from_the_rendered_rules_only_in_the_planted_threshold():
    fixture = (FIXTURE_DIR / "wrong_alert.rules.yml").read_text()
    body = "".join(line for line in fixture.splitlines(keepends=True) if not line.startswith("#"))
    rendered = rules.render_rules("green", 0)
    assert body == plant_wrong_fast_threshold(rendered) != rendered


def test_alert_without_runbook_or_routable_severity_is_rejected(promtool, tmp_path):
    findings = t6.check_rendered(promtool, tmp_path, (FIXTURE_DIR / "bad_alert_lint.rules.yml").read_text(),
                                 None, None, unit_tests_dir=None)
    messages = {finding.message for finding in findings if finding.subject == "alert DocRagSomethingWrong"}
    assert "annotation runbook_url is missing" in messages
    assert "annotation description is missing" in messages
    assert any("severity='critical'" in message for message in messages)


# -- runbooks: one address (rules.RUNBOOK_BASE), sections that exist, unit tests in step ----------------

def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower-cased, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in markdown.splitlines() if re.match(r"#{1,6} ", line)}


def missing_runbooks(urls: dict[str, str], markdown: str) -> list[str]:
    """Alerts whose runbook_url is not RUNBOOK_BASE#<an anchor of the shipped doc>."""
    anchors = github_anchors(markdown)
    return [alert for alert, url in urls.items()
            if not url.startswith(rules.RUNBOOK_BASE + "#") or url.partition("#")[2] not in anchors]


def expected_runbook_urls(unit_test: dict) -> list[tuple[str, str]]:
    """(alertname, runbook_url) for every alert a promtool unit test expects to fire."""
    return [(alert_test["alertname"], alert["exp_annotations"]["runbook_url"])
            for case in unit_test["tests"] for alert_test in case.get("alert_rule_test") or []
            for alert in alert_test["exp_alerts"] if "runbook_url" in (alert.get("exp_annotations") or {})]


def test_every_runbook_url_is_a_section_of_the_doc_that_ships_here(prod_run):
    rule_doc = yaml.safe_load(_rendered(prod_run)[0])
    urls = {r["alert"]: r["annotations"]["runbook_url"] for g in rule_doc["groups"] for r in g["rules"] if "alert" in r}
    assert set(urls) == {rule["alert"] for rule in rules.alerting_rules()} and len(urls) == 9
    doc = PROJECT_DIR / rules.RUNBOOK_DOC
    assert rules.RUNBOOK_BASE.startswith("https://") and rules.RUNBOOK_BASE.endswith("/" + rules.RUNBOOK_DOC)
    assert missing_runbooks(urls, doc.read_text()) == []
    assert all(url == rules.runbook_url(alert) for alert, url in urls.items())


def test_a_runbook_without_its_section_is_caught():
    doc = (PROJECT_DIR / rules.RUNBOOK_DOC).read_text()
    urls = {alert: rules.runbook_url(alert) for alert in ("DocRagErrorBudgetBurnFast", "DocRagApiMetricsAbsent")}
    assert missing_runbooks(urls, doc) == []
    without = doc.replace("#### DocRagApiMetricsAbsent\n", "")
    assert without != doc and missing_runbooks(urls, without) == ["DocRagApiMetricsAbsent"]
    elsewhere = {"DocRagErrorBudgetBurnFast": "https://example.com/runbooks#docragerrorbudgetburnfast"}
    assert missing_runbooks(elsewhere, doc) == ["DocRagErrorBudgetBurnFast"]


def test_promtool_unit_tests_and_fixtures_expect_the_rendered_runbook_urls():
    """promtool compares annotations literally, so tests/promtool/ spells the URLs out: they must be ours."""
    expected = [pair for test_file in sorted(t6.UNIT_TESTS_DIR.glob("*.test.yml"))
                for pair in expected_runbook_urls(yaml.safe_load(test_file.read_text()))]
    assert {alert for alert, _ in expected} == {rule["alert"] for rule in rules.alerting_rules()}
    assert [(alert, url) for alert, url in expected if url != rules.runbook_url(alert)] == []
    for fixture in FIXTURE_DIR.glob("*.rules.yml"):
        for group in yaml.safe_load(fixture.read_text())["groups"]:
            for rule in group["rules"]:
                url = (rule.get("annotations") or {}).get("runbook_url")
                assert url is None or url == rules.runbook_url(rule["alert"]), fixture.name


def test_a_unit_test_with_a_stale_runbook_url_is_caught():
    unit_test = yaml.safe_load((t6.UNIT_TESTS_DIR / "slo_slow_burn.test.yml").read_text())
    case = unit_test["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]
    case["exp_annotations"]["runbook_url"] = "https://wiki.example.com/old#docragerrorbudgetburnslow"
    assert [(alert, url) for alert, url in expected_runbook_urls(unit_test) if url != rules.runbook_url(alert)] == [
        ("DocRagErrorBudgetBurnSlow", "https://wiki.example.com/old#docragerrorbudgetburnslow")]


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


@pytest.mark.parametrize("configmap,key", [("prometheus-rules", "doc-rag.yml"),
                                           ("prometheus-config", "prometheus.yml"),
                                           ("grafana-dashboards", "doc-rag-overview.json")])
def test_a_missing_input_key_fails_instead_of_being_reported_valid(promtool, tmp_path, dev_run, configmap, key):
    """The summary vouches for the rules, the config and the dashboard: none may be skipped silently."""
    context = _context(dev_run, tmp_path)
    for manifest in context.manifests:
        if manifest["kind"] == "ConfigMap" and manifest["metadata"]["name"] == configmap:
            manifest["data"] = {k: v for k, v in manifest["data"].items() if k != key}
    result = t6.check(context)
    assert result.status == "fail"
    assert result.summary == f"inputs missing: {configmap} {key}"
    assert "valid" not in result.summary
