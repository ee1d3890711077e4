"""Shared by the cost tests: the prod stack's total worked out by hand, and ways to plan with overrides."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from ops.plan import PlanOutcome, plan
from tests.conftest import run_plan

# Pulumi.prod.yaml, us-east-1, by hand:
#   EKS control plane           730 h × $0.10                                  =  73.00
#   nodes m6i.xlarge            3 × 730 h × $0.192                             = 420.48
#   node root volumes gp3       3 × 50 GiB × $0.08                             =  12.00
#   NAT gateways                3 × 730 h × $0.045 (32.85 each)                =  98.55
#   NAT data (assumption)       100 GB × $0.045                                =   4.50
#   NAT public IPv4 (EIPs)      3 × 730 h × $0.005 (3.65 each)                 =  10.95
#   NLB hours                   730 h × $0.0225 = 16.425                       =  16.43
#   NLB LCUs (assumption)       1 × 730 h × $0.006                             =   4.38
#   NLB public IPv4             3 public subnets × 730 h × $0.005              =  10.95
#   internet egress (assump.)   100 GB × $0.09                                 =   9.00
#   KMS keys (Secrets, backups) 2 × $1.00                                      =   2.00
#   control-plane logs          10 GB × $0.50 + 10 GB × 90/30 × $0.03          =   5.90
#   postgres volume             100 GiB × $0.08 + (250 − 125) MB/s × $0.04     =  13.00
#   redis volume                10 GiB × $0.08 + 125 MB/s × $0.04              =   5.80
#   prometheus volume           50 GiB × $0.08 + 125 MB/s × $0.04              =   9.00
#   backup bucket, backup vault: storage by the GB backed up, listed as not priced
#                                                                       total  = 695.94
PROD_TOTAL = 695.94


def prod_document(directory: Path) -> dict:
    """plan.json of Pulumi.prod.yaml as it stands (for a module-scoped fixture)."""
    outcome, printed = run_plan(directory, "prod", checks=[])
    assert outcome.exit_code == 0, printed
    return outcome.document


def cost_of(tmp_path: Path, *overrides: str, stack: str = "prod") -> dict:
    outcome, printed = run_plan(tmp_path, stack, overrides, checks=[])
    assert outcome.exit_code == 0, printed
    return outcome.document["cost"]


def plan_with(out: Path, overrides: tuple[str, ...] = (), **options) -> tuple[PlanOutcome, str]:
    """`ops plan` in-process with no checks (the cost does not depend on them) and the given options."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, highlight=False, force_terminal=False)
    outcome = plan("prod", overrides, out, checks=[], console=console, **options)
    return outcome, buffer.getvalue()


def monthly(cost: dict, type_: str, name: str, item: str) -> float:
    matches = [line["monthly"] for line in cost["lines"]
               if (line["type"], line["name"], line["item"]) == (type_, name, item)]
    assert len(matches) == 1, (type_, name, item, cost["lines"])
    return matches[0]
