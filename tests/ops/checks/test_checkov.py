"""T5 (checkov): 0 failed checks on the rendered prod manifests; exceptions only as listed annotations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import checkov_exceptions
from ops.checks import checkov
from ops.checks.base import PlanContext
from ops.manifests import manifest_id, manifests
from ops.plan import write_manifests
from ops.runner import RunResult
from tests.conftest import FIXTURES, PROJECT_DIR, program, require_tool

BROKEN = FIXTURES / "security" / "checkov"
SECURITY_DOC = PROJECT_DIR / "docs" / "security.md"
SKIP_KEY = re.compile(r"^checkov\.io/skip[0-9]+$")


@pytest.fixture(scope="module")
def checkov_bin() -> str:
    require_tool("checkov", "make setup installs it into .venv-checkov")
    found = checkov.find_checkov()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def prod_manifest_dir(prod_run: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("prod") / "manifests"
    write_manifests(manifests(prod_run.resources), directory)
    return directory


@pytest.fixture(scope="module")
def prod_check(checkov_bin: str, prod_run: RunResult, prod_manifest_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The plan's check on prod, and the JSON report it judged (checkov runs once: it takes seconds)."""
    reports: list[dict[str, Any]] = []
    real = checkov.run_checkov

    def recording(binary: str, directory: Path) -> dict[str, Any]:
        reports.append(real(binary, directory))
        return reports[-1]

    context = PlanContext("prod", prod_run, prod_run.config.model(), manifests(prod_run.resources),
                          prod_manifest_dir, prod_manifest_dir.parent)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkov, "run_checkov", recording)
        result = checkov.check(context)
    assert len(reports) == 1
    return result, reports[0]


def test_prod_manifests_have_zero_failed_checks(prod_check, prod_run: RunResult) -> None:
    result, report = prod_check
    summary = report["summary"]
    assert summary["failed"] == 0, [(f["check_id"], f["resource"]) for f in report["failed"]]
    assert report["failed"] == []
    assert summary["parsing_errors"] == 0
    # checkov really looked at every object (an empty scan also has 0 failures); it counts each
    # workload's pod template as a resource of its own, hence >=.
    assert summary["resource_count"] >= len(manifests(prod_run.resources))
    assert summary["passed"] > 100
    assert summary["skipped"] > 0  # the annotated exceptions were honoured, not ignored
    assert result.status == "pass", [f.as_dict() for f in result.findings]
    assert result.summary.startswith("0 failed")


def test_insecure_fixture_fails(checkov_bin: str, tmp_path: Path) -> None:
    objects = [doc for doc in yaml.safe_load_all((BROKEN / "insecure-deployment.yaml").read_text()) if doc]
    context = PlanContext("fixture", None, None, objects, BROKEN, tmp_path)  # type: ignore[arg-type]
    result = checkov.check(context)
    assert result.status == "fail"
    failed = {finding.rule for finding in result.findings}
    # latest tag, no probes, no resources, no securityContext, root allowed, token mounted
    assert {"CKV_K8S_14", "CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_10", "CKV_K8S_13", "CKV_K8S_20", "CKV_K8S_22",
            "CKV_K8S_23", "CKV_K8S_28", "CKV_K8S_38"} <= failed
    # checkov reports the Deployment and, for container checks, its pod template.
    assert {finding.subject for finding in result.findings} == {"Deployment.doc-rag-prod.insecure",
                                                               "Pod.doc-rag-prod.insecure.app-insecure"}


def test_an_inline_annotation_is_the_only_way_to_skip(checkov_bin: str, tmp_path: Path) -> None:
    manifest = yaml.safe_load((BROKEN / "insecure-deployment.yaml").read_text())
    manifest["metadata"]["annotations"] = {"checkov.io/skip1": "CKV_K8S_14=fixture: proves the mechanism"}
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(manifest))
    report = checkov.run_checkov(checkov_bin, tmp_path)
    failed = {item["check_id"] for item in report["failed"]}
    assert "CKV_K8S_14" not in failed and "CKV_K8S_20" in failed
    assert report["summary"]["skipped"] == 1


