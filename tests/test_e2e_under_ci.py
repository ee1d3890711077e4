"""The real-engine tier (the Automation API driver test among it) never skips under CI=true: a missing engine
fails there, and only a local run may skip it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import e2e_helpers


@pytest.mark.parametrize("ci,outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)],
                         ids=["CI=true fails", "locally skips"])
def test_a_missing_engine_fails_under_ci_and_skips_only_locally(monkeypatch, tmp_path: Path, ci: str, outcome):
    monkeypatch.setattr(e2e_helpers, "bin_dir", lambda: tmp_path)  # no .complete marker: not built
    monkeypatch.setenv("CI", ci)
    try:
        e2e_helpers.engine_bin()
    except BaseException as raised:  # a skip raised here must fail this test, not skip it
        assert type(raised) is outcome and "the engine is not built" in str(raised)
    else:
        pytest.fail("engine_bin() returned without an engine")

