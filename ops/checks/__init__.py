"""The plan's checks, in the order they run. Each layer adds its own tier here."""

from ops.checks import kubernetes_schema
from ops.checks.base import Check

ALL_CHECKS: list[Check] = [
    Check("T3", "kubernetes-schema", kubernetes_schema.check),
]
