"""The plan's checks, in the order they run (by tier). Each layer adds its own check here."""

from ops.checks import checkov, helm_charts, kubernetes_schema, pod_security, policy, promtool
from ops.checks.base import Check

ALL_CHECKS: list[Check] = [
    Check("T2", "helm-charts-pinned", helm_charts.check),
    Check("T3", "kubernetes-schema", kubernetes_schema.check),
    Check("T4", "policy-pack", policy.check),
    Check("T5", "checkov", checkov.check),
    Check("T5", "pod-security-restricted", pod_security.check),
    Check("T6", "promtool", promtool.check),
]
