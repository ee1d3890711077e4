"""`costAssumptions`: the usage the plan's cost estimate assumes where the program cannot tell."""

from __future__ import annotations

from pydantic import Field

from components.config.validators import StrictModel


class CostAssumptionsConfig(StrictModel):
    """Usage the plan's cost estimate cannot read from the program (ops/cost/estimate.py): what traffic and
    logs a month brings. Stated here, with defaults, so every data-dependent charge shows what it assumed."""

    natDataProcessedGb: float = Field(default=100, ge=0, le=10_000_000,
                                      description="GB per month through all NAT gateways together")
    nlbLcuPerHour: float = Field(default=1, ge=0, le=100_000, description="average load balancer capacity units")
    internetEgressGb: float = Field(default=100, ge=0, le=10_000_000,
                                    description="GB per month the API sends to the internet")
    controlPlaneLogGb: float = Field(default=10, ge=0, le=10_000_000,
                                     description="GB per month of EKS control-plane logs ingested")
