"""`traffic`: which router carries public traffic, NGINX rate limits, Istio retries, timeouts and fault delay."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from components.config.validators import StrictModel, check_duration


class TrafficConfig(StrictModel):
    # Which router carries public traffic (the NLB fronts its pods): a name in components/routers/ REGISTRY,
    # checked by the preflight against that one list.
    edge: str = "nginx"
    rateLimitRps: int = Field(default=100, ge=1, le=100000)
    rateLimitConnections: int = Field(default=10, ge=1, le=100000)
    retries: int = Field(default=3, ge=0, le=10)
    perTryTimeout: str = "10s"
    faultDelayPercent: float = Field(default=0.1, ge=0, le=100)
    faultDelay: str = "5s"

    @field_validator("perTryTimeout", "faultDelay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str:
        return check_duration(str(value))
