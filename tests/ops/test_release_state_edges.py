"""Edges of the release state machine the walk-through tests do not reach: what a verdict records (images,
replicas, gates, the target), what is reset after an up, and the exact refusals when config and the release in
progress disagree. Expected values are literals written from the verdicts each state is built with."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from components.config import GateVerdict, Verdict
from ops.release_state import (
    EXIT_REFUSED,
    EXIT_ROLLBACK_FAILED,
    EXIT_ROLLED_BACK,
    Finish,
    GateReport,
    GatesObserved,
    Observe,
    ReleaseState,
    Smoke,
    SoakTiming,
    Started,
    Target,
    Up,
    UpDone,
    manual_rollback,
    step,
)

POLICY = SoakTiming(soak=300, stabilization=900, interval=30, max_extensions=3)
RETIRING = SoakTiming(soak=300, stabilization=900, interval=30, max_extensions=3, retire=True)
STEPS = (5, 25, 50, 100)
V1, V2, V3 = "doc-rag/api:v1", "doc-rag/api:v2", "doc-rag/api:v3"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
GATE = GateVerdict(gate="errorRatio", status="pass", query="q", value=0.001, threshold=0.01, samples=500.0)


def verdict(decision: str, time: str, active: str = "blue", weight: int = 0, image: str = V2, stable: str = V1,
            replicas: Optional[int] = None, gates: tuple[GateVerdict, ...] = ()) -> Verdict:
    return Verdict(time=time, activeColor=active, weight=weight, decision=decision,  # type: ignore[arg-type]
                   image=image, stableImage=stable, replicas=replicas, gates=list(gates))


START = verdict("start", "2023-11-14T22:00:00Z")
ADVANCE = verdict("advance", "2023-11-14T22:05:00Z", weight=5)


def up_of(action) -> Up:
    assert isinstance(action, Up), action
    return action


def finish_of(action) -> Finish:
    assert isinstance(action, Finish), action
    return action


def test_defaults_of_a_colour_config_does_not_name():
    state = ReleaseState("blue", 0, STEPS)
    assert state.image("green") == ""
    assert state.replica_count("green") == 1  # not given: running, never retired


# --- images: the recorded ones once a release runs, config's before --------------------------------------------

def test_a_manual_rollback_blocks_the_image_the_release_recorded_not_a_new_one_in_config():
    state = ReleaseState("blue", 5, STEPS, (START, ADVANCE), (("blue", V1), ("green", V3)))
    up = manual_rollback(state, T0, "operator")
    assert isinstance(up, Up)
    assert (up.verdict.image, up.verdict.stableImage) == (V2, V1)


def test_an_unfinished_start_is_reapplied_with_the_images_config_has_now():
    """The start `up` never finished (weight still 0): nothing was released yet, so config's images stand."""
    state = ReleaseState("blue", 0, STEPS, (START,), (("blue", V1), ("green", V3)), in_sync=False)
    _, action = step(state, POLICY, Started(T0))
    up = up_of(action)
    assert up.kind == "reconcile"
    assert (up.verdict.image, up.verdict.stableImage) == (V3, V1)


def test_a_changed_candidate_image_stops_the_release_in_progress_naming_when_it_started():
    state = ReleaseState("blue", 5, STEPS, (START, ADVANCE), (("blue", V1), ("green", V3)))
    _, action = step(state, POLICY, Started(T0))
    assert finish_of(action) == Finish(EXIT_REFUSED, (
        f"release.green.image is {V3}, but the release in progress (started 2023-11-14T22:00:00Z) is releasing "
        f"{V2}: set release.green.image back to {V2} to resume, or end the release with `python -m ops rollback` "
        "and promote the new image after it"))


def test_a_changed_stable_image_stops_the_release_in_progress():
    state = ReleaseState("blue", 5, STEPS, (START, ADVANCE), (("blue", V3), ("green", V2)))
    _, action = step(state, POLICY, Started(T0))
    assert finish_of(action).message == (
        f"release.blue.image is {V3}, but the release in progress (started 2023-11-14T22:00:00Z) is keeping as "
        f"stable {V1}: set release.blue.image back to {V1} to resume, or end the release with `python -m ops "
        "rollback` and promote the new image after it")


def test_a_history_without_its_start_names_the_last_decision_as_when_it_started():
    state = ReleaseState("blue", 5, STEPS, (ADVANCE,), (("blue", V1), ("green", V3)))
    _, action = step(state, POLICY, Started(T0))
    assert "(started 2023-11-14T22:05:00Z)" in finish_of(action).message


def test_the_active_colour_changes_image_only_through_a_release():
    state = ReleaseState("blue", 0, STEPS, (), (("blue", V3), ("green", V2)), deployed_images=(("blue", V1),))
    _, action = step(state, POLICY, Started(T0))
    assert finish_of(action) == Finish(EXIT_REFUSED, (
        f"release.blue.image is {V3} but the active colour blue runs {V1}: the active colour changes image only "
        f"through a release; set release.blue.image back to {V1}, or put the new image on release.green.image and "
        "promote it"))


