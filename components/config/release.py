"""`release`: the two colours, the canary weight and steps, soak timings, the gates `ops promote` judges by,
and the audit trail of its decisions (GateVerdict, Verdict) kept in `release.history`.
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from components.config.errors import FieldError
from components.config.validators import StrictModel, check_duration, check_image, duration_seconds, has_digest

COLORS = ("blue", "green")
Color = Literal["blue", "green"]


class ColorConfig(StrictModel):
    image: str
    replicas: int = Field(default=3, ge=0, le=50)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return check_image(value)


class GatesConfig(StrictModel):
    """Thresholds `ops promote` judges each canary step by (queries: components/prometheus_rules.py)."""

    maxErrorRatio: float = Field(default=0.01, ge=0, le=1, description="canary 5xx share, absolute")
    maxErrorRatioVsStable: float = Field(
        default=0.005, ge=0, le=1, description="how far the canary's 5xx share may exceed the stable colour's"
    )
    maxP95Latency: str = Field(default="500ms", description="canary p95 request duration")
    minRequests: int = Field(default=100, ge=1, le=10_000_000, description="canary requests per gate window")
    interval: str = Field(default="30s", description="how often gates are evaluated while soaking")
    maxExtensions: int = Field(default=3, ge=0, le=20, description="soak extensions on missing data before failing")
    holdOnPageAlerts: bool = Field(
        default=True,
        description="hold every step while a page-severity alert of our SLO rules fires (then fail closed)",
    )

    @field_validator("maxP95Latency", "interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        return check_duration(value)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        # `ops promote` waits one interval between evaluations: under 1s it would spin through its action budget.
        if duration_seconds(value) < 1:
            raise ValueError("allowed: at least 1s")
        return value


class GateVerdict(StrictModel):
    gate: Literal["requests", "errorRatio", "errorRatioVsStable", "p95Latency", "pageAlerts", "smoke"]
    status: Literal["pass", "fail", "nodata", "skip", "hold"]
    query: str = ""
    value: Optional[float] = None
    threshold: Optional[float] = None
    samples: Optional[float] = None
    reason: str = ""  # why a gate was skipped (e.g. no stable traffic to compare with at weight 100)


_ISO_TIME_RE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


class Verdict(StrictModel):
    """One decision of `ops promote`, written with the `up` that carries it out (the stack's audit trail)."""

    time: str
    activeColor: Color
    weight: int = Field(ge=0, le=100)
    decision: Literal["start", "advance", "flip", "done", "rollback", "reconcile", "revive"]
    image: str = ""  # the candidate image being released
    stableImage: str = ""  # the image it replaces
    # Where the decision sends traffic (activeColor/weight above are where it stood): an interrupted
    # promote is recognised by config = outputs + one verdict whose target is the config.
    targetColor: Optional[Color] = None
    targetWeight: Optional[int] = Field(default=None, ge=0, le=100)
    reason: str = ""
    extensions: int = Field(default=0, ge=0, le=100)
    gates: list[GateVerdict] = Field(default_factory=list)
    # `done` that retired the previous colour (release.retire): the replicas it had, which a rollback or the next
    # release revives it with. `revive`: the replicas it was given back.
    replicas: Optional[int] = Field(default=None, ge=1, le=50)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _ISO_TIME_RE.match(value):
            raise ValueError("allowed: an ISO 8601 UTC time such as 2025-01-31T12:00:00Z")
        return value


MAX_HISTORY = 50


class ReleaseConfig(StrictModel):
    activeColor: Color = "blue"
    canaryWeight: int = Field(default=0, ge=0, le=100)
    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100], min_length=1)
    blue: ColorConfig
    green: ColorConfig
    soak: str = Field(default="5m", description="how long each canary step is watched before the next")
    stabilization: str = Field(default="15m", description="how long the new colour is watched after the flip")
    retire: Literal["afterStabilization", "manual"] = Field(
        default="afterStabilization",
        description="scale the previous colour to 0 with the final up of a release (the plan's), or leave it to you",
    )
    gates: GatesConfig = Field(default_factory=GatesConfig)
    requireDigest: bool = Field(
        default=False,
        description="both colours' images must carry an @sha256 digest (what a scan result is tied to); the policy "
                    "pack's images-digest-required enforces it on the API Deployments",
    )
    history: list[Verdict] = Field(default_factory=list, max_length=MAX_HISTORY)

    @field_validator("soak", "stabilization")
    @classmethod
    def _release_duration(cls, value: str) -> str:
        return check_duration(value)

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[int]) -> list[int]:
        if any(not 1 <= step <= 100 for step in steps):
            raise ValueError("allowed: weights between 1 and 100")
        if steps != sorted(set(steps)):
            raise ValueError("allowed: strictly increasing weights")
        if steps[-1] != 100:
            raise ValueError("allowed: a list ending at 100 (the last step sends all traffic before the flip)")
        return steps

    @model_validator(mode="after")
    def _timings_cover_an_interval(self) -> "ReleaseConfig":
        # Gates are evaluated every gates.interval: a soak or stabilization shorter than that is never watched.
        for key in ("soak", "stabilization"):
            value = getattr(self, key)
            if duration_seconds(value) < duration_seconds(self.gates.interval):
                raise FieldError(key, value, f"allowed: at least release.gates.interval ({self.gates.interval})")
        return self

    @model_validator(mode="after")
    def _digests_when_required(self) -> "ReleaseConfig":
        if self.requireDigest:
            for color in COLORS:
                image = self.color(color).image
                if not has_digest(image):
                    raise FieldError(f"{color}.image", image,
                                     "allowed with requireDigest: true: an image pinned by digest, "
                                     "name:tag@sha256:<64 hex> or name@sha256:<64 hex>")
        return self

    @model_validator(mode="after")
    def _weight_is_a_step(self) -> "ReleaseConfig":
        if self.canaryWeight != 0 and self.canaryWeight not in self.steps:
            raise FieldError(
                "canaryWeight", self.canaryWeight, f"allowed: 0 or one of release.steps {self.steps}"
            )
        return self

    @property
    def canary_color(self) -> Color:
        return "green" if self.activeColor == "blue" else "blue"

    def color(self, name: str) -> ColorConfig:
        return self.blue if name == "blue" else self.green
