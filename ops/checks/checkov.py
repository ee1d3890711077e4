"""T5: checkov's Kubernetes checks on the rendered manifests; any failed check fails the plan.

checkov runs once per plan, offline (`--skip-download`: no Bridgecrew platform, no policy download). An
exception is never a flag here: it is an inline `checkov.io/skipN: CKV_K8S_xx=reason` annotation on the
object itself, so the reason travels with the manifest and docs/security.md lists every one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ops.checks.base import CheckResult, Finding, PlanContext, find_tool, missing_tool
from ops.stackconfig import PROJECT_DIR

CHECKOV_VENV_BIN = PROJECT_DIR / ".venv-checkov" / "bin"
INSTALL_HINT = "make setup installs it into .venv-checkov"
TIMEOUT_SECONDS = 600


class CheckovError(RuntimeError):
    """checkov ran but did not produce a report (crash, bad arguments, unparsable output)."""


def find_checkov() -> str | None:
    return find_tool("checkov", (CHECKOV_VENV_BIN,))


def checkov_command(checkov: str, manifest_dir: Path) -> list[str]:
    """The one checkov command line (`make bench` times the same one bare, as the plan's floor)."""
    return [checkov, "--skip-download", "--framework", "kubernetes", "-d", str(manifest_dir), "-o", "json", "--quiet"]


def run_checkov(checkov: str, manifest_dir: Path) -> dict[str, Any]:
    """checkov's JSON report for one directory, reduced to {"summary": ..., "failed": [...]}."""
    command = checkov_command(checkov, manifest_dir)
    # Exit code 1 means "failed checks found", which the report says too; only the report is trusted.
    process = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    if process.returncode not in (0, 1):
        raise CheckovError(f"checkov exited {process.returncode}: {process.stderr.strip()[-2000:]}")
    return parse_report(process.stdout)


def parse_report(stdout: str) -> dict[str, Any]:
    """checkov prints one report object, a list of them (one per framework), or a bare summary when it
    found nothing to scan."""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise CheckovError(f"checkov output is not JSON ({error}): {stdout[:500]!r}") from None
    reports = data if isinstance(data, list) else [data]
    failed: list[dict[str, Any]] = []
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    for report in reports:
        report_summary = report.get("summary", report)
        for key in summary:
            summary[key] += int(report_summary.get(key, 0) or 0)
        failed.extend((report.get("results") or {}).get("failed_checks") or [])
    return {"summary": summary, "failed": failed}


def findings_from(report: dict[str, Any]) -> list[Finding]:
    findings = []
    for item in report["failed"]:
        subject = item.get("resource") or item.get("file_path", "?")
        where = item.get("file_path", "")
        findings.append(Finding(subject, f"{item.get('check_name', '')} ({where})", rule=item.get("check_id", "")))
    if report["summary"]["parsing_errors"]:
        findings.append(Finding("checkov", f"{report['summary']['parsing_errors']} manifest(s) could not be parsed",
                                rule="parsing-errors"))
    return findings


def check(context: PlanContext) -> CheckResult:
    checkov = find_checkov()
    if checkov is None:
        return missing_tool("checkov", INSTALL_HINT)
    try:
        report = run_checkov(checkov, context.manifest_dir)
    except (CheckovError, subprocess.TimeoutExpired) as error:
        return CheckResult("fail", f"checkov did not produce a report: {error}")
    findings = findings_from(report)
    summary = report["summary"]
    if context.manifests and not summary["resource_count"]:  # a scan of nothing must not pass
        findings.append(Finding("checkov", f"scanned no objects in {context.manifest_dir}", rule="empty-scan"))
    text = (f"{summary['failed']} failed, {summary['passed']} passed, {summary['skipped']} skipped by annotation "
            f"on {summary['resource_count']} objects")  # no timing: the plan prints it, plan.json stays diffable
    return CheckResult("fail" if findings else "pass", text, findings)
