"""What a plan check is: a function from the plan's context to a result. Checks are pluggable."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from components.config import DocRagConfig
from ops.runner import RunResult

Status = Literal["pass", "fail", "skip"]


@dataclass
class Finding:
    subject: str  # what it is about: Kind/namespace/name, or a resource name
    message: str
    rule: str = ""
    level: Literal["mandatory", "advisory"] = "mandatory"

    def as_dict(self) -> dict[str, str]:
        return {"subject": self.subject, "rule": self.rule, "level": self.level, "message": self.message}


@dataclass
class CheckResult:
    status: Status
    summary: str
    findings: list[Finding] = field(default_factory=list)
    note: str = ""  # printed beside the check's time (e.g. a cache hit), never written to plan.json

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass
class PlanContext:
    stack: str
    run: RunResult
    config: DocRagConfig
    manifests: list[dict[str, Any]]  # redacted, normalised
    manifest_dir: Path  # one YAML file per object, already written
    work_dir: Path  # scratch space under the plan's output directory


@dataclass(frozen=True)
class Check:
    tier: str  # T3, T4, ...
    name: str
    run: Callable[[PlanContext], CheckResult]
    mandatory: bool = True


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_tool(tool: str, install_hint: str) -> CheckResult:
    """A tool is absent: skipped locally with the reason; under CI a missing tool is a failure."""
    message = f"{tool} not found ({install_hint})"
    if in_ci():
        return CheckResult("fail", f"{message}; CI=true forbids skipping")
    return CheckResult("skip", message)


def find_tool(name: str, extra_dirs: tuple[Path, ...] = ()) -> Optional[str]:
    for directory in extra_dirs:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)
