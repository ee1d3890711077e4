"""T2: every Helm release the program registers names an exact chart version from an https repository.

The config model already refuses unpinned versions it knows about; this looks at what was actually
registered, so a release added in code without a version (Helm then installs the newest) fails too.
"""

from __future__ import annotations

import re
from typing import Any

from components.config import CHART_VERSION_PATTERN
from ops.checks.base import CheckResult, Finding, PlanContext
from ops.runner import Registered

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
# An exact SemVer (optionally v-prefixed): no ranges (^ ~ > x *), no `latest`, never empty. The same
# pattern the config model validates platform.*.version with.
EXACT_VERSION = re.compile(CHART_VERSION_PATTERN)


def release_problems(inputs: dict[str, Any]) -> list[str]:
    problems = []
    version = inputs.get("version")
    if not isinstance(version, str) or not EXACT_VERSION.match(version):
        problems.append(f"chart version {version!r} is not pinned (allowed: an exact version such as 4.11.3)")
    repo = (inputs.get("repositoryOpts") or {}).get("repo")
    chart = inputs.get("chart") or ""
    if not (isinstance(repo, str) and repo.startswith("https://")) and not chart.startswith("oci://"):
        problems.append(f"chart repository {repo!r} is not an https:// or oci:// source")
    return problems


def unpinned_releases(resources: list[Registered]) -> list[Finding]:
    findings = []
    for resource in resources:
        if resource.type == RELEASE_TYPE:
            subject = f"Release/{resource.inputs.get('namespace', '')}/{resource.inputs.get('name', resource.name)}"
            findings += [Finding(subject, message, rule="helm-chart-pinned") for message in release_problems(
                resource.inputs)]
    return findings


def check(context: PlanContext) -> CheckResult:
    releases = context.run.of_type(RELEASE_TYPE)
    findings = unpinned_releases(context.run.resources)
    summary = f"{len(releases) - len({f.subject for f in findings})}/{len(releases)} Helm releases pinned"
    return CheckResult("fail" if findings else "pass", summary, findings)