def test_an_image_just_replaced_or_rolled_back_is_not_promoted_again():
    done = verdict("done", "2023-11-14T23:00:00Z", active="green", image=V2, stable=V1)
    replaced = ReleaseState("green", 0, STEPS, (START, done), (("blue", V1), ("green", V2)))
    _, action = step(replaced, POLICY, Started(T0))
    assert finish_of(action) == Finish(EXIT_REFUSED, f"nothing to promote: release.blue.image {V1} was just "
                                                     "replaced; set a new image first")
    rollback = verdict("rollback", "2023-11-14T23:00:00Z", image=V2, stable=V1)
    rolled = ReleaseState("blue", 0, STEPS, (START, rollback), (("blue", V1), ("green", V2)))
    _, action = step(rolled, POLICY, Started(T0))
    assert finish_of(action) == Finish(EXIT_REFUSED, f"nothing to promote: release.green.image {V2} was rolled "
                                                     "back; set a new image first")


# --- replicas a verdict records ------------------------------------------------------------------------------------

def test_a_start_records_replicas_only_when_it_revives_a_retired_colour():
    images = (("blue", V1), ("green", V2))
    _, action = step(ReleaseState("blue", 0, STEPS, (), images), POLICY, Started(T0))
    assert up_of(action).verdict.replicas is None
    assert up_of(action).verdict.reason == f"canary green {V2} at 5%"
    retired = verdict("done", "2023-11-14T23:00:00Z", replicas=4, image=V1, stable="doc-rag/api:v0")
    state = ReleaseState("blue", 0, STEPS, (retired,), images, replicas=(("blue", 3), ("green", 0)))
    _, action = step(state, POLICY, Started(T0))
    up = up_of(action)
    assert (up.verdict.replicas, up.replicas) == (4, (("green", 4),))
    assert up.verdict.reason == f"canary green {V2} at 5% (revived with 4 replicas)"


def test_adopting_a_manual_canary_records_replicas_only_when_it_revives():
    images = (("blue", V1), ("green", V2))
    _, action = step(ReleaseState("blue", 25, STEPS, (), images), POLICY, Started(T0))
    assert up_of(action).verdict.replicas is None
    retired = verdict("done", "2023-11-14T23:00:00Z", replicas=4, image=V1, stable="doc-rag/api:v0")
    state = ReleaseState("blue", 25, STEPS, (retired,), images, replicas=(("blue", 3), ("green", 0)))
    _, action = step(state, POLICY, Started(T0))
    up = up_of(action)
    assert (up.kind, up.target, up.verdict.replicas, up.replicas) == ("start", Target("blue", 25), 4,
                                                                      (("green", 4),))


def stabilizing(active: str, replicas: tuple[tuple[str, int], ...]) -> ReleaseState:
    previous = "green" if active == "blue" else "blue"
    flip = verdict("flip", "2023-11-14T22:20:00Z", active=previous, weight=100)  # T0 + 400
    return ReleaseState(active, 0, STEPS, (START, flip), ((active, V2), (previous, V1)), replicas=replicas,
                        soak_started=T0)


def passed() -> GatesObserved:
    return GatesObserved(GateReport((GATE,), "pass"), T0 + 900)


def test_done_retires_the_previous_colour_with_the_count_it_had():
    _, action = step(stabilizing("blue", (("blue", 3), ("green", 2))), RETIRING, passed())
    up = up_of(action)
    assert (up.kind, up.target, up.replicas, up.verdict.replicas) == ("done", Target("blue", 0), (("green", 0),), 2)
    assert up.verdict.reason == "stable for 900s after the flip; green retired (scaled to 0 from 2 replicas)"
    assert up.verdict.gates == [GATE]
    one = up_of(step(stabilizing("green", (("blue", 1), ("green", 3))), RETIRING, passed())[1])
    assert (one.replicas, one.verdict.replicas) == ((("blue", 0),), 1)


def test_done_without_retiring_an_already_retired_colour():
    up = up_of(step(stabilizing("blue", (("blue", 3), ("green", 0))), RETIRING, passed())[1])
    assert (up.kind, up.target, up.replicas, up.verdict.replicas) == ("done", Target("blue", 0), (), None)
    assert up.verdict.reason == "stable for 900s after the flip"


def test_a_finished_done_names_the_colour_it_retired():
    up = up_of(step(stabilizing("blue", (("blue", 3), ("green", 2))), RETIRING, passed())[1])
    _, action = step(stabilizing("blue", (("blue", 3), ("green", 2))), RETIRING, UpDone(up, True, T0 + 960))
    assert finish_of(action).message == f"release complete: blue {V2} is active and stable; green retired (scaled to 0)"


