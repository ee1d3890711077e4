"""T6: promtool on what the plan rendered — the rules, their unit tests, the dashboards and prometheus.yml.

From the rendered ConfigMaps (never from the Python that built them) the check writes, under work_dir:
  rules/doc-rag.yml            `promtool check rules`, plus our lint: severity and runbook on every alert
  unit/*.test.yml              the unit tests of tests/promtool/, beside a copy of the rules: `promtool test rules`
  dashboards.rules.yml         every Grafana panel expression as a recording rule: `promtool check rules`
  prometheus.yml               a copy for `promtool check config`, with kubernetes_sd_configs swapped for
                               file_sd_configs: Debian's promtool (2.42) is built without Kubernetes
                               discovery and rejects the real file with "field kubernetes_sd_configs not found".
                               Relabelling, rule_files and everything else is checked unchanged.
Each promtool run is given paths relative to its working directory and is skipped when an identical run
passed before (ops/checks/tool_cache.py, under build/cache/promtool); a failure always runs again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import yaml

from components import dashboards
from components import observability as obs
from components import prometheus_rules as rules
from ops.checks import tool_cache
from ops.checks.base import CheckResult, Finding, PlanContext, find_tool, missing_tool
from ops.stackconfig import PROJECT_DIR

# The unit tests run against the rendered rules: each names `doc-rag.yml` in rule_files.
UNIT_TESTS_DIR = PROJECT_DIR / "tests" / "promtool"
INSTALL_HINT = "apt-get install prometheus (Debian ships promtool with it); make setup installs it"
TIMEOUT_SECONDS = 300
CACHE_DIR = tool_cache.CACHE_ROOT / "promtool"


def configmap_data(manifests: list[dict[str, Any]], namespace: str, name: str) -> Optional[dict[str, str]]:
    for manifest in manifests:
        metadata = manifest.get("metadata") or {}
        if manifest.get("kind") == "ConfigMap" and metadata.get("namespace") == namespace \
                and metadata.get("name") == name:
            return manifest.get("data") or {}
    return None


def lint_alerts(rules_text: str) -> list[Finding]:
    """What promtool does not require but on-call does: a severity we route and the three annotations."""
    findings = []
    document = yaml.safe_load(rules_text) or {}
    for group in document.get("groups") or []:
        for rule in group.get("rules") or []:
            if "alert" not in rule:
                continue
            subject = f"alert {rule['alert']}"
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in rules.ALERT_SEVERITIES:
                allowed = list(rules.ALERT_SEVERITIES)
                findings.append(Finding(subject, f"label severity={severity!r}; allowed: {allowed}", "alert-severity"))
            annotations = rule.get("annotations") or {}
            for key in rules.REQUIRED_ANNOTATIONS:
                if not str(annotations.get(key) or "").strip():
                    findings.append(Finding(subject, f"annotation {key} is missing", "alert-annotations"))
            runbook = str(annotations.get("runbook_url") or "")
            if runbook and not runbook.startswith("https://"):
                findings.append(Finding(subject, f"runbook_url {runbook!r} is not an https URL", "alert-annotations"))
    return findings


def dashboard_rules(dashboard_json: str) -> str:
    """Each panel expression as a recording rule, so promtool parses it exactly as Prometheus would."""
    dashboard = json.loads(dashboard_json)
    records = [{"record": f"dashboard:panel_{index}:check", "expr": expr}
               for index, (_, expr) in enumerate(dashboards.dashboard_expressions(dashboard))]
    return yaml.safe_dump({"groups": [{"name": "dashboard-expressions", "rules": records}]}, sort_keys=False)


def file_sd_copy(config_text: str, rules_dir: Path, targets_file: Path) -> str:
    """prometheus.yml with each kubernetes_sd_configs replaced by file_sd_configs (see the module docstring),
    and rule_files pointed at the rendered rules."""
    config = yaml.safe_load(config_text) or {}
    for job in config.get("scrape_configs") or []:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job.setdefault("file_sd_configs", []).append({"files": [str(targets_file)]})
    config["rule_files"] = [str(rules_dir / Path(pattern).name) for pattern in config.get("rule_files") or []]
    return yaml.safe_dump(config, sort_keys=False)


def promtool_run(promtool: str, args: list[str], cwd: Path) -> tuple[bool, str]:
    done = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                          check=False)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


class Runs:
    """promtool's runs for one check: through the pass cache when given one, counting the hits."""

    def __init__(self, promtool: str, cache_dir: Optional[Path]):
        self.promtool, self.cache_dir = promtool, cache_dir
        self.started = self.cached = 0

    def __call__(self, args: list[str], cwd: Path) -> tuple[bool, str]:
        run = tool_cache.run_cached(self.promtool, args, cwd, timeout=TIMEOUT_SECONDS, cache_dir=self.cache_dir)
        self.cached += run.cached
        self.started += not run.cached
        return run.ok, run.output


def _tail(output: str, lines: int = 40) -> str:
    return "\n".join(output.splitlines()[-lines:])


