"""Table tests of the pure release state machine (ops/release_state.py): every path of a release."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import pytest

from components.config import GateVerdict
from ops.release_state import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_ROLLBACK_FAILED,
    EXIT_ROLLED_BACK,
    Action,
    Finish,
    GateReport,
    GatesObserved,
    Observe,
    ReleaseState,
    Smoke,
    SmokeDone,
    SoakTiming,
    Started,
    Target,
    Up,
    UpDone,
    step,
)

TIMING = SoakTiming(soak=300, stabilization=900, interval=30, max_extensions=3)
STEPS = (5, 25, 50, 100)
IMAGES = (("blue", "doc-rag/api:v1.0.0"), ("green", "doc-rag/api:v1.1.0"))
T0 = 1_700_000_000.0


def report(verdict: str, gate: str = "errorRatio", value: Optional[float] = 0.001) -> GateReport:
    status = {"pass": "pass", "fail": "fail", "insufficient": "nodata"}[verdict]
    return GateReport((GateVerdict(gate=gate, status=status, query=f"q_{gate}", value=value, threshold=0.01,
                                   samples=500.0),), verdict)  # type: ignore[arg-type]


@dataclass
class Where:
    """What the scripted world sees when gates are evaluated."""

    state: ReleaseState
    observe: Observe
    now: float


@dataclass
class Run:
    actions: list[Action] = field(default_factory=list)
    state: Optional[ReleaseState] = None

    @property
    def ups(self) -> list[Up]:
        return [a for a in self.actions if isinstance(a, Up)]

    @property
    def kinds(self) -> list[str]:
        return [u.kind for u in self.ups]

    @property
    def finish(self) -> Finish:
        last = self.actions[-1]
        assert isinstance(last, Finish)
        return last

    @property
    def observations(self) -> list[Observe]:
        return [a for a in self.actions if isinstance(a, Observe)]


def simulate(state: ReleaseState, gates: Callable[[Where], GateReport] = lambda w: report("pass"),
             up_fails: Callable[[Up], bool] = lambda up: False, smoke_ok: bool = True, start: float = T0,
             timing: SoakTiming = TIMING) -> Run:
    now, run = start, Run()
    state, action = step(state, timing, Started(now))
    for _ in range(10_000):
        run.actions.append(action)
        if isinstance(action, Finish):
            run.state = state
            return run
        if isinstance(action, Up):
            state, action = step(state, timing, UpDone(action, not up_fails(action), now, "boom"))
        elif isinstance(action, Observe):
            now += action.after
            state, action = step(state, timing, GatesObserved(gates(Where(state, action, now)), now))
        elif isinstance(action, Smoke):
            check = GateVerdict(gate="smoke", status="pass" if smoke_ok else "fail", query="https://x/ready")
            state, action = step(state, timing, SmokeDone(smoke_ok, (check,), now))
    raise AssertionError("state machine did not finish")


def fresh(**kw) -> ReleaseState:
    return ReleaseState(active_color="blue", weight=0, steps=STEPS, images=IMAGES, **kw)


def test_success_to_the_end():
    run = simulate(fresh())
    assert run.kinds == ["start", "advance", "advance", "advance", "flip", "done"]
    assert [u.target for u in run.ups] == [Target("blue", 5), Target("blue", 25), Target("blue", 50),
                                           Target("blue", 100), Target("green", 0), Target("green", 0)]
    assert run.finish.exit_code == EXIT_OK
    assert run.state is not None and run.state.active_color == "green" and run.state.phase == "idle"
    # Each verdict is written with the up that acts on it; one history per release.
    assert [v.decision for v in run.ups[-1].history] == run.kinds
    # Every soak lasted release.soak: 10 evaluations of 30 s at each of the 4 steps, 30 during stabilization.
    assert len(run.observations) == 4 * 10 + 30


@pytest.mark.parametrize("breach_at", [5, 25, 50, 100])
def test_breach_at_every_step_rolls_back_to_weight_zero(breach_at):
    run = simulate(fresh(), gates=lambda w: report("fail" if w.state.weight == breach_at else "pass", value=0.2))
    rollback = run.ups[-1]
    assert rollback.kind == "rollback" and rollback.target == Target("blue", 0)
    assert rollback.verdict.weight == breach_at
    assert rollback.verdict.gates[0].status == "fail" and rollback.verdict.gates[0].value == 0.2
    assert run.finish.exit_code == EXIT_ROLLED_BACK and "errorRatio 0.2 (threshold 0.01)" in run.finish.message
    assert run.kinds.count("flip") == 0


def test_breach_is_acted_on_at_the_first_evaluation_not_at_the_end_of_the_soak():
    run = simulate(fresh(), gates=lambda w: report("fail" if w.state.weight == 25 else "pass"))
    at_25 = [o for o in run.observations][10:]  # the first 10 were the soak at 5 %
    assert len(at_25) == 1  # one interval after the breach began, the rollback was decided


def test_rollback_after_the_flip_restores_the_previous_colour():
    run = simulate(fresh(), gates=lambda w: report("fail" if w.state.phase == "stabilizing" else "pass"))
    assert run.kinds == ["start", "advance", "advance", "advance", "flip", "rollback"]
    assert run.ups[-1].target == Target("blue", 0)
    assert run.finish.exit_code == EXIT_ROLLED_BACK


def test_failed_smoke_check_after_the_flip_rolls_back():
    run = simulate(fresh(), smoke_ok=False)
    assert run.kinds[-2:] == ["flip", "rollback"] and run.ups[-1].target == Target("blue", 0)
    assert "smoke check failed" in run.ups[-1].verdict.reason


def held(where: Where) -> GateReport:
    """A canary that looks fine while one of our page alerts fires (the error budget burns)."""
    alerts = GateVerdict(gate="pageAlerts", status="hold", query="GET /api/v1/alerts", value=1.0, threshold=0.0,
                         reason="firing: DocRagErrorBudgetBurnFast")
    return GateReport((*report("pass").gates, alerts), "insufficient")


def test_a_step_is_held_while_a_page_alert_fires_then_fails_closed_naming_it():
    run = simulate(fresh(), gates=held)
    assert run.kinds == ["start", "rollback"]  # never advanced
    reasons = [o.reason for o in run.observations if o.reason != "watching"]
    assert reasons[1] == ("held by firing page alerts (pageAlerts 1 (threshold 0; firing: DocRagErrorBudgetBurnFast)): "
                          "extension 1/3")
    rollback = run.ups[-1].verdict
    assert rollback.reason.startswith("fail closed: held by firing page alerts after 3 extensions")
    assert "DocRagErrorBudgetBurnFast" in rollback.reason
    assert [g.gate for g in rollback.gates if g.status == "hold"] == ["pageAlerts"]  # recorded like the others


def test_a_page_alert_that_stops_firing_lets_the_step_advance():
    run = simulate(fresh(), gates=lambda w: held(w) if w.now < T0 + 400 else report("pass"))
    assert run.kinds == ["start", "advance", "advance", "advance", "flip", "done"]
    assert run.ups[1].verdict.extensions >= 1  # the first step waited


def test_nan_everywhere_extends_then_fails_closed():
    run = simulate(fresh(), gates=lambda w: report("insufficient", value=None))
    assert run.kinds == ["start", "rollback"]
    rollback = run.ups[-1]
    assert rollback.verdict.extensions == TIMING.max_extensions and "fail closed" in rollback.verdict.reason
    # soak + 3 extensions of one soak each, evaluated every interval
    assert len(run.observations) == (1 + TIMING.max_extensions) * 10


def test_low_traffic_that_recovers_extends_and_goes_on():
    def gates(w: Where) -> GateReport:
        started = w.state.soak_started or T0
        low = w.state.weight == 5 and w.now - started < TIMING.soak + 2 * TIMING.soak
        return report("insufficient" if low else "pass", gate="requests", value=3)

    run = simulate(fresh(), gates=gates)
    assert run.finish.exit_code == EXIT_OK
    assert run.ups[1].verdict.extensions == 2  # the advance from 5 % records the 2 extensions it needed


def test_low_traffic_does_not_extend_mid_soak():
    """Missing data before the soak ends is not yet a verdict: only the end of the window counts."""
    run = simulate(fresh(), gates=lambda w: report(
        "insufficient" if (w.now - (w.state.soak_started or T0)) < 200 else "pass"))
    assert run.finish.exit_code == EXIT_OK and all(u.verdict.extensions == 0 for u in run.ups)


@pytest.mark.parametrize("failing", [("start", 5), ("advance", 25), ("advance", 50), ("advance", 100),
                                     ("flip", 0)])
def test_an_up_that_fails_triggers_one_rollback_up(failing):
    kind, weight = failing
    run = simulate(fresh(), up_fails=lambda up: (up.kind, up.target.weight) == (kind, weight))
    assert run.ups[-1].kind == "rollback" and run.ups[-1].target == Target("blue", 0)
    assert run.kinds.count("rollback") == 1
    assert f"{kind} up failed: boom" in run.ups[-1].verdict.reason
    assert run.finish.exit_code == EXIT_ROLLED_BACK


def test_a_failing_rollback_up_exits_3_and_says_what_to_do():
    run = simulate(fresh(), gates=lambda w: report("fail" if w.state.weight == 50 else "pass"),
                   up_fails=lambda up: up.kind == "rollback")
    assert run.finish.exit_code == EXIT_ROLLBACK_FAILED
    assert "release.activeColor=blue, release.canaryWeight=0" in run.finish.message


def test_a_failing_final_record_does_not_roll_back_a_healthy_release():
    run = simulate(fresh(), up_fails=lambda up: up.kind == "done")
    assert "rollback" not in run.kinds and run.finish.exit_code == EXIT_ROLLED_BACK


def _history_until(weight: int) -> tuple:
    """The config a promote leaves behind when interrupted while soaking at `weight`."""
    full = simulate(fresh())
    for up in full.ups:
        if up.target == Target("blue", weight):
            return up.history
    raise AssertionError(weight)


@pytest.mark.parametrize("weight", [5, 25, 50, 100])
def test_resume_after_interruption_at_each_step(weight):
    state = ReleaseState("blue", weight, STEPS, _history_until(weight), IMAGES, in_sync=True)
    run = simulate(state)
    first = run.actions[0]
    assert isinstance(first, Observe) and first.color == "green" and first.baseline == "blue"
    later = [s for s in STEPS if s > weight]
    assert [u.target.weight for u in run.ups if u.kind == "advance"] == later
    assert run.kinds[-2:] == ["flip", "done"] and run.finish.exit_code == EXIT_OK
    assert "start" not in run.kinds  # the history of the interrupted release is kept and extended
    assert run.ups[-1].history[:len(state.history)] == state.history


@pytest.mark.parametrize("weight", [5, 25, 50, 100])
def test_resume_when_config_was_written_but_its_up_never_finished(weight):
    state = ReleaseState("blue", weight, STEPS, _history_until(weight), IMAGES, in_sync=False)
    run = simulate(state)
    assert run.kinds[0] == "reconcile" and run.ups[0].target == Target("blue", weight)
    assert isinstance(run.actions[1], Observe)
    assert run.finish.exit_code == EXIT_OK


def test_resume_during_stabilization_smokes_then_watches_the_rest_of_the_window():
    full = simulate(fresh())
    flip = next(u for u in full.ups if u.kind == "flip")
    state = ReleaseState("green", 0, STEPS, flip.history, IMAGES)
    assert state.phase == "stabilizing"
    run = simulate(state)
    assert isinstance(run.actions[0], Smoke)
    assert run.kinds == ["done"] and run.finish.exit_code == EXIT_OK
    # a breach while resuming after the flip still restores the previous colour
    run = simulate(state, gates=lambda w: report("fail"))
    assert run.ups[-1].target == Target("blue", 0)


def test_nothing_to_promote_after_a_completed_release_or_a_rollback():
    done = simulate(fresh())
    after_done = ReleaseState("green", 0, STEPS, done.ups[-1].history, IMAGES)
    run = simulate(after_done)  # blue still holds v1.0.0, the image the release just replaced
    assert run.ups == [] and run.finish.exit_code == EXIT_REFUSED and "just replaced" in run.finish.message

    rolled = simulate(fresh(), gates=lambda w: report("fail"))
    after_rollback = ReleaseState("blue", 0, STEPS, rolled.ups[-1].history, IMAGES)
    run = simulate(after_rollback)
    assert run.ups == [] and run.finish.exit_code == EXIT_REFUSED and "rolled back" in run.finish.message

    new_image = (("blue", "doc-rag/api:v1.0.0"), ("green", "doc-rag/api:v1.2.0"))
    run = simulate(ReleaseState("blue", 0, STEPS, rolled.ups[-1].history, new_image))
    assert run.kinds[0] == "start" and len(run.ups[0].history) == 1  # a new release starts a new history


def test_manual_rollback_targets_weight_zero_then_the_previous_colour():
    from ops.release_state import manual_rollback

    assert manual_rollback(fresh(), T0, "x") is None  # nothing to undo
    canary = ReleaseState("blue", 50, STEPS, _history_until(50), IMAGES)
    assert manual_rollback(canary, T0, "x").target == Target("blue", 0)  # type: ignore[union-attr]
    full = simulate(fresh())
    flip = next(u for u in full.ups if u.kind == "flip")
    stabilizing = ReleaseState("green", 0, STEPS, flip.history, IMAGES)
    assert manual_rollback(stabilizing, T0, "x").target == Target("blue", 0)  # type: ignore[union-attr]
    done = ReleaseState("green", 0, STEPS, full.ups[-1].history, IMAGES)
    undo = manual_rollback(done, T0, "x")
    assert undo is not None and undo.target == Target("blue", 0) and undo.verdict.image == "doc-rag/api:v1.1.0"
    after = ReleaseState("blue", 0, STEPS, undo.history, IMAGES)
    assert simulate(after).ups == []  # promote refuses to re-release the image that was rolled back


# -- resume after an interrupted flip, done or rollback (the config was written, its `up` never finished) ---

def _history_written_by(run: Run, kind: str) -> tuple:
    return next(u.history for u in run.ups if u.kind == kind)


def _interrupted(kind: str) -> tuple[ReleaseState, tuple]:
    """The config a promote leaves behind when killed during the `up` of `kind` (outputs still the step before)."""
    if kind == "flip":
        history, active = _history_written_by(simulate(fresh()), "flip"), "green"
    elif kind == "done":
        history, active = _history_written_by(simulate(fresh()), "done"), "green"
    elif kind == "rollback":  # a breach at 25 %: all traffic back on blue
        history, active = _history_written_by(simulate(fresh(), gates=lambda w: report(
            "fail" if w.state.weight == 25 else "pass")), "rollback"), "blue"
    else:  # "rollback-after-flip": a breach while stabilizing puts blue back
        history, active = _history_written_by(simulate(fresh(), gates=lambda w: report(
            "fail" if w.state.phase == "stabilizing" else "pass")), "rollback"), "blue"
    return ReleaseState(active, 0, STEPS, history, IMAGES, in_sync=False), history


@pytest.mark.parametrize("kind, kinds, exit_code, active", [
    ("flip", ["reconcile", "done"], EXIT_OK, "green"),  # finishes the stabilization, never re-canaries blue
    ("done", ["reconcile"], EXIT_OK, "green"),
    ("rollback", ["reconcile"], EXIT_ROLLED_BACK, "blue"),
    ("rollback-after-flip", ["reconcile"], EXIT_ROLLED_BACK, "blue"),
])
def test_resume_after_an_interrupted_flip_done_or_rollback_never_re_releases(kind, kinds, exit_code, active):
    state, history = _interrupted(kind)
    run = simulate(state)
    assert run.kinds == kinds, run.finish.message
    assert run.finish.exit_code == exit_code
    assert run.state is not None and run.state.active_color == active and run.state.weight == 0
    # the reconcile re-applies the config as it stands: it writes no verdict of its own
    assert run.ups[0].target == Target(active, 0) and run.ups[0].history == history
    assert all(u.target.weight == 0 for u in run.ups)  # no canary step of the previous image


def test_a_reconcile_entry_left_by_an_older_promote_does_not_hide_the_flip():
    flip_history = _history_written_by(simulate(fresh()), "flip")
    legacy = flip_history[-1].model_copy(update={"decision": "reconcile", "reason": "re-applying"})
    state = ReleaseState("green", 0, STEPS, (*flip_history, legacy), IMAGES)
    assert state.phase == "stabilizing" and state.candidate_color == "green"
    assert simulate(state).kinds == ["done"]


def test_nothing_to_promote_when_the_canary_colour_runs_the_active_image():
    same = (("blue", "doc-rag/api:v1.0.0"), ("green", "doc-rag/api:v1.0.0"))
    run = simulate(ReleaseState("blue", 0, STEPS, (), same))
    assert run.ups == [], run.kinds  # neither a start up nor a rollback up
    assert run.finish.exit_code == EXIT_REFUSED == 2
    assert run.finish.message.startswith("nothing to promote: release.green.image is doc-rag/api:v1.0.0, "
                                         "the image blue (active) already runs")


# -- images: a release resumes and rolls back only with the images it started with -------------------------

V120 = "doc-rag/api:v1.2.0"


def _with_image(color: str, image: str) -> tuple:
    return tuple((c, image if c == color else i) for c, i in IMAGES)


@pytest.mark.parametrize("weight", [5, 50, 100])
@pytest.mark.parametrize("color, role", [("green", "candidate"), ("blue", "stable")])
def test_resume_refuses_when_an_image_changed_mid_canary(weight, color, role):
    state = ReleaseState("blue", weight, STEPS, _history_until(weight), _with_image(color, V120))
    for in_sync in (True, False):  # before a reconcile too: it would deploy the new image
        run = simulate(replace(state, in_sync=in_sync))
        assert run.ups == [] and run.finish.exit_code == EXIT_REFUSED
        known = dict(IMAGES)[color]
        assert f"release.{color}.image is {V120}, but the release in progress" in run.finish.message
        assert f"set release.{color}.image back to {known} to resume" in run.finish.message


def test_resume_refuses_when_the_candidate_image_changed_after_the_flip():
    flip = _history_written_by(simulate(fresh()), "flip")
    run = simulate(ReleaseState("green", 0, STEPS, flip, _with_image("green", V120)))
    assert run.ups == [] and run.finish.exit_code == EXIT_REFUSED and "release.green.image" in run.finish.message


def test_a_new_release_refuses_to_change_the_active_colour_image():
    deployed = IMAGES  # what the last up deployed
    state = ReleaseState("blue", 0, STEPS, (), _with_image("blue", V120), deployed_images=deployed)
    run = simulate(state)
    assert run.ups == [] and run.finish.exit_code == EXIT_REFUSED
    assert "release.blue.image is doc-rag/api:v1.2.0 but the active colour blue runs doc-rag/api:v1.0.0" \
        in run.finish.message
    # the candidate colour's new image is the release itself
    new = ReleaseState("blue", 0, STEPS, (), _with_image("green", V120), deployed_images=deployed)
    assert simulate(new).kinds[0] == "start"


def test_manual_rollback_after_done_refuses_an_image_that_is_not_the_known_good_one():
    from ops.release_state import manual_rollback

    done = simulate(fresh()).ups[-1].history  # green v1.1.0 replaced blue v1.0.0
    ok = manual_rollback(ReleaseState("green", 0, STEPS, done, IMAGES), T0, "x")
    assert isinstance(ok, Up) and ok.target == Target("blue", 0)
    changed = manual_rollback(ReleaseState("green", 0, STEPS, done, _with_image("blue", V120)), T0, "x")
    assert isinstance(changed, Finish) and changed.exit_code == EXIT_REFUSED
    assert ("release.blue.image is doc-rag/api:v1.2.0, but the release being undone replaced doc-rag/api:v1.0.0"
            in changed.message)
    assert "pulumi config set --path release.blue.image doc-rag/api:v1.0.0" in changed.message
    canary = manual_rollback(ReleaseState("blue", 25, STEPS, _history_until(25), _with_image("blue", V120)), T0, "x")
    assert isinstance(canary, Finish) and canary.exit_code == EXIT_REFUSED


def test_every_verdict_records_its_target():
    run = simulate(fresh())
    assert [(v.targetColor, v.targetWeight) for v in run.ups[-1].history] == [
        ("blue", 5), ("blue", 25), ("blue", 50), ("blue", 100), ("green", 0), ("green", 0)]


# -- a canary weight set by hand after a finished release (no release in progress) --------------------------

def _manual_canary_after_done(weight: int = 5) -> ReleaseState:
    """blue v1.0 -> green v1.1 finished; then release.blue.image=v1.2, canaryWeight by hand and `pulumi up`."""
    done = simulate(fresh()).ups[-1].history
    images = (("blue", V120), ("green", "doc-rag/api:v1.1.0"))
    return ReleaseState("green", weight, STEPS, done, images, deployed_images=images)


@pytest.mark.parametrize("weight", [5, 50])
def test_promote_adopts_a_manual_canary_after_a_finished_release(weight):
    state = _manual_canary_after_done(weight)
    assert state.phase == "canary" and not state.in_progress
    run = simulate(state)
    assert run.kinds[0] == "start" and run.ups[0].target == Target("green", weight)  # no traffic moved
    start = run.ups[0].verdict
    assert (start.image, start.stableImage) == (V120, "doc-rag/api:v1.1.0") and len(run.ups[0].history) == 1
    assert [u.target.weight for u in run.ups if u.kind == "advance"] == [s for s in STEPS if s > weight]
    assert run.kinds[-2:] == ["flip", "done"] and run.finish.exit_code == EXIT_OK
    assert run.state is not None and run.state.active_color == "blue"


def test_manual_rollback_of_a_manual_canary_after_a_finished_release_goes_to_weight_zero():
    from ops.release_state import manual_rollback

    undo = manual_rollback(_manual_canary_after_done(), T0, "x")
    assert isinstance(undo, Up) and undo.target == Target("green", 0)  # the active colour, not two releases back
    assert (undo.verdict.image, undo.verdict.stableImage) == (V120, "doc-rag/api:v1.1.0")
    after = ReleaseState("green", 0, STEPS, undo.history, _manual_canary_after_done().images)
    assert simulate(after).ups == []  # the rolled-back manual image is not promoted again


def test_a_flip_whose_up_was_killed_gets_the_full_stabilization_from_when_it_is_re_applied():
    state, _ = _interrupted("flip")
    flip_time = state.last_decision.time  # type: ignore[union-attr]
    from ops.release_state import epoch

    run = simulate(state, start=epoch(flip_time) + 3 * 3600)  # resumed three hours after the flip was written
    assert run.kinds == ["reconcile", "done"]
    assert isinstance(run.actions[1], Smoke)
    assert len(run.observations) == TIMING.stabilization / TIMING.interval  # the whole window, not zero


@pytest.mark.parametrize("kind_index", [0, 2])  # the start up, an advance
def test_an_up_refused_by_the_stack_lock_ends_the_run_without_a_rollback(kind_index):
    """Another update holds the lock: this up changed nothing, so nothing is rolled back and no second up starts."""
    state, action = step(fresh(), TIMING, Started(T0))
    for _ in range(kind_index):  # walk to the wanted up on passing gates
        state, action = step(state, TIMING, UpDone(action, True, T0))
        while isinstance(action, Observe):
            state, action = step(state, TIMING, GatesObserved(report("pass"), T0 + 10_000))
    assert isinstance(action, Up)
    before = state
    state, finish = step(state, TIMING, UpDone(action, False, T0, "stack prod is locked by another update", True))
    assert isinstance(finish, Finish) and finish.exit_code == EXIT_REFUSED
    assert f"{action.kind} up not run, nothing changed: stack prod is locked" in finish.message
    assert state == before


def test_a_rollback_refused_by_the_lock_still_says_rollback_failed():
    state = fresh(history=(), in_sync=True)
    state, action = step(state, TIMING, Started(T0))
    state, action = step(state, TIMING, UpDone(action, True, T0))
    state, rollback = step(state, TIMING, GatesObserved(report("fail"), T0 + 30))
    assert isinstance(rollback, Up) and rollback.kind == "rollback"
    _, finish = step(state, TIMING, UpDone(rollback, False, T0, "stack prod is locked by another update", True))
    assert isinstance(finish, Finish) and finish.exit_code == EXIT_ROLLBACK_FAILED and "locked" in finish.message


# -- retiring the previous colour (release.retire) and reviving it ------------------------------------------------

RETIRE = replace(TIMING, retire=True)
THREE_EACH = (("blue", 3), ("green", 3))


def test_the_final_up_retires_the_previous_colour_and_records_its_replicas():
    run = simulate(fresh(replicas=THREE_EACH), timing=RETIRE)
    done = run.ups[-1]
    assert run.kinds == ["start", "advance", "advance", "advance", "flip", "done"]  # no extra decision
    assert done.replicas == (("blue", 0),) and done.verdict.replicas == 3
    assert "blue retired (scaled to 0 from 3 replicas)" in done.verdict.reason
    assert run.finish.exit_code == EXIT_OK and run.finish.message.endswith("; blue retired (scaled to 0)")
    assert run.state is not None and run.state.replicas == (("blue", 0), ("green", 3))
    # release.retire manual (SoakTiming.retire False): the same walk leaves blue running
    assert simulate(fresh(replicas=THREE_EACH)).ups[-1].replicas == ()


def _retired() -> ReleaseState:
    """After a release that made green active and retired blue (3 replicas)."""
    history = simulate(fresh(replicas=THREE_EACH)).ups[-1].history
    done = history[-1].model_copy(update={"replicas": 3})
    return ReleaseState(active_color="green", weight=0, steps=STEPS, history=(*history[:-1], done),
                        images=(("blue", "doc-rag/api:v1.2.0"), ("green", "doc-rag/api:v1.1.0")),
                        replicas=(("blue", 0), ("green", 3)))


def test_the_next_release_revives_the_retired_colour_with_its_start():
    _, start = step(_retired(), RETIRE, Started(T0))
    assert isinstance(start, Up) and start.kind == "start" and start.target == Target("green", 5)
    assert start.replicas == (("blue", 3),) and start.verdict.replicas == 3
    assert "revived with 3 replicas" in start.verdict.reason


def test_a_canary_colour_at_zero_replicas_with_no_record_is_refused():
    state = replace(_retired(), history=())
    _, finish = step(state, RETIRE, Started(T0))
    assert isinstance(finish, Finish) and finish.exit_code == EXIT_REFUSED
    assert "release.blue.replicas is 0" in finish.message and "release.blue.replicas 3" in finish.message


def test_rolling_back_a_retiring_release_revives_first_then_moves_traffic():
    from ops.release_state import manual_rollback

    state = replace(_retired(), images=IMAGES)  # blue still holds the image the release replaced
    revive = manual_rollback(state, T0, "x")
    assert isinstance(revive, Up) and revive.kind == "revive"
    assert revive.target == Target("green", 0) and revive.replicas == (("blue", 3),)  # no traffic moves yet
    revived = replace(state, history=revive.history, replicas=state.with_replicas(revive.replicas))
    assert revived.last_decision is not None and revived.last_decision.decision == "done"  # a revive decides nothing
    back = manual_rollback(revived, T0 + 60, "x")
    assert isinstance(back, Up) and back.kind == "rollback" and back.target == Target("blue", 0)
    assert [v.decision for v in back.history][-3:] == ["done", "revive", "rollback"]
    assert back.verdict.image == "doc-rag/api:v1.1.0"  # the released image is the one rolled back
    unknown = replace(state, history=(*state.history[:-1], state.history[-1].model_copy(update={"replicas": None})))
    refused = manual_rollback(unknown, T0, "x")
    assert isinstance(refused, Finish) and "release.blue.replicas is 0" in refused.message


@pytest.mark.parametrize("missing", ["nan", "unreachable"])
def test_no_data_during_stabilization_never_ends_the_release_as_done(missing):
    """After the flip the gates watch the new colour with all traffic; if Prometheus cannot say how it does,
    the release fails closed back to the previous colour rather than being recorded as done."""
    def gates(w: Where) -> GateReport:
        if w.state.phase != "stabilizing":
            return report("pass")
        return report("insufficient", value=None) if missing == "nan" else report("insufficient", gate="requests",
                                                                                   value=None)

    run = simulate(fresh(), gates=gates)
    assert run.kinds == ["start", "advance", "advance", "advance", "flip", "rollback"]
    assert "done" not in run.kinds and run.finish.exit_code == EXIT_ROLLED_BACK
    rollback = run.ups[-1]
    assert rollback.target.active_color == "blue" and "fail closed" in rollback.verdict.reason
    assert rollback.verdict.extensions == TIMING.max_extensions
