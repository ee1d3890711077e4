"""`ops check` runs the live probes unless --offline is asked: without them a plan that passes would read as a
checked live stack (ops/check.py then exits 1 when every probe it ran was skipped)."""

from __future__ import annotations

from typing import Any

import pytest

import ops.check
from ops.__main__ import main

LIVE = ["pulumi preview", "live drift", "node readiness", "api health", "prometheus health", "grafana health"]


@pytest.mark.parametrize("flags,probes", [([], LIVE), (["--offline"], [])], ids=["live", "offline"])
def test_check_hands_the_live_probes_to_the_check_unless_offline(monkeypatch, flags: list[str], probes: list[str]):
    seen: dict[str, Any] = {}

    def recorded(stack: str, sets: list[str], out: Any, given: list[ops.check.Probe], console: Any) -> int:
        seen.update(stack=stack, probes=[probe.name for probe in given])
        return 0

    monkeypatch.setattr(ops.check, "check", recorded)
    assert main(["check", "-s", "dev", *flags]) == 0
    assert seen == {"stack": "dev", "probes": probes}
