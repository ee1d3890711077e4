"""`make bench`: it says what it is measuring while it runs (its output is a pipe under make: lines are flushed),
its floor is every SDK module the plan loads plus checkov's bare run, and each figure is a ratio to its floor."""

from __future__ import annotations

import subprocess
import sys

from ops import bench, bench_floor
from ops.checks import checkov
from tests.conftest import require_tool


def test_each_timed_run_prints_a_progress_line_first(capsys):
    seconds = bench.wall_time([sys.executable, "-c", "pass"], "an empty interpreter")
    assert seconds > 0
    assert capsys.readouterr().out.splitlines() == [
        "bench: an empty interpreter, run 1/3 …",
        "bench: an empty interpreter, run 2/3 …",
        "bench: an empty interpreter, run 3/3 …",
    ]


def test_the_floor_imports_every_sdk_module_the_plan_loads():
    modules = bench_floor.sdk_modules("dev")
    assert modules == sorted(set(modules))
    assert {"pulumi", "pulumi_kubernetes", "pulumi_kubernetes.apps.v1", "pulumi_kubernetes.core.v1",
            "pulumi_policy"} <= set(modules)
    assert {name.split(".")[0] for name in modules} <= set(bench_floor.SDK_PACKAGES)
    assert len(modules) > 4 * len(bench_floor.SDK_PACKAGES)  # submodules, not only the four packages
    imported = subprocess.run(bench_floor.import_command(modules), capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr


def test_the_checkov_floor_is_the_plans_own_command_line(tmp_path):
    found = require_tool("checkov", "T5; make setup installs it into .venv-checkov")
    assert bench_floor.bare_checkov_command(tmp_path) == checkov.checkov_command(found, tmp_path)


def test_a_figure_is_printed_beside_its_floor_as_a_ratio():
    assert bench.ratio_line("plan prod", 6.0, 4.0, "floor") == \
        "plan prod                             6.00 s   floor    4.00 s   ratio  1.50x"
