"""`make plan` as a newcomer runs it: exit codes, files written, clear errors without tracebacks."""

from __future__ import annotations

import json
import subprocess

import pytest

from ops.checks import ALL_CHECKS
from tests.conftest import PROJECT_DIR, run_plan


def make_plan(tmp_path, *args: str) -> subprocess.CompletedProcess:
    out = tmp_path / "out"
    return subprocess.run(
        ["make", "--no-print-directory", "plan", "STACK=dev", f"ARGS=--out {out} {' '.join(args)}"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600,
    )


def test_make_plan_exits_0_and_writes_manifests_and_plan_json(tmp_path):
    result = make_plan(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    document = json.loads((out / "plan.json").read_text())
    assert document["stack"] == "dev"
    assert {"type", "name", "parent", "inputs"} <= set(document["resources"][0])
    assert document["checks"]["kubernetes-schema"]["status"] == "pass"
    assert list((out / "manifests").glob("*.yaml"))
    assert "resources per component" in result.stdout


def test_invalid_weight_exits_2_names_key_and_writes_nothing(tmp_path):
    result = make_plan(tmp_path, "--set release.canaryWeight=33")
    assert result.returncode == 2
    assert "release.canaryWeight = 33" in result.stdout
    assert "allowed: 0 or one of release.steps [5, 25, 50, 100]" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2(tmp_path):
    assert make_plan(tmp_path, "--set", "nonsense").returncode == 2
    assert subprocess.run(["make", "plan", "STACK=nope"], cwd=PROJECT_DIR, capture_output=True).returncode == 2


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_both_stacks_plan_cleanly_with_every_check(plans, stack, preview):
    outcome, printed = plans.get(stack, preview=preview)
    statuses = {name: result.status for name, (_, result) in outcome.checks.items()}
    assert outcome.exit_code == 0, printed
    assert set(statuses) == {check.name for check in ALL_CHECKS}
    assert all(status == "pass" for status in statuses.values()), statuses


def test_an_unusable_out_directory_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = subprocess.run(["make", "--no-print-directory", "plan", "STACK=dev", f"ARGS=--out {blocker}/x"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert "cannot create the output directory" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def _tree(root):
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_an_invalid_config_leaves_the_previous_plan_untouched(tmp_path):
    first, _ = run_plan(tmp_path, "dev", checks=[])
    before = _tree(first.out_dir)
    assert "plan.json" in before and any(name.startswith("manifests/") for name in before)
    second, printed = run_plan(tmp_path, "dev", ("release.canaryWeight=33",), checks=[])
    assert second.exit_code == 2
    assert _tree(second.out_dir) == before
    assert "the previous plan in" in printed and "is left as it was" in printed


def test_a_plan_that_stops_half_way_leaves_the_previous_plan_untouched(tmp_path):
    first, _ = run_plan(tmp_path, "dev", checks=[])
    before = _tree(first.out_dir)

    class Crashing:  # stands in for any failure after the program ran, while the new plan is being written
        tier, name, mandatory = "T9", "crashing", True

        def run(self, context):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_plan(tmp_path, "dev", ("traffic.retries=5",), checks=[Crashing()])
    assert _tree(first.out_dir) == before


def test_a_new_plan_replaces_every_entry_of_the_previous_one(tmp_path):
    first, _ = run_plan(tmp_path, "dev", checks=[])
    (first.out_dir / "cost-diff.md").write_text("from an earlier --compare")
    (first.out_dir / "manifests" / "left-over.yaml").write_text("kind: Stale")
    (first.out_dir / "notes.txt").write_text("the operator's own file")
    second, _ = run_plan(tmp_path, "dev", ("traffic.retries=5",), checks=[])
    assert second.exit_code == 0
    assert not (second.out_dir / "cost-diff.md").exists()
    assert not (second.out_dir / "manifests" / "left-over.yaml").exists()
    assert (second.out_dir / "notes.txt").read_text() == "the operator's own file"
    assert [path.name for path in second.out_dir.iterdir() if path.name.startswith("staging-")] == []


def test_structured_values_given_as_json_are_read_as_the_program_reads_them(tmp_path):
    outcome, _ = run_plan(tmp_path, "dev", ('traffic={"retries": 5}',), checks=[])
    assert outcome.exit_code == 0
    assert outcome.run.config.model().traffic.retries == 5


def test_two_plans_of_the_same_config_are_byte_identical(tmp_path, plans):
    first, _ = plans.get("prod")  # every check: summaries must not carry timings either
    second, _ = run_plan(tmp_path / "b", "prod")
    assert (first.out_dir / "plan.json").read_text() == (second.out_dir / "plan.json").read_text()