def test_an_empty_scan_does_not_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prod_run: RunResult) -> None:
    monkeypatch.setattr(checkov, "find_checkov", lambda: "checkov")
    monkeypatch.setattr(checkov, "run_checkov", lambda binary, directory: checkov.parse_report(json.dumps(
        {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0})))
    context = PlanContext("prod", prod_run, prod_run.config.model(), manifests(prod_run.resources), tmp_path, tmp_path)
    result = checkov.check(context)
    assert result.status == "fail" and [f.rule for f in result.findings] == ["empty-scan"]


def skips_in(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for obj in objects:
        for key, value in ((obj.get("metadata") or {}).get("annotations") or {}).items():
            if SKIP_KEY.match(key):
                check_id, _, reason = value.partition("=")
                assert re.fullmatch(r"CKV2?_K8S_[0-9]+", check_id) and reason.strip(), value
                found.setdefault(manifest_id(obj), set()).add(check_id)
    return found


@pytest.fixture(scope="module")
def all_skips(prod_run: RunResult) -> dict[str, set[str]]:
    """Every exception on every object we can render: prod, and dev with the optional Jaeger on."""
    jaeger = program("dev", ["observability.jaeger=true"])
    skips = skips_in(manifests(prod_run.resources)) | skips_in(manifests(jaeger.resources))
    assert skips, "no exception found: the walk is broken"
    return skips


def unused_reasons(reasons: dict[str, str], skips: dict[str, set[str]]) -> set[str]:
    return set(reasons) - set().union(*skips.values())


def test_every_shared_reason_is_used_and_documented(all_skips: dict[str, set[str]]) -> None:
    assert unused_reasons(checkov_exceptions.REASONS, all_skips) == set()
    doc = SECURITY_DOC.read_text()
    assert [check_id for check_id in checkov_exceptions.REASONS if f"\n- {check_id} (" not in doc] == []


def test_a_stale_reason_is_caught(all_skips: dict[str, set[str]]) -> None:
    """The reasons removed in review: probes for the config reloader made them stale."""
    stale = {**checkov_exceptions.REASONS, "CKV_K8S_8": "a sidecar without a health endpoint"}
    assert unused_reasons(stale, all_skips) == {"CKV_K8S_8"}


def test_every_exception_is_listed_in_docs_security(all_skips: dict[str, set[str]]) -> None:
    skips = all_skips
    rows = [line for line in SECURITY_DOC.read_text().splitlines() if line.startswith("| `")]
    for subject, check_ids in sorted(skips.items()):
        row = next((line for line in rows if f"`{subject}`" in line), None)
        assert row is not None, f"docs/security.md lists no exception row for {subject}"
        assert set(re.findall(r"CKV2?_K8S_[0-9]+", row)) == check_ids, subject


def test_missing_checkov_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        prod_run: RunResult) -> None:
    monkeypatch.setattr(checkov, "find_checkov", lambda: None)
    context = PlanContext("prod", prod_run, prod_run.config.model(), [], tmp_path, tmp_path)
    monkeypatch.delenv("CI", raising=False)
    assert checkov.check(context).status == "skip"
    monkeypatch.setenv("CI", "true")
    assert checkov.check(context).status == "fail"


def test_report_parsing_handles_every_shape() -> None:
    failed = {"check_id": "CKV_K8S_20", "check_name": "x", "resource": "Pod.ns.p", "file_path": "/p.yaml"}
    one = {"check_type": "kubernetes", "results": {"failed_checks": [failed]},
           "summary": {"passed": 3, "failed": 1, "skipped": 0, "parsing_errors": 0, "resource_count": 1}}
    assert checkov.parse_report(json.dumps(one))["summary"]["failed"] == 1
    assert len(checkov.parse_report(json.dumps([one, one]))["failed"]) == 2
    bare = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    assert checkov.parse_report(json.dumps(bare))["failed"] == []
    with pytest.raises(checkov.CheckovError):
        checkov.parse_report("Traceback (most recent call last): ...")


def test_tool_lookup_prefers_the_project_venv() -> None:
    if not (checkov.CHECKOV_VENV_BIN / "checkov").exists():
        pytest.skip("no .venv-checkov here")
    assert checkov.find_checkov() == str(checkov.CHECKOV_VENV_BIN / "checkov")
