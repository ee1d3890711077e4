"""What the release state machine tells the operator and writes into the stack: each `up`'s reason, time, images
and gates, each evaluation's colour, baseline and window start, and the final message, for the paths a release
takes. Expected values are literals (the timing is 5m soaks, 15m stabilization, 30s interval, 3 extensions)."""

from __future__ import annotations

import os
import time

import pytest

from components.config import GateVerdict
from ops.release_state import (
    EXIT_ROLLBACK_FAILED,
    EXIT_ROLLED_BACK,
    Finish,
    GateReport,
    Observe,
    ReleaseState,
    Smoke,
    SoakTiming,
    UpDone,
    action_budget,
    give_up,
    step,
    watch_window,
)
from tests.ops.test_release_state import IMAGES, STEPS, T0, TIMING, fresh, simulate

FLIPPED = T0 + 4 * 300  # four 5-minute soaks


@pytest.fixture
def tokyo_clock():
    """The machine's local time is not UTC: a verdict time must still be UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_a_healthy_release_records_reason_time_images_and_gates_with_each_up(tokyo_clock):
    run = simulate(fresh())
    assert [(u.kind, u.verdict.reason, u.verdict.time) for u in run.ups] == [
        ("start", "canary green doc-rag/api:v1.1.0 at 5%", "2023-11-14T22:13:20Z"),
        ("advance", "gates passed at 5%", "2023-11-14T22:18:20Z"),
        ("advance", "gates passed at 25%", "2023-11-14T22:23:20Z"),
        ("advance", "gates passed at 50%", "2023-11-14T22:28:20Z"),
        ("flip", "gates passed at 100%: green becomes active", "2023-11-14T22:33:20Z"),
        ("done", "stable for 900s after the flip", "2023-11-14T22:48:20Z"),
    ]
    assert {(u.verdict.image, u.verdict.stableImage) for u in run.ups} == {("doc-rag/api:v1.1.0", "doc-rag/api:v1.0.0")}
    # every decision after the start carries the gates it was taken on
    assert [[g.gate for g in u.verdict.gates] for u in run.ups] == [[]] + [["errorRatio"]] * 5
    assert run.finish.message == "release complete: green doc-rag/api:v1.1.0 is active and stable"


def test_each_evaluation_names_the_canary_its_baseline_and_when_its_window_began():
    observed = simulate(fresh()).observations
    assert observed[0] == Observe(30, "green", "blue", "soaking at 5%", T0)
    assert observed[1] == Observe(30, "green", "blue", "watching", T0)
    assert observed[10] == Observe(30, "green", "blue", "soaking at 25%", T0 + 300)
    # after the flip: no baseline, the window starts at the flip
    assert observed[40] == Observe(30, "green", None, "stabilizing after the flip", FLIPPED)
    assert observed[-1] == Observe(30, "green", None, "watching", FLIPPED)


def breach(_where) -> GateReport:
    return GateReport((
        GateVerdict(gate="requests", status="pass", value=500.0, threshold=100.0),
        GateVerdict(gate="errorRatio", status="fail", value=0.2, threshold=0.01),
        GateVerdict(gate="p95Latency", status="fail", value=2.5, threshold=0.5),
        GateVerdict(gate="errorRatioVsStable", status="skip", reason="after the flip"),
    ), "fail")


def test_a_breach_names_every_failed_gate_with_value_and_threshold():
    run = simulate(fresh(), gates=breach)
    rollback = run.ups[-1]
    assert rollback.verdict.reason == ("gate breached at 5%: errorRatio 0.2 (threshold 0.01), p95Latency 2.5 "
                                       "(threshold 0.5)")
    assert len(rollback.verdict.gates) == 4
    assert run.finish.message == ("rolled back to blue at weight 0: gate breached at 5%: errorRatio 0.2 (threshold "
                                  "0.01), p95Latency 2.5 (threshold 0.5)")
    assert [g.gate for g in run.finish.gates] == ["requests", "errorRatio", "p95Latency", "errorRatioVsStable"]


def test_missing_data_extends_saying_which_gate_then_fails_closed():
    no_data = GateReport((GateVerdict(gate="requests", status="nodata"),
                          GateVerdict(gate="errorRatio", status="nodata", threshold=0.01),
                          GateVerdict(gate="pageAlerts", status="nodata", threshold=0.0, reason="cannot say")),
                         "insufficient")
    run = simulate(fresh(), gates=lambda w: no_data)
    reasons = [o.reason for o in run.observations if o.reason != "watching"]
    missing = "requests no data, errorRatio no data (threshold 0.01), pageAlerts no data (threshold 0)"
    assert reasons == ["soaking at 5%", f"not enough data ({missing}): extension 1/3",
                       f"not enough data ({missing}): extension 2/3", f"not enough data ({missing}): extension 3/3"]
    assert run.ups[-1].verdict.reason == f"fail closed: not enough data after 3 extensions ({missing})"
    assert len(run.ups[-1].verdict.gates) == 3


def test_a_failed_smoke_check_names_each_failed_check():
    run = simulate(fresh(), smoke_ok=False)
    rollback = run.ups[-1]
    assert rollback.verdict.reason == "smoke check failed after the flip: https://x/ready fail"
    assert [(g.gate, g.query) for g in rollback.verdict.gates] == [("smoke", "https://x/ready")]


def test_a_smoke_check_ignores_the_checks_that_passed():
    flip = next(u for u in simulate(fresh()).ups if u.kind == "flip")
    stabilizing = ReleaseState("green", 0, STEPS, flip.history, IMAGES, soak_started=FLIPPED)
    checks = (GateVerdict(gate="smoke", status="pass", query="https://x/health"),
              GateVerdict(gate="smoke", status="fail", query="https://x/ready", value=503.0),
              GateVerdict(gate="smoke", status="fail", query="https://x/other"))
    from ops.release_state import SmokeDone

    _, action = step(stabilizing, TIMING, SmokeDone(False, checks, FLIPPED))
    assert action.verdict.reason == "smoke check failed after the flip: https://x/ready fail, https://x/other fail"


def test_up_failures_name_what_failed_and_what_to_do():
    failed_start = simulate(fresh(), up_fails=lambda up: up.kind == "start")
    assert failed_start.ups[-1].verdict.reason == "start up failed: boom"
    stuck = simulate(fresh(), gates=breach, up_fails=lambda up: up.kind == "rollback")
    assert stuck.finish.exit_code == EXIT_ROLLBACK_FAILED
    assert stuck.finish.message == ("ROLLBACK FAILED (boom); traffic state needs manual action: run `python -m ops "
                                    "rollback` or `pulumi up` with release.activeColor=blue, release.canaryWeight=0")
    assert [g.gate for g in stuck.finish.gates] == ["requests", "errorRatio", "p95Latency", "errorRatioVsStable"]
    unrecorded = simulate(fresh(), up_fails=lambda up: up.kind == "done")
    assert unrecorded.finish.exit_code == EXIT_ROLLED_BACK
    assert unrecorded.finish.message == ("the release is live but recording its final verdict failed (boom); re-run "
                                         "promote to record it")


def test_a_rollback_interrupted_before_its_up_finished_is_re_applied_and_named():
    rolled = simulate(fresh(), gates=breach)
    rollback = rolled.ups[-1]
    interrupted = ReleaseState("blue", 5, STEPS, rollback.history, IMAGES, in_sync=False)
    run = simulate(interrupted)
    assert run.kinds == ["reconcile"]
    assert run.ups[0].verdict.reason == "config differs from the deployed stack: re-applying it before resuming"
    assert run.finish.message.startswith("the interrupted rollback is now deployed: blue serves all traffic (gate "
                                          "breached at 5%: errorRatio 0.2")
    assert [g.gate for g in run.finish.gates] == ["requests", "errorRatio", "p95Latency", "errorRatioVsStable"]


def test_a_final_record_interrupted_before_its_up_finished_names_the_active_image():
    done = simulate(fresh()).ups[-1]
    run = simulate(ReleaseState("green", 0, STEPS, done.history, IMAGES, in_sync=False))
    assert run.finish.message == ("release complete: the interrupted final record is now deployed; green "
                                  "doc-rag/api:v1.1.0 is active")


def test_an_interrupted_flip_is_smoked_and_watched_from_when_it_is_re_applied():
    flip = next(u for u in simulate(fresh()).ups if u.kind == "flip")
    state = ReleaseState("green", 0, STEPS, flip.history, IMAGES, in_sync=False)
    reconcile_at = T0 + 7200
    state, action = step(state, TIMING, UpDone(_reconcile(state, reconcile_at), True, reconcile_at))
    assert isinstance(action, Smoke) and state.soak_started == reconcile_at


def _reconcile(state: ReleaseState, now: float):
    from ops.release_state import Started

    return step(state, TIMING, Started(now))[1]


def test_resuming_a_soak_starts_its_window_again_without_extensions():
    interrupted = next(u for u in simulate(fresh()).ups if u.target.weight == 25)
    state = ReleaseState("blue", 25, STEPS, interrupted.history, IMAGES, extensions=2, soak_started=T0)
    from ops.release_state import Started

    resumed, action = step(state, TIMING, Started(T0 + 5000))
    assert (resumed.soak_started, resumed.extensions) == (T0 + 5000, 0)
    assert action == Observe(30, "green", "blue", "resuming the soak at 25%", T0 + 5000)


def test_resuming_a_stabilization_smokes_and_keeps_the_flip_time_without_extensions():
    flip = next(u for u in simulate(fresh()).ups if u.kind == "flip")
    state = ReleaseState("green", 0, STEPS, flip.history, IMAGES, extensions=2)
    from ops.release_state import Started

    resumed, action = step(state, TIMING, Started(T0 + 5000))
    assert isinstance(action, Smoke) and (resumed.soak_started, resumed.extensions) == (FLIPPED, 0)


def test_the_heartbeat_window_counts_extensions_and_the_stabilization():
    canary = ReleaseState("blue", 25, STEPS, (), IMAGES, soak_started=T0, extensions=2)
    assert watch_window(canary, TIMING, T0 + 90) == (90, 300 + 2 * 300)
    stabilizing = ReleaseState("green", 0, STEPS, next(u for u in simulate(fresh()).ups if u.kind == "flip").history,
                               IMAGES, soak_started=FLIPPED)
    assert watch_window(stabilizing, TIMING, FLIPPED + 60) == (60, 900)
    assert watch_window(ReleaseState("blue", 25, STEPS, (), IMAGES), TIMING, T0) == (0, 300)


def test_giving_up_takes_traffic_off_the_candidate_and_nothing_when_none_is_on_it():
    canary = ReleaseState("blue", 25, STEPS, (), IMAGES)
    up = give_up(canary, T0, "stuck")
    assert up is not None and (up.kind, up.target.active_color, up.target.weight, up.verdict.reason) == (
        "rollback", "blue", 0, "stuck")
    assert up.verdict.time == "2023-11-14T22:13:20Z"
    flip = next(u for u in simulate(fresh()).ups if u.kind == "flip")
    after_flip = give_up(ReleaseState("green", 0, STEPS, flip.history, IMAGES), T0, "stuck")
    assert after_flip is not None and after_flip.target.active_color == "blue"
    assert give_up(fresh(), T0, "stuck") is None


@pytest.mark.parametrize("timing,steps,budget", [
    (TIMING, 4, 564),  # per step ceil(300*4/30)+2 = 42; stabilization ceil((900+900)/30)+4 = 64; 2*(168+64)+100
    # per step ceil(60*2/7)+2 = 20; stabilization ceil((120+60)/7)+4 = 30; 2*(2*20+30)+100
    (SoakTiming(soak=60, stabilization=120, interval=7, max_extensions=1), 2, 240),
])
def test_the_action_budget_is_twice_the_slowest_healthy_release_plus_slack(timing, steps, budget):
    assert action_budget(timing, steps) == budget


def test_the_final_record_names_the_retired_colour():
    retiring = SoakTiming(soak=300, stabilization=900, interval=30, max_extensions=3, retire=True)
    run = simulate(fresh(replicas=(("blue", 3), ("green", 3))), timing=retiring)
    assert run.ups[-1].verdict.reason == "stable for 900s after the flip; blue retired (scaled to 0 from 3 replicas)"
    assert run.finish.message == ("release complete: green doc-rag/api:v1.1.0 is active and stable; blue retired "
                                  "(scaled to 0)")
    assert isinstance(run.actions[-1], Finish)
