"""`make bench`: the plan's wall time beside the floor (importing the SDKs alone), measured in the same run;
the decision time from a breach to the rollback `up` (ops/bench_decision.py); and on a live local stack, the
time from a breach visible in Prometheus to the canary weight at 0 (ops/bench_live.py).

Speed is judged here, never by a timed assertion in a test. Each command runs in a fresh interpreter
REPEAT times; the median is reported so one slow run does not decide.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

from ops import bench_decision, bench_live
from ops.stackconfig import PROJECT_DIR

REPEAT = 3
FLOOR = [sys.executable, "-c", "import pulumi, pulumi_kubernetes, pulumi_aws, pulumi_policy"]


def progress(line: str) -> None:
    print(line, flush=True)  # make's output is a pipe: unflushed, progress would arrive only at the end


def wall_time(command: list[str], what: str) -> float:
    times = []
    for run in range(REPEAT):
        progress(f"bench: {what}, run {run + 1}/{REPEAT} …")
        started = time.perf_counter()
        result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if result.returncode not in (0,):
            raise SystemExit(f"bench: {' '.join(command)} exited {result.returncode}\n{result.stdout[-2000:]}")
    return statistics.median(times)


def main() -> int:
    floor = wall_time(FLOOR, "the floor (importing the SDKs)")
    progress(f"floor  (import pulumi, pulumi_kubernetes, pulumi_aws, pulumi_policy): {floor:6.2f} s")
    for stack in ("prod", "dev"):
        with tempfile.TemporaryDirectory() as out:
            plan = wall_time([sys.executable, "-m", "ops", "plan", "--stack", stack, "--out", out], f"plan {stack}")
        progress(f"plan   (python -m ops plan --stack {stack}, all checks):{' ' * (14 - len(stack))}{plan:6.2f} s"
              f"   ratio {plan / floor:5.1f}x floor")
    progress("bench: decision time (ops.bench_decision, 20 breaches on a fake clock) …")
    decision = int(bench_decision.main([]) or 0)
    live = bench_live.main()
    return decision or live


if __name__ == "__main__":
    sys.exit(main())
