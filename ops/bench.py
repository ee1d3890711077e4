"""`make bench`: each figure beside its floor or goal, as a ratio, in one run.

  plan (prod, dev)  `python -m ops plan` against the floor of ops/bench_floor.py (a fresh interpreter importing
                    every SDK module that plan loads + checkov's bare run on its manifests); goal: floor + 1.5 s
  unit suite        `pytest -n 2 -m "not e2e"` once, against the goal of 60 s
  e2e tier          `pytest -m e2e` once, against the goal of 10 minutes; only with --e2e (about a quarter hour)
  decision time     from a breach to the rollback `up` (ops/bench_decision.py), and on a live local stack the
                    time from a breach visible in Prometheus to the canary weight at 0 (ops/bench_live.py)

Speed is judged here, never by a timed assertion in a test. Each plan and floor command runs in a fresh
interpreter REPEAT times and the median is reported, so one slow run does not decide; the plan is run once
before it is timed (it writes the manifests checkov's floor scans, and T6's cache holds that input's passes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from ops import bench_decision, bench_floor, bench_live
from ops.stackconfig import PROJECT_DIR

REPEAT = 3
SUITE = [sys.executable, "-m", "pytest", "-n", "2", "-m", "not e2e", "-p", "no:cacheprovider", "-q"]
SUITE_GOAL_S = 60.0
E2E = [sys.executable, "-m", "pytest", "-m", "e2e", "-p", "no:cacheprovider", "-q"]
E2E_GOAL_S = 600.0


def progress(line: str) -> None:
    print(line, flush=True)  # make's output is a pipe: unflushed, progress would arrive only at the end


def wall_time(command: list[str], what: str, repeat: int = REPEAT, ok: tuple[int, ...] = (0,)) -> float:
    """Median wall time of `repeat` runs; a run exiting outside `ok` stops the bench."""
    times = []
    for run in range(repeat):
        progress(f"bench: {what}, run {run + 1}/{repeat} …")
        started = time.perf_counter()
        result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if result.returncode not in ok:
            raise SystemExit(f"bench: {' '.join(command)} exited {result.returncode}\n{result.stdout[-2000:]}")
    return statistics.median(times)


def ratio_line(what: str, seconds: float, floor: float, floor_name: str) -> str:
    return f"{what:<34} {seconds:7.2f} s   {floor_name} {floor:7.2f} s   ratio {seconds / floor:5.2f}x"


def bench_plan(stack: str, repeat: int) -> list[str]:
    with tempfile.TemporaryDirectory() as out:
        plan = [sys.executable, "-m", "ops", "plan", "--stack", stack, "--out", out]
        wall_time(plan, f"plan {stack} (first run: writes the manifests, fills T6's cache)", repeat=1)
        seconds = wall_time(plan, f"plan {stack}", repeat)
        modules = bench_floor.sdk_modules(stack)
        imports = wall_time(bench_floor.import_command(modules), f"importing the {len(modules)} SDK modules "
                            f"plan {stack} loads", repeat)
        checkov = wall_time(bench_floor.bare_checkov_command(Path(out) / "manifests"),
                            f"checkov bare on plan {stack}'s manifests", repeat, ok=(0, 1))
    floor = imports + checkov
    return [
        f"floor {stack}: {imports:.2f} s importing {len(modules)} SDK modules + {checkov:.2f} s checkov bare "
        f"= {floor:.2f} s",
        ratio_line(f"plan {stack}", seconds, floor, "floor") +
        f"   above floor {seconds - floor:+.2f} s (goal ≤ {bench_floor.GOAL_ABOVE_FLOOR_S} s)",
    ]


def bench_suite(command: list[str], what: str, goal: float) -> str:
    started = time.perf_counter()
    progress(f"bench: {what} …")
    result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    tail = (result.stdout.strip().splitlines() or [""])[-1]
    return ratio_line(what, seconds, goal, "goal ") + f"   exit {result.returncode}: {tail}"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--e2e", action="store_true", help="also time the real-engine tier (about 15 minutes)")
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"runs per plan and floor (default {REPEAT})")
    args = parser.parse_args(argv)
    lines: list[str] = []
    for stack in ("prod", "dev"):
        lines += bench_plan(stack, max(1, args.repeat))
        progress(lines[-1])
    lines.append(bench_suite(SUITE, "unit suite (-n 2, not e2e)", SUITE_GOAL_S))
    progress(lines[-1])
    if args.e2e:
        lines.append(bench_suite(E2E, "e2e tier (-m e2e)", E2E_GOAL_S))
    else:
        lines.append("e2e tier: not timed (make bench ARGS=--e2e, about 15 minutes)")
    progress(lines[-1])
    progress("bench: decision time (ops.bench_decision, 20 breaches on a fake clock) …")
    decision = int(bench_decision.main([]) or 0)
    live = bench_live.main()
    progress("bench summary (machine load makes these vary: compare ratios from one run)")
    for line in lines:
        progress(f"  {line}")
    return decision or live


if __name__ == "__main__":
    sys.exit(main())
