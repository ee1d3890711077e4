"""`make bench`'s live part: from a breach visible in Prometheus to the live canary weight back at 0.

In a throwaway copy of the project, with its own local cluster (ports from PORT_BASE, stopped at the end):
`ops local up`, `pulumi up`, the canary colour answering half its requests with 500, then `ops promote`.
  visible  the first moment the gates, asked as promote asks them (the step's own traffic), would fail;
  zero     the first moment the live canary Ingress carries weight 0 again.
Beside them: the gate interval and the rollback `up`'s own duration (the engine's `Duration:`). The goal is
zero - visible within one gate interval plus that `up`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

from components.config import duration_seconds
from components.meta import NS_PROD
from components.routers.nginx import CANARY_INGRESS, CANARY_WEIGHT
from ops.engine.build import bin_dir
from ops.gates import evaluate, step_window
from ops.local.scratch import copy_project
from ops.local.stack import parse_exports
from ops.prometheus import PrometheusClient
from ops.stackconfig import load_stack_config

PORT_BASE = 46379  # its own cluster: a developer's `make up` (16379) and the tests' (26379) may keep running
POLL = 0.1  # seconds between looks at the live weight and the gates


def rollback_duration(promote_log: str) -> Optional[float]:
    """The engine's own duration of the last `up` promote ran (its rollback), from the `Duration:` lines."""
    found = re.findall(r"^Duration: (?:(\d+)m)?(\d+(?:\.\d+)?)s$", promote_log, re.MULTILINE)
    if not found:
        return None
    minutes, seconds = found[-1]
    return int(minutes or 0) * 60 + float(seconds)


def _until(check: Callable[[], bool], what: str, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} not reached within {timeout:.0f}s")
        time.sleep(POLL)
    return time.time()


class Scratch:
    """Commands run in the copy with the environment `ops local env` prints there."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, "DOC_RAG_LOCAL_PORT_BASE": str(PORT_BASE)}
        self.env.pop("PULUMI_CONFIG_PASSPHRASE", None)  # the local stack reads its passphrase file only

    def run(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run(list(args), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise SystemExit(f"bench: `{' '.join(args)}` exited {done.returncode}\n{done.stdout[-3000:]}"
                             f"\n{done.stderr[-2000:]}")
        return done.stdout

    def ops(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "ops", *args)

    def load_env(self) -> None:
        self.env.update(parse_exports(self.ops("local", "env")))

    def canary_weight(self) -> str:
        # The NGINX router's canary Ingress and weight annotation (dots escaped for jsonpath).
        annotation = CANARY_WEIGHT.replace(".", r"\.")
        return self.run("kubectl", "get", "ingress", CANARY_INGRESS, "-n", NS_PROD, "-o",
                        f"jsonpath={{.metadata.annotations.{annotation}}}")


def measure(scratch: Scratch, echo: Callable[[str], None]) -> dict[str, Any]:
    gates = load_stack_config("local").model().release.gates
    echo("bench: pulumi up -s local (the release's starting point) …")
    scratch.run("pulumi", "up", "--stack", "local", "--yes", "--skip-preview", "--non-interactive")
    routing = json.loads(scratch.run("pulumi", "stack", "output", "traffic", "--json", "--stack", "local"))
    active, canary = routing["activeColor"], routing["canaryColor"]
    scratch.ops("local", "traffic", "--color", canary, "--error-share", "0.5")
    log = scratch.root / "build" / "bench-promote.log"
    echo(f"bench: promoting {canary} while it fails half its requests")
    with log.open("w") as out:
        promote = subprocess.Popen([sys.executable, "-m", "ops", "promote", "-s", "local"], cwd=scratch.root,
                                   env={**scratch.env, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT)
    try:
        echo("bench: waiting for the canary at 5 % …")
        step_started = _until(lambda: scratch.canary_weight() == "5", "the canary at 5 %")
        echo("bench: waiting for the breach to show in Prometheus …")
        with PrometheusClient(scratch.env["PROMETHEUS_URL"]) as client:
            visible = _until(lambda: evaluate(client, gates, canary, active,
                                              window=step_window(time.time() - step_started)).verdict == "fail",
                             "the breach visible in Prometheus")
        echo(f"bench: breach visible {visible - step_started:.1f}s into the step; waiting for the weight at 0 …")
        zero = _until(lambda: scratch.canary_weight() == "0", "the canary weight back at 0")
        exit_code = promote.wait(timeout=300)
    finally:
        if promote.poll() is None:
            promote.kill()
            promote.wait()
    printed = log.read_text()
    if exit_code != 1:
        raise SystemExit(f"bench: promote exited {exit_code}, not 1 (rolled back)\n{printed[-3000:]}")
    up = rollback_duration(printed)
    interval = duration_seconds(gates.interval)
    return {"visible_to_zero_s": zero - visible, "interval_s": interval, "rollback_up_s": up,
            "within_goal": up is not None and zero - visible <= interval + up}


def _progress(line: str) -> None:
    print(line, flush=True)  # make's output is a pipe: unflushed, progress would arrive only at the end


def run_live_bench(echo: Callable[[str], None] = _progress) -> dict[str, Any]:
    if not (bin_dir() / ".complete").exists():
        raise SystemExit(f"bench: the engine is not built at {bin_dir()}: run `make engine`")
    with tempfile.TemporaryDirectory(prefix="doc-rag-bench-") as workdir:
        scratch = Scratch(copy_project(Path(workdir) / "doc-rag"))
        echo(f"bench: a local cluster in {scratch.root} (ports from {PORT_BASE})")
        try:
            echo("bench: starting the local control plane (ops local up) …")
            scratch.ops("local", "up")
            scratch.load_env()
            return measure(scratch, echo)
        finally:
            scratch.ops("local", "down")


def report(numbers: dict[str, Any]) -> str:
    up = numbers["rollback_up_s"]
    goal = numbers["interval_s"] + (up or 0)
    return (f"live breach (local stack): visible in Prometheus -> canary weight 0 in "
            f"{numbers['visible_to_zero_s']:.1f}s; goal one gate interval ({numbers['interval_s']:g}s) + the "
            f"rollback up ({'unknown' if up is None else f'{up:g}s'}) = {goal:g}s: "
            f"{'within' if numbers['within_goal'] else 'EXCEEDS'}")


def main() -> int:
    numbers = run_live_bench()
    print(report(numbers))
    return 0 if numbers["within_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
