"""The cost estimate and the cost change as people read them: tables in the plan's summary, and Markdown for
the pull request comment (cost-diff.md)."""

from __future__ import annotations

from typing import Any, Optional

from rich.console import Console
from rich.table import Table


def money(value: Optional[float], currency: str = "USD", signed: bool = False) -> str:
    if value is None:
        return "—"
    sign = ("+" if value > 0 else "-" if value < 0 else "±") if signed else ("-" if value < 0 else "")
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{abs(value):,.2f}"


def _quantity(value: float | int) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}".rstrip("0").rstrip(".")


def print_cost(console: Console, cost: dict[str, Any]) -> None:
    currency = cost["currency"]
    title = f"monthly cost ({cost['region'] or 'no region'}, price list of {cost['priceListDate'] or '—'}, " \
            f"{cost['hoursPerMonth']} h/month)"
    table = Table(title=title)
    for column, justify in (("resource", "left"), ("item", "left"), ("quantity", "right"), ("unit", "left"),
                            ("unit price", "right"), ("monthly", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for line in cost["lines"]:
        item = f"{line['item']} (assumes {line['assumption']})" if line.get("assumption") else line["item"]
        table.add_row(f"{line['type']} {line['name']}", item, _quantity(line["quantity"]), line["unit"],
                      f"{line['unitPrice']}", money(line["monthly"], currency))
    for skipped in cost["notPriced"]:
        reason = f"{skipped['item']}: {skipped['reason']}" if skipped.get("item") else skipped["reason"]
        table.add_row(f"{skipped['type']} {skipped['name']}", reason, "", "", "", "not priced")
    table.add_row("[bold]total[/bold]", "", "", "", "", f"[bold]{money(cost['monthlyTotal'], currency)}[/bold]")
    console.print(table)
    for note in cost["notes"]:
        console.print(f"cost note: {note}", markup=False, highlight=False)


def print_cost_change(console: Console, change: dict[str, Any], base: str) -> None:
    currency = change["currency"]
    table = Table(title=f"monthly cost change against {base}")
    for column, justify in (("resource", "left"), ("item", "left"), ("base", "right"), ("this plan", "right"),
                            ("change", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in change["rows"]:
        table.add_row(f"{row['type']} {row['name']}", row["item"], money(row["base"], currency),
                      money(row["current"], currency), money(row["change"], currency, signed=True))
    table.add_row("[bold]total[/bold]", f"{change['unchanged']} item(s) unchanged",
                  money(change["baseTotal"], currency), money(change["total"], currency),
                  f"[bold]{money(change['change'], currency, signed=True)}[/bold]")
    console.print(table)
    for note in change["notes"]:
        console.print(f"cost note: {note}", markup=False, highlight=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def cost_change_markdown(change: dict[str, Any], cost: dict[str, Any]) -> str:
    """cost-diff.md: the change per item and the totals, for the pull request comment."""
    currency = change["currency"]
    lines = [
        f"#### Monthly cost: {money(change['total'], currency)} "
        f"({money(change['change'], currency, signed=True)} against the base branch)",
        "",
        f"Region {cost['region'] or '—'}, AWS on-demand prices of {cost['priceListDate'] or '—'} "
        f"({cost['priceTable']}), {cost['hoursPerMonth']} h/month; traffic-dependent items use "
        "`costAssumptions` from the stack config.",
        "",
    ]
    if change["rows"]:
        lines += ["| resource | item | base | this PR | change |", "|---|---|---:|---:|---:|"]
        lines += [f"| `{_cell(row['type'])}` {_cell(row['name'])} | {_cell(row['item'])} | "
                  f"{money(row['base'], currency)} | {money(row['current'], currency)} | "
                  f"{money(row['change'], currency, signed=True)} |" for row in change["rows"]]
        lines += [f"| **total** | {change['unchanged']} item(s) unchanged | {money(change['baseTotal'], currency)} | "
                  f"{money(change['total'], currency)} | **{money(change['change'], currency, signed=True)}** |", ""]
    else:
        lines += ["No item's monthly cost changes.", ""]
    lines += [f"- {note}" for note in change["notes"]]
    lines += [f"- not priced: `{skipped['type']}` {skipped['name']}: {skipped['reason']}"
              for skipped in cost["notPriced"]]
    return "\n".join(lines).rstrip() + "\n"
