"""`make bench` says what it is measuring while it runs (its output is a pipe under make: lines are flushed)."""

from __future__ import annotations

import sys

from ops import bench


def test_each_timed_run_prints_a_progress_line_first(capsys):
    seconds = bench.wall_time([sys.executable, "-c", "pass"], "an empty interpreter")
    assert seconds > 0
    assert capsys.readouterr().out.splitlines() == [
        "bench: an empty interpreter, run 1/3 …",
        "bench: an empty interpreter, run 2/3 …",
        "bench: an empty interpreter, run 3/3 …",
    ]
