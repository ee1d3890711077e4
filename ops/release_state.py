"""The release state machine of `ops promote`: release state + an event -> the next state and action.

Pure: no clock, no network, no Pulumi. Time arrives inside events (`now`, epoch seconds), gate results
arrive as a GateReport, and the caller (ops/promote.py) performs the returned action and feeds back
what happened. That makes every path of a release a table test (tests/ops/test_release_state.py).

The stack is the only state that matters: active colour, canary weight, the colours' replicas (0 =
retired) and the verdict history are stack config, deployed with each `up`, the history exported as the
`releaseHistory` output. Where a release stands (its phase) is derived from them, so a promote that was
interrupted resumes from the stack alone. The phase comes from the last real decision: a `reconcile`
(re-applying config whose `up` was interrupted) records no verdict, and a reconcile entry in the history is
skipped, as is a `revive` (a retired colour given its pods back before a rollback moves traffic). The in-memory
fields (soak start, extensions) only pace the current soak.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Literal, Optional, Union

from components.config import Color, GateVerdict, Verdict
from ops.exit_codes import EXIT_OK, EXIT_REFUSED, EXIT_ROLLBACK_FAILED, EXIT_ROLLED_BACK

Phase = Literal["idle", "canary", "stabilizing"]
ReportVerdict = Literal["pass", "fail", "insufficient"]
UpKind = Literal["start", "advance", "flip", "done", "rollback", "reconcile", "revive"]

# How a rollback after a failed start `up` is worded: no gate ever judged the candidate then (the start
# `up` that would have given it traffic failed, e.g. the program refused the config), so it blocks no image.
START_UP_FAILED = "start up failed: "


def other(color: Color) -> Color:
    return "green" if color == "blue" else "blue"


def iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(time_text: str) -> float:
    return dt.datetime.fromisoformat(time_text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class GateReport:
    """One evaluation of every gate. `verdict` is the whole: fail > insufficient > pass."""

    gates: tuple[GateVerdict, ...]
    verdict: ReportVerdict

    @property
    def failed(self) -> list[GateVerdict]:
        return [gate for gate in self.gates if gate.status == "fail"]

    @property
    def missing(self) -> list[GateVerdict]:
        """What keeps the report from passing without failing it: no data, or a step held by firing alerts."""
        return [gate for gate in self.gates if gate.status in ("nodata", "hold")]

    @property
    def held(self) -> bool:
        return any(gate.status == "hold" for gate in self.gates)


@dataclass(frozen=True)
class SoakTiming:
    """How long each step soaks and the stabilization lasts, from release config (durations in seconds)."""

    soak: float
    stabilization: float
    interval: float
    max_extensions: int
    retire: bool = False  # release.retire afterStabilization: the final up scales the previous colour to 0


@dataclass(frozen=True)
class ReleaseState:
    active_color: Color
    weight: int
    steps: tuple[int, ...]
    history: tuple[Verdict, ...] = ()
    images: tuple[tuple[str, str], ...] = ()  # (colour, image) pairs from config
    in_sync: bool = True  # activeColor, canaryWeight and history equal what the last successful `up` deployed
    deployed_images: tuple[tuple[str, str], ...] = ()  # (colour, image) at the last `up`; () when unknown
    replicas: tuple[tuple[str, int], ...] = ()  # (colour, replicas) from config; 0 = retired
    # Pacing of the current soak (not persisted: a resumed soak starts afresh).
    soak_started: Optional[float] = None
    extensions: int = 0

    @property
    def last_decision(self) -> Optional[Verdict]:
        """The newest verdict that decided where traffic goes: a reconcile only re-applies the one before it, and
        a revive only gives a retired colour its pods back before a rollback moves traffic to it."""
        return next((verdict for verdict in reversed(self.history)
                     if verdict.decision not in ("reconcile", "revive")), None)

    @property
    def in_progress(self) -> bool:
        """A release promote started and has not ended: only then do the verdicts own the images. After a done
        or a rollback (or with no history) a canary weight was set by hand, and config names the images."""
        last = self.last_decision
        return last is not None and last.decision in ("start", "advance", "flip")

    @property
    def phase(self) -> Phase:
        if self.weight > 0:
            return "canary"
        last = self.last_decision
        if last is not None and last.decision == "flip":
            return "stabilizing"
        return "idle"

    @property
    def candidate_color(self) -> Color:
        """The colour under test: the canary colour, or after the flip the newly active one."""
        return self.active_color if self.phase == "stabilizing" else other(self.active_color)

    @property
    def stable_color(self) -> Color:
        """The colour the release started from: where a rollback sends all traffic."""
        return other(self.active_color) if self.phase == "stabilizing" else self.active_color

    def image(self, color: Color) -> str:
        return dict(self.images).get(color, "")

    def replica_count(self, color: Color) -> int:
        return dict(self.replicas).get(color, 1)  # not given: running, never retired

    def with_replicas(self, changes: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
        return tuple(sorted({**dict(self.replicas), **dict(changes)}.items()))


@dataclass(frozen=True)
class Target:
    active_color: Color
    weight: int


@dataclass(frozen=True)
class Up:
    """Set release.activeColor / canaryWeight / history to these values and run one `pulumi up`."""

    kind: UpKind
    target: Target
    verdict: Verdict  # why: the history's new last entry (a reconcile's verdict is only printed, never written)
    history: tuple[Verdict, ...]  # the complete history to write
    replicas: tuple[tuple[str, int], ...] = ()  # release.<colour>.replicas to write with it (retire, revive)


@dataclass(frozen=True)
class Observe:
    """Wait `after` seconds, then evaluate the gates for `color` (against `baseline`, if any) over the traffic
    since `since` (epoch seconds: when the current step reached traffic; None when unknown)."""

    after: float
    color: Color
    baseline: Optional[Color]
    reason: str
    since: Optional[float] = None


@dataclass(frozen=True)
class Smoke:
    """Smoke-check /health and /ready on the newly active colour."""


@dataclass(frozen=True)
class Finish:
    exit_code: int
    message: str
    gates: tuple[GateVerdict, ...] = ()


Action = Union[Up, Observe, Smoke, Finish]


@dataclass(frozen=True)
class Started:
    now: float


@dataclass(frozen=True)
class UpDone:
    action: Up
    ok: bool
    now: float
    error: str = ""
    locked: bool = False  # not run: another update held the stack's lock


@dataclass(frozen=True)
class GatesObserved:
    report: GateReport
    now: float


@dataclass(frozen=True)
class SmokeDone:
    ok: bool
    checks: tuple[GateVerdict, ...]
    now: float


Event = Union[Started, UpDone, GatesObserved, SmokeDone]


@dataclass(frozen=True)
class _Decision:
    kind: UpKind
    target: Target
    reason: str
    gates: tuple[GateVerdict, ...] = field(default_factory=tuple)


def _release_images(state: ReleaseState) -> tuple[str, str]:
    """(candidate, stable) image of the release: as recorded once it started, else as config has them."""
    last = state.last_decision
    if state.in_progress and state.phase != "idle" and last is not None and last.image:
        return last.image, last.stableImage
    return state.image(state.candidate_color), state.image(state.stable_color)


def _up(state: ReleaseState, decision: _Decision, now: float, replicas: tuple[tuple[str, int], ...] = (),
        recorded_replicas: Optional[int] = None) -> Up:
    image, stable_image = _release_images(state)
    verdict = Verdict(
        time=iso(now),
        activeColor=state.active_color,
        weight=state.weight,
        decision=decision.kind,
        image=image,
        stableImage=stable_image,
        targetColor=decision.target.active_color,
        targetWeight=decision.target.weight,
        reason=decision.reason,
        extensions=state.extensions,
        gates=list(decision.gates),
        replicas=recorded_replicas,
    )
    # A new release starts a new history; the previous release's verdicts stay in the stack's
    # update history (each `up` exported them as releaseHistory). A reconcile re-applies the last
    # decision as written: recording it would hide that decision from the phase.
    if decision.kind == "reconcile":
        history = state.history
    elif decision.kind == "start":
        history = (verdict,)
    else:
        history = (*state.history, verdict)
    return Up(decision.kind, decision.target, verdict, history, replicas)


def _rollback(state: ReleaseState, reason: str, now: float, gates: tuple[GateVerdict, ...] = ()) -> Up:
    return _up(state, _Decision("rollback", Target(state.stable_color, 0), reason, gates), now)


def _observe(state: ReleaseState, timing: SoakTiming, reason: str) -> Observe:
    baseline: Optional[Color] = state.stable_color if state.phase == "canary" else None
    return Observe(timing.interval, state.candidate_color, baseline, reason, state.soak_started)


def _describe(gates: list[GateVerdict]) -> str:
    parts = []
    for gate in gates:
        value = "no data" if gate.value is None else f"{gate.value:g}"
        details = [f"threshold {gate.threshold:g}"] if gate.threshold is not None else []
        if gate.status == "hold" and gate.reason:
            details.append(gate.reason)
        parts.append(f"{gate.gate} {value}" + (f" ({'; '.join(details)})" if details else ""))
    return ", ".join(parts)


def _image_conflict(state: ReleaseState) -> Optional[str]:
    """A release in progress goes on only with the images it started with: a changed candidate image would
    resume at a later step untested, a changed stable image would reach all traffic on the next `up`."""
    last = state.last_decision
    if state.phase == "idle" or last is None or not state.in_progress:
        return None
    start = next((v for v in state.history if v.decision == "start"), last)
    for color, known, role in ((state.candidate_color, last.image, "releasing"),
                               (state.stable_color, last.stableImage, "keeping as stable")):
        if known and state.image(color) != known:
            return (f"release.{color}.image is {state.image(color)}, but the release in progress (started "
                    f"{start.time}) is {role} {known}: set release.{color}.image back to {known} to resume, or "
                    f"end the release with `python -m ops rollback` and promote the new image after it")
    return None


def _active_image_changed(state: ReleaseState) -> Optional[str]:
    """The colour serving traffic changes image only through a release (a start `up` would roll it in place)."""
    deployed = dict(state.deployed_images).get(state.active_color)
    configured = state.image(state.active_color)
    if not deployed or configured == deployed:
        return None
    return (f"release.{state.active_color}.image is {configured} but the active colour {state.active_color} runs "
            f"{deployed}: the active colour changes image only through a release; set "
            f"release.{state.active_color}.image back to {deployed}, or put the new image on "
            f"release.{other(state.active_color)}.image and promote it")


def reconcile(state: ReleaseState, now: float) -> Up:
    """Re-apply the config as it stands: its last decision was written but its `up` never finished."""
    return _up(state, _Decision("reconcile", Target(state.active_color, state.weight),
                                "config differs from the deployed stack: re-applying it before resuming"), now)


def _start(state: ReleaseState, timing: SoakTiming, now: float) -> tuple[ReleaseState, Action]:
    conflict = _image_conflict(state) or _active_image_changed(state)
    if conflict:
        return state, Finish(EXIT_REFUSED, conflict)
    if not state.in_sync:
        # Interrupted between writing config and finishing its `up`: apply the config as it stands first.
        return state, reconcile(state, now)
    if state.phase == "canary" and state.in_progress:
        resumed = replace(state, soak_started=now, extensions=0)
        return resumed, _observe(resumed, timing, f"resuming the soak at {state.weight}%")
    last = state.last_decision
    if state.phase == "stabilizing" and last is not None:
        flipped_at = epoch(last.time)
        return replace(state, soak_started=flipped_at, extensions=0), Smoke()
    candidate = state.image(state.candidate_color)
    if candidate and candidate == state.image(state.active_color):
        return state, Finish(EXIT_REFUSED, f"nothing to promote: release.{state.candidate_color}.image is {candidate}, "
                                           f"the image {state.active_color} (active) already runs; set "
                                           f"release.{state.candidate_color}.image to the new image first")
    if last is not None and candidate and (
        (last.decision == "done" and candidate == last.stableImage)
        or (last.decision == "rollback" and candidate == last.image and judged(last))
    ):
        what = "was just replaced" if last.decision == "done" else "was rolled back"
        return state, Finish(EXIT_REFUSED, f"nothing to promote: release.{state.candidate_color}.image "
                                           f"{candidate} {what}; set a new image first")
    revive, count = _revival(state, state.candidate_color)
    if count is None:
        return state, Finish(EXIT_REFUSED, f"release.{state.candidate_color}.replicas is 0, so the canary would have "
                                           f"no pod, and no verdict says how many it had: set it first (`pulumi "
                                           f"config set --path release.{state.candidate_color}.replicas 3`)")
    if state.phase == "canary":
        # A canary weight set by hand after the last release ended: adopted as a new release from where it
        # stands (the start `up` changes no traffic; it records the images the release goes on with).
        decision = _Decision("start", Target(state.active_color, state.weight),
                             f"adopting the manual canary {state.candidate_color} {candidate} at {state.weight}%")
        return state, _up(state, decision, now, revive, count if revive else None)
    revived = f" (revived with {count} replicas)" if revive else ""
    decision = _Decision("start", Target(state.active_color, state.steps[0]),
                         f"canary {state.candidate_color} {candidate} at {state.steps[0]}%{revived}")
    return state, _up(state, decision, now, revive, count if revive else None)


def judged(rollback: Verdict) -> bool:
    """Whether a rollback verdict says something about its image: gates, the operator or a later step did; a
    start `up` that failed (our own refusal of the config, a broken stack) never put the image before a gate."""
    return not rollback.reason.startswith(START_UP_FAILED)


def _revival(state: ReleaseState, color: Color) -> tuple[tuple[tuple[str, int], ...], Optional[int]]:
    """What gives a retired `color` its pods back: ((colour, replicas),) and the count; () when it is not retired;
    count None when it is retired and no verdict recorded how many it had."""
    current = state.replica_count(color)
    if current > 0:
        return (), current
    last = state.last_decision
    known = last.replicas if last is not None and last.decision == "done" else None
    return (((color, known),), known) if known else ((), None)


def _up_done(state: ReleaseState, timing: SoakTiming, event: UpDone) -> tuple[ReleaseState, Action]:
    action = event.action
    if not event.ok:
        if event.locked and action.kind != "rollback":
            # Another update runs (or a killed one left its lock): this one changed nothing, so there is
            # nothing to roll back, and a second `up` must not start beside the first.
            return state, Finish(EXIT_REFUSED, f"{action.kind} up not run, nothing changed: {event.error}")
        if action.kind == "rollback":
            return state, Finish(EXIT_ROLLBACK_FAILED,
                                 f"ROLLBACK FAILED ({event.error}); traffic state needs manual action: run "
                                 f"`python -m ops rollback` or `pulumi up` with release.activeColor="
                                 f"{action.target.active_color}, release.canaryWeight=0",
                                 tuple(action.verdict.gates))
        if action.kind == "done":
            return state, Finish(EXIT_ROLLED_BACK, f"the release is live but recording its final verdict failed "
                                                   f"({event.error}); re-run promote to record it")
        failed = START_UP_FAILED if action.kind == "start" else f"{action.kind} up failed: "
        return state, _rollback(state, failed + event.error, event.now)

    moved = replace(state, active_color=action.target.active_color, weight=action.target.weight,
                    history=action.history, in_sync=True, soak_started=event.now, extensions=0,
                    replicas=state.with_replicas(action.replicas))
    if action.kind == "rollback":
        return moved, Finish(EXIT_ROLLED_BACK, f"rolled back to {moved.active_color} at weight 0: "
                                               f"{action.verdict.reason}", tuple(action.verdict.gates))
    if action.kind == "done":
        retired = f"; {other(moved.active_color)} retired (scaled to 0)" if action.replicas else ""
        return moved, Finish(EXIT_OK, f"release complete: {moved.active_color} "
                                      f"{moved.image(moved.active_color)} is active and stable{retired}")
    if action.kind == "flip":
        return moved, Smoke()
    if action.kind == "reconcile":
        # The interrupted decision is now deployed: a finished release or a rollback is over; anything
        # else resumes where it stood (a canary soak, or the stabilization after a flip).
        last = moved.last_decision
        if last is not None and last.decision == "done":
            return moved, Finish(EXIT_OK, f"release complete: the interrupted final record is now deployed; "
                                          f"{moved.active_color} {moved.image(moved.active_color)} is active")
        if last is not None and last.decision == "rollback":
            return moved, Finish(EXIT_ROLLED_BACK, f"the interrupted rollback is now deployed: {moved.active_color} "
                                                   f"serves all traffic ({last.reason})", tuple(last.gates))
        if last is not None and last.decision == "flip":
            # The flip reached traffic only now: the stabilization window starts now, not when it was decided.
            return replace(moved, soak_started=event.now), Smoke()
        return _start(moved, timing, event.now)
    return moved, _observe(moved, timing, f"soaking at {moved.weight}%")


def watch_window(state: ReleaseState, timing: SoakTiming, now: float) -> tuple[float, float]:
    """(seconds watched, seconds the current soak or stabilization lasts with its extensions): the heartbeat."""
    window = timing.stabilization if state.phase == "stabilizing" else timing.soak
    started = state.soak_started if state.soak_started is not None else now
    return max(0.0, now - started), window + state.extensions * timing.soak


def _gates_observed(state: ReleaseState, timing: SoakTiming, event: GatesObserved) -> tuple[ReleaseState, Action]:
    report, now = event.report, event.now
    if report.verdict == "fail":
        # Fail fast: a breach with enough traffic is not waited out.
        return state, _rollback(state, f"gate breached at {state.weight}%: {_describe(report.failed)}", now,
                                report.gates)
    window = timing.stabilization if state.phase == "stabilizing" else timing.soak
    started = state.soak_started if state.soak_started is not None else now
    # Each extension waits another soak period for traffic to arrive.
    if now - started < window + state.extensions * timing.soak:
        return state, _observe(state, timing, "watching")
    if report.verdict == "insufficient":
        # A step is never passed on missing data, nor while the error budget burns (page alerts firing).
        why = "held by firing page alerts" if report.held else "not enough data"
        if state.extensions < timing.max_extensions:
            extended = replace(state, extensions=state.extensions + 1)
            return extended, _observe(extended, timing, f"{why} ({_describe(report.missing)}): "
                                                        f"extension {extended.extensions}/{timing.max_extensions}")
        return state, _rollback(state, f"fail closed: {why} after {state.extensions} extensions "
                                       f"({_describe(report.missing)})", now, report.gates)
    if state.phase == "stabilizing":
        return state, _done(state, timing, report, now)
    later = [step for step in state.steps if step > state.weight]
    if later:
        return state, _up(state, _Decision("advance", Target(state.active_color, later[0]),
                                           f"gates passed at {state.weight}%", report.gates), now)
    return state, _up(state, _Decision("flip", Target(other(state.active_color), 0),
                                       f"gates passed at {state.weight}%: {other(state.active_color)} becomes active",
                                       report.gates), now)


def _done(state: ReleaseState, timing: SoakTiming, report: GateReport, now: float) -> Up:
    """The final up of a release; with release.retire afterStabilization it also scales the previous colour to 0
    (its HPA and PDB go with it, components/api.py) and records how many replicas it had."""
    reason = f"stable for {timing.stabilization:g}s after the flip"
    previous = other(state.active_color)
    count = state.replica_count(previous)
    if not timing.retire or count == 0:
        return _up(state, _Decision("done", Target(state.active_color, 0), reason, report.gates), now)
    return _up(state, _Decision("done", Target(state.active_color, 0),
                                f"{reason}; {previous} retired (scaled to 0 from {count} replicas)", report.gates),
               now, ((previous, 0),), count)


def _smoke_done(state: ReleaseState, timing: SoakTiming, event: SmokeDone) -> tuple[ReleaseState, Action]:
    if not event.ok:
        failed = [check for check in event.checks if check.status != "pass"]
        return state, _rollback(state, "smoke check failed after the flip: " + ", ".join(
            f"{check.query} {check.status}" for check in failed), event.now, event.checks)
    return state, _observe(state, timing, "stabilizing after the flip")


def step(state: ReleaseState, timing: SoakTiming, event: Event) -> tuple[ReleaseState, Action]:
    """The whole release logic: where we are + what just happened -> where we are + what to do next."""
    if isinstance(event, Started):
        return _start(state, timing, event.now)
    if isinstance(event, UpDone):
        return _up_done(state, timing, event)
    if isinstance(event, GatesObserved):
        return _gates_observed(state, timing, event)
    return _smoke_done(state, timing, event)


def give_up(state: ReleaseState, now: float, reason: str) -> Optional[Up]:
    """The loop ran out of actions (a bug, never a verdict): take traffic off the candidate as a failed gate
    would. None when no traffic is on it."""
    return _rollback(state, reason, now) if state.phase in ("canary", "stabilizing") else None


def action_budget(timing: SoakTiming, steps: int) -> int:
    """Twice the actions of the slowest healthy release with these timings (every soak and the stabilization
    extended to the limit, one evaluation per interval), plus slack: reaching it means the loop is stuck."""
    per_step = math.ceil(timing.soak * (1 + timing.max_extensions) / timing.interval) + 2
    stabilization = math.ceil((timing.stabilization + timing.max_extensions * timing.soak) / timing.interval) + 4
    return 2 * (steps * per_step + stabilization) + 100


def manual_rollback(state: ReleaseState, now: float, reason: str) -> Union[Up, Finish, None]:
    """`ops rollback`: during a canary weight 0; after a flip (stabilizing or done) the previous colour, revived
    first by a `revive` up when the release retired it (call again once that up is deployed).

    None when there is nothing to undo (no canary traffic and no completed flip to revert); a Finish
    (exit 2, nothing changed) when the colour that would take all traffic no longer holds the image it
    ran before the release: the `up` would put an untested image in front of every user."""
    last = state.last_decision
    if state.phase in ("canary", "stabilizing"):
        # A manual canary (no release in progress) keeps the stable colour's image as config has it.
        known = last.stableImage if last is not None and state.in_progress else ""
        target, what = state.stable_color, "the release in progress replaces"
    elif last is not None and last.decision == "done":
        target, known, what = other(state.active_color), last.stableImage, "the release being undone replaced"
    else:
        return None
    if known and state.image(target) != known:
        return Finish(EXIT_REFUSED, f"release.{target}.image is {state.image(target)}, but {what} {known}: "
                                    f"{target} would not get its known-good image back. Set it with `pulumi config "
                                    f"set --path release.{target}.image {known}`, then roll back")
    if state.phase != "idle" or last is None:
        return _rollback(state, reason, now)
    # A finished release is undone by flipping back: the previous colour still holds its image. The
    # verdict names the released image as the one rolled back, so promote will not re-release it.
    revive, count = _revival(state, target)
    if count is None:
        return Finish(EXIT_REFUSED, f"release.{target}.replicas is 0 and no verdict says how many it had: set it "
                                    f"(`pulumi config set --path release.{target}.replicas 3`), then roll back")
    if revive:
        # Retired: its pods come back in one `up` (which waits for them), and only then does traffic move.
        up = _up(state, _Decision("revive", Target(state.active_color, 0),
                                  f"reviving {target} with {count} replicas before traffic moves back to it"),
                 now, revive, count)
    else:
        up = _up(state, _Decision("rollback", Target(target, 0), reason), now)
    verdict = up.verdict.model_copy(update={"image": last.image or state.image(state.active_color),
                                            "stableImage": known or state.image(target)})
    return replace(up, verdict=verdict, history=(*up.history[:-1], verdict))
