"""The policy pack's tolerant number reader: a misshapen value reads as absent, never raises (the pack judges any
stack's objects, and a raising rule is reported as "could not run")."""

from __future__ import annotations

import pytest

from policies.k8s import to_int


@pytest.mark.parametrize(("value", "expected"), [
    (25, 25), (25.0, 25), (25.5, None), ("25", 25), (" 25 ", 25), ("-3", -3), (True, None), (None, None),
    ("--5", None), ("²", None), ("X5", None), ("5-", None), ("", None),
])
def test_to_int_reads_numbers_and_refuses_the_rest_without_raising(value, expected):
    assert to_int(value) == expected