# --- after an up: pacing reset, gates carried --------------------------------------------------------------------

def test_every_up_and_every_resume_starts_the_soak_without_extensions():
    images = (("blue", V1), ("green", V2))
    soaking = ReleaseState("blue", 5, STEPS, (START, ADVANCE), images, soak_started=T0, extensions=2)
    advance = up_of(step(soaking, POLICY, GatesObserved(GateReport((GATE,), "pass"), T0 + 900))[1])
    moved, action = step(soaking, POLICY, UpDone(advance, True, T0 + 960))
    assert (moved.extensions, moved.soak_started) == (0, T0 + 960)
    assert isinstance(action, Observe) and action.since == T0 + 960
    resumed, _ = step(soaking, POLICY, Started(T0 + 5))
    assert (resumed.extensions, resumed.soak_started) == (0, T0 + 5)
    after_flip = stabilizing("blue", ())
    flipped, action = step(replace(after_flip, soak_started=None, extensions=2), POLICY, Started(T0 + 500))
    assert isinstance(action, Smoke) and (flipped.extensions, flipped.soak_started) == (0, T0 + 400)


def test_gates_observed_before_any_soak_start_watch_from_now():
    state = ReleaseState("blue", 5, STEPS, (START, ADVANCE), (("blue", V1), ("green", V2)))
    _, action = step(state, POLICY, GatesObserved(GateReport((GATE,), "pass"), T0))
    assert isinstance(action, Observe) and action.reason == "watching"


def test_a_failed_rollback_up_reports_the_gates_that_caused_it():
    state = ReleaseState("blue", 25, STEPS, (START,), (("blue", V1), ("green", V2)))
    rollback = Up("rollback", Target("blue", 0), verdict("rollback", "2023-11-14T22:30:00Z", gates=(GATE,)), ())
    _, action = step(state, POLICY, UpDone(rollback, False, T0, "boom"))
    finish = finish_of(action)
    assert (finish.exit_code, finish.gates) == (EXIT_ROLLBACK_FAILED, (GATE,))
    _, action = step(state, POLICY, UpDone(rollback, True, T0))
    assert (finish_of(action).exit_code, finish_of(action).gates) == (EXIT_ROLLED_BACK, (GATE,))


# --- ops rollback after a finished release -------------------------------------------------------------------------

def finished(active: str, replicas: tuple[tuple[str, int], ...] = (), recorded: Optional[int] = None,
             image: str = V2, stable: str = V1) -> ReleaseState:
    previous = "green" if active == "blue" else "blue"
    done = verdict("done", "2023-11-14T23:00:00Z", active=active, image=image, stable=stable, replicas=recorded)
    return ReleaseState(active, 0, STEPS, (START, done), ((active, V2), (previous, V1)), replicas=replicas)


def test_undoing_a_finished_release_flips_back_to_the_previous_colour_recording_both_images():
    up = manual_rollback(finished("blue"), T0, "operator")
    assert isinstance(up, Up)
    assert (up.kind, up.target) == ("rollback", Target("green", 0))
    assert (up.verdict.image, up.verdict.stableImage) == (V2, V1)
    assert up.history[-1] == up.verdict


def test_undoing_a_release_whose_done_recorded_no_image_names_the_active_colours():
    up = manual_rollback(finished("green", image=""), T0, "operator")
    assert isinstance(up, Up) and (up.verdict.image, up.verdict.stableImage) == (V2, V1)


def test_undoing_a_release_whose_done_recorded_no_stable_image_names_the_previous_colours():
    up = manual_rollback(finished("green", stable=""), T0, "operator")
    assert isinstance(up, Up) and (up.target, up.verdict.image, up.verdict.stableImage) == (Target("blue", 0), V2, V1)


def test_undoing_a_release_that_retired_the_previous_colour_revives_it_first():
    up = manual_rollback(finished("blue", (("blue", 3), ("green", 0)), recorded=4), T0, "operator")
    assert isinstance(up, Up)
    assert (up.kind, up.target, up.replicas, up.verdict.replicas) == ("revive", Target("blue", 0), (("green", 4),), 4)
    refused = manual_rollback(finished("blue", (("blue", 3), ("green", 0))), T0, "operator")
    assert refused == Finish(EXIT_REFUSED, "release.green.replicas is 0 and no verdict says how many it had: set it "
                                           "(`pulumi config set --path release.green.replicas 3`), then roll back")


def test_a_manual_rollback_refuses_a_stable_colour_without_its_known_good_image():
    state = ReleaseState("blue", 25, STEPS, (START,), (("blue", V3), ("green", V2)))
    assert manual_rollback(state, T0, "operator") == Finish(EXIT_REFUSED, (
        f"release.blue.image is {V3}, but the release in progress replaces {V1}: blue would not get its known-good "
        f"image back. Set it with `pulumi config set --path release.blue.image {V1}`, then roll back"))