def check_rendered(promtool: str, work_dir: Path, rules_text: str, config_text: Optional[str],
                   dashboard_json: Optional[str], unit_tests_dir: Optional[Path] = UNIT_TESTS_DIR, *,
                   runs: Optional[Runs] = None) -> list[Finding]:
    """Every promtool step on rendered text; one Finding per failed step (the test suite calls this too).
    Text passed as None, and unit tests with unit_tests_dir=None, are not checked. Without `runs`, every
    step starts promtool (no cache)."""
    run = runs or Runs(promtool, None)
    findings: list[Finding] = []
    rules_dir = work_dir / "rules"
    shutil.rmtree(rules_dir, ignore_errors=True)
    rules_dir.mkdir(parents=True)
    rules_file = rules_dir / rules.RULES_FILE
    rules_file.write_text(rules_text)

    ok, output = run(["check", "rules", rules_file.relative_to(work_dir).as_posix()], work_dir)
    if not ok:
        findings.append(Finding(f"ConfigMap/{obs.RULES_MAP}", _tail(output), "promtool-check-rules"))
    findings += lint_alerts(rules_text)

    tests = sorted(unit_tests_dir.glob("*.test.yml")) if unit_tests_dir is not None else []
    if unit_tests_dir is not None and not tests:
        findings.append(Finding("tests/promtool", f"no *.test.yml unit tests in {unit_tests_dir}",
                                "promtool-test-rules"))
    elif ok and tests:  # unit tests on rules that do not parse would only repeat the parse error
        # Beside a copy of the rules, apart from rules_dir: rule_files "*.yml" must not pick the tests up.
        unit_dir = work_dir / "unit"
        shutil.rmtree(unit_dir, ignore_errors=True)
        unit_dir.mkdir()
        shutil.copy(rules_file, unit_dir / rules.RULES_FILE)
        for test in tests:
            shutil.copy(test, unit_dir / test.name)
        ok_tests, output = run(["test", "rules", *(test.name for test in tests)], unit_dir)
        if not ok_tests:
            findings.append(Finding(f"ConfigMap/{obs.RULES_MAP}", _tail(output, 80), "promtool-test-rules"))

    if dashboard_json is not None:
        dashboard_file = work_dir / "dashboards.rules.yml"
        dashboard_file.write_text(dashboard_rules(dashboard_json))
        ok, output = run(["check", "rules", dashboard_file.name], work_dir)
        if not ok:
            findings.append(Finding(f"ConfigMap/{obs.DASHBOARDS_MAP}", _tail(output), "dashboard-expressions"))

    if config_text is not None:
        targets = work_dir / "targets.json"
        targets.write_text("[]\n")
        config_file = work_dir / "prometheus.yml"
        # Relative to work_dir, promtool's working directory (and the config's, which Prometheus resolves by).
        config_file.write_text(file_sd_copy(config_text, Path(rules_dir.name), Path(targets.name)))
        ok, output = run(["check", "config", config_file.name], work_dir)
        if not ok:
            findings.append(Finding(f"ConfigMap/{obs.CONFIG_MAP}", _tail(output), "promtool-check-config"))
    return findings


def check(context: PlanContext) -> CheckResult:
    promtool = find_tool("promtool")
    if promtool is None:
        return missing_tool("promtool", INSTALL_HINT)
    found = {name: configmap_data(context.manifests, obs.NS_MONITORING, name)
             for name in (obs.RULES_MAP, obs.CONFIG_MAP, obs.DASHBOARDS_MAP)}
    missing = [name for name, data in found.items() if data is None]
    if missing:
        return CheckResult("fail", f"ConfigMaps not rendered: {', '.join(missing)}",
                           [Finding(f"ConfigMap/{obs.NS_MONITORING}/{name}", "not in the plan", "promtool-inputs")
                            for name in missing])
    # Every input the summary vouches for must be there: a missing one fails, never passes unseen.
    required = {(obs.RULES_MAP, rules.RULES_FILE), (obs.CONFIG_MAP, "prometheus.yml"),
                (obs.DASHBOARDS_MAP, dashboards.DASHBOARD_FILE)}
    texts: dict[tuple[str, str], str] = {key: (found[key[0]] or {}).get(key[1]) or "" for key in required}
    absent = sorted(key for key, text in texts.items() if not text)
    if absent:
        return CheckResult("fail", "inputs missing: " + ", ".join(f"{name} {key}" for name, key in absent),
                           [Finding(f"ConfigMap/{obs.NS_MONITORING}/{name}", f"key {key} is missing or empty",
                                    "promtool-inputs") for name, key in absent])
    work_dir = context.work_dir / "promtool"
    work_dir.mkdir(parents=True, exist_ok=True)
    runs = Runs(promtool, CACHE_DIR)
    findings = check_rendered(promtool, work_dir, texts[(obs.RULES_MAP, rules.RULES_FILE)],
                              texts[(obs.CONFIG_MAP, "prometheus.yml")],
                              texts[(obs.DASHBOARDS_MAP, dashboards.DASHBOARD_FILE)], runs=runs)
    # The console line says what came from the cache; the summary (in plan.json) stays the same either way.
    where = CACHE_DIR.relative_to(PROJECT_DIR) if CACHE_DIR.is_relative_to(PROJECT_DIR) else CACHE_DIR
    note = f"{runs.cached} of {runs.cached + runs.started} promtool runs from the cache of passes ({where})" \
        if runs.cached else ""
    if findings:
        return CheckResult("fail", f"{len(findings)} problem(s) in rules, unit tests, dashboards or config", findings,
                           note=note)
    tests = len(list(UNIT_TESTS_DIR.glob("*.test.yml")))
    return CheckResult("pass", f"rules parse, {tests} unit test file(s) pass, dashboard expressions parse, "
                               "prometheus.yml valid (kubernetes_sd swapped for file_sd)", note=note)
