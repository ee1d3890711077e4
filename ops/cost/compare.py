"""`ops plan --compare BASE_PLAN_JSON`: what a change does to the monthly cost, item by item.

Lines are matched by (resource type, name, item); an item only in the base is removed, only in this plan
added. Amounts are compared in Decimal cents, so the differences add up to the change of the total.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

from ops.stackconfig import UsageError

Key = tuple[str, str, str]


def load_base_cost(path: Path) -> Optional[dict[str, Any]]:
    """The `cost` of a plan.json written earlier; None for a plan made before `cost` existed. A file that is
    not a plan.json is a usage error (exit 2), found before anything is planned or written."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as error:
        raise UsageError(f"--compare {path}: cannot read the base plan ({error.strerror})") from None
    except ValueError as error:
        raise UsageError(f"--compare {path}: not JSON ({error}); allowed: a plan.json written by `ops plan`") from None
    if not isinstance(document, dict) or "resources" not in document:
        raise UsageError(f"--compare {path}: allowed: a plan.json written by `ops plan` (no `resources` in it)")
    cost = document.get("cost")
    if cost is not None and not (isinstance(cost, dict) and isinstance(cost.get("lines"), list)):
        raise UsageError(f"--compare {path}: its `cost` has no `lines` list; "
                         "allowed: a plan.json written by `ops plan`")
    return cost


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _by_item(cost: Optional[dict[str, Any]]) -> dict[Key, Decimal]:
    items: dict[Key, Decimal] = {}
    for line in (cost or {}).get("lines", []):
        key = (line["type"], line["name"], line["item"])
        items[key] = items.get(key, Decimal("0.00")) + _cents(line["monthly"])
    return items


def compare_costs(base: Optional[dict[str, Any]], current: dict[str, Any]) -> dict[str, Any]:
    """Every item whose monthly amount differs, with both amounts (None where absent), and the totals."""
    before, after = _by_item(base), _by_item(current)
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        change = (new or Decimal(0)) - (old or Decimal(0))
        if change != 0:
            rows.append({"type": key[0], "name": key[1], "item": key[2],
                         "base": None if old is None else float(old), "current": None if new is None else float(new),
                         "change": float(change)})
    notes: list[str] = []
    base_total = None if base is None else base.get("monthlyTotal")
    total = current.get("monthlyTotal")
    if base is None:
        notes.append("the base plan has no cost (made before `ops plan` priced plans): every item counts as added")
    elif base.get("region") != current.get("region"):
        notes.append(f"region changed: {base.get('region')} -> {current.get('region')}")
    for side, cost in (("base", base), ("this", current)):
        if cost is not None and cost.get("monthlyTotal") is None:
            notes.extend(f"{side} plan: {note}" for note in cost.get("notes", []))
    if base is not None and base.get("priceListDate") != current.get("priceListDate"):
        notes.append(f"price list date changed: {base.get('priceListDate')} -> {current.get('priceListDate')}")
    unchanged = sum(1 for key in set(before) & set(after) if before[key] == after[key])
    total_change: Optional[float] = None
    if total is not None and (base is None or base_total is not None):
        total_change = float(_cents(total) - (_cents(base_total) if base_total is not None else Decimal(0)))
    return {"currency": current.get("currency", "USD"), "baseTotal": base_total, "total": total,
            "change": total_change, "rows": rows, "unchanged": unchanged, "notes": notes}
