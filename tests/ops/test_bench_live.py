"""The live bench's reading of the engine's output and its report (the measurement itself is `make bench`)."""

from __future__ import annotations

from ops.bench_live import report, rollback_duration


def test_the_last_up_duration_is_the_rollback_one():
    log = "Updating (local):\n...\nDuration: 4s\n\nrollback: up with activeColor=blue\nDuration: 1m2.5s\n"
    assert rollback_duration(log) == 62.5
    assert rollback_duration("Resources:\n    65 unchanged\n") is None


def test_the_report_compares_with_one_interval_plus_the_up():
    within = report({"visible_to_zero_s": 6.2, "interval_s": 5.0, "rollback_up_s": 3.0, "within_goal": True})
    assert within.endswith("goal one gate interval (5s) + the rollback up (3s) = 8s: within")
    assert "canary weight 0 in 6.2s" in within
    late = report({"visible_to_zero_s": 9.0, "interval_s": 5.0, "rollback_up_s": None, "within_goal": False})
    assert "rollback up (unknown)" in late and late.endswith("EXCEEDS")
