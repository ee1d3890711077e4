"""Decision time from a breach to the rollback `up`: `python -m ops.bench_decision [--runs N]`.

The promote loop runs against an in-memory driver (prod's config, deployed) and a scripted gate source
that turns bad at a chosen moment of a soak. Two numbers per run:
  detection  simulated seconds from the breach starting to the rollback `up` being called; the gate
             interval bounds it (the breach is acted on at the first evaluation that sees it);
  decision   wall-clock time from that evaluation returning to the rollback `up` call (our own code).
Exit 1 if any detection exceeds one gate interval. `run_bench()` returns the numbers for `make bench`.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from rich.console import Console

from components.config import ConfigError, GatesConfig, GateVerdict, duration_seconds
from ops.cli_common import SimulatedClock
from ops.drift import StackView, release_outputs
from ops.driver import UpOutcome
from ops.exit_codes import EXIT_USAGE
from ops.live_drift import DriftedField
from ops.promote import run_release
from ops.release_state import GateReport, Observe, Up
from ops.stackconfig import UsageError, load_stack_config


@dataclass
class MemoryDriver:
    """The stack in memory: config as given, always deployed; records when each up is called.

    Not OfflineDriver: that one runs the whole program under the SDK monitor for every `up` (about a
    second each), which would bury the microseconds of decision time this bench measures. Here an `up`
    only moves the release keys and the outputs the program would export (ops.driver.release_outputs)."""

    view: StackView
    clock: Optional[SimulatedClock] = None
    calls: list[tuple[Up, float, float]] = field(default_factory=list)  # action, wall clock, simulated clock
    drifted: tuple[DriftedField, ...] = ()  # what the live cluster differs in (tests of the refusal)

    def read(self) -> StackView:
        return self.view

    def live_drift(self) -> list[DriftedField]:
        return list(self.drifted)

    def up(self, action: Up) -> UpOutcome:
        self.calls.append((action, time.perf_counter(), self.clock.now() if self.clock else 0.0))
        colors = {color: self.view.release.color(color).model_copy(update={"replicas": count})
                  for color, count in action.replicas}
        release = self.view.release.model_copy(update={
            "activeColor": action.target.active_color, "canaryWeight": action.target.weight,
            "history": list(action.history), **colors})
        config = self.view.config.model_copy(update={"release": release})
        self.view = StackView(config, {**self.view.outputs, **release_outputs(config)}, self.view.stack)
        return UpOutcome(True)


def deployed_view(stack: str = "prod") -> StackView:
    config = load_stack_config(stack).model()
    return StackView(config, release_outputs(config), stack)


@dataclass
class Breach:
    """Gates pass until simulated time `at`, then the canary's error ratio is 20 %."""

    clock: SimulatedClock
    at: float
    seen: Optional[float] = None  # wall clock when the breaching report was handed back

    def __call__(self, observe: Observe, thresholds: GatesConfig) -> GateReport:
        bad = self.clock.now() >= self.at
        gate = GateVerdict(gate="errorRatio", status="fail" if bad else "pass", query="bench", value=0.2 if bad else 0,
                           threshold=thresholds.maxErrorRatio, samples=1000.0)
        if bad and self.seen is None:
            self.seen = time.perf_counter()
        return GateReport((gate,), "fail" if bad else "pass")


def one_run(offset: float, stack: str = "prod") -> dict[str, float]:
    view = deployed_view(stack)
    clock = SimulatedClock()
    breach = Breach(clock, clock.now() + offset)
    driver = MemoryDriver(view, clock)
    result = run_release(driver, breach, lambda: (True, ()), clock, Console(file=io.StringIO()))
    rollback = [(wall, simulated) for up, wall, simulated in driver.calls if up.kind == "rollback"]
    if result.exit_code != 1 or len(rollback) != 1 or breach.seen is None:
        # e.g. a stack whose canary colour has no replicas: promote refuses it before any breach is seen
        raise UsageError(f"stack {stack}: the release does not reach a breach to measure "
                         f"(promote ends with exit {result.exit_code}: {result.message})")
    wall, simulated = rollback[0]
    return {"offset": offset, "detection_s": simulated - breach.at, "decision_ms": (wall - breach.seen) * 1000}


def run_bench(runs: int = 20, stack: str = "prod") -> dict[str, Any]:
    release = deployed_view(stack).release
    interval = duration_seconds(release.gates.interval)
    soak = duration_seconds(release.soak)
    # breaches spread over the first two steps' soaks, at and between evaluation ticks
    samples = [one_run(0.5 + (i * 17.3) % (2 * soak), stack) for i in range(runs)]
    detection = [s["detection_s"] for s in samples]
    decision = [s["decision_ms"] for s in samples]
    return {"runs": runs, "interval_s": interval, "detection_max_s": max(detection),
            "detection_mean_s": statistics.mean(detection), "decision_max_ms": max(decision),
            "decision_median_ms": statistics.median(decision), "within_one_interval": max(detection) <= interval}


def positive_runs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: a whole number of runs, at least 1")
    return value


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench_decision", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_runs, default=20, help="breaches to measure (default 20)")
    parser.add_argument("-s", "--stack", default="prod", help="stack whose release config is walked (default prod)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, as our contract wants
        return int(exit_.code or 0)
    try:
        numbers = run_bench(args.runs, args.stack)
    except (UsageError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"breach -> rollback up over {numbers['runs']} runs (gate interval {numbers['interval_s']:g}s): "
          f"detection max {numbers['detection_max_s']:.1f}s mean {numbers['detection_mean_s']:.1f}s; "
          f"decision median {numbers['decision_median_ms']:.3f}ms max {numbers['decision_max_ms']:.3f}ms; "
          f"{'within' if numbers['within_one_interval'] else 'EXCEEDS'} one gate interval", flush=True)
    return 0 if numbers["within_one_interval"] else 1


if __name__ == "__main__":
    sys.exit(main())
