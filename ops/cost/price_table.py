"""The committed price table (ops/cost/prices.yaml): loaded and checked whole before a plan runs.

A table with a missing price, a wrong unit, a negative amount or no provenance would turn into a wrong
estimate nobody notices, so it is refused (exit 2) with a message naming the file, the key and what is
allowed.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops.stackconfig import UsageError

DEFAULT_PRICE_TABLE = Path(__file__).resolve().parent / "prices.yaml"

# Every region prices each of these, in this unit (a unit mix-up, e.g. per GB for per hour, is refused).
REGION_PRICE_UNITS = {
    "eksClusterHour": "hour",
    "natGatewayHour": "hour",
    "natGatewayDataGb": "GB",
    "publicIpv4Hour": "hour",
    "nlbHour": "hour",
    "nlbLcuHour": "LCU-hour",
    "gp3StorageGbMonth": "GB-month",
    "gp3IopsMonth": "IOPS-month",
    "gp3ThroughputMonth": "MBps-month",
    "internetEgressGb": "GB",
    "kmsKeyMonth": "key-month",
    "logsIngestedGb": "GB",
    "logsStoredGbMonth": "GB-month",
}
INSTANCE_PRICES = "instanceHour"  # instance type -> price per instance-hour
ENTRY_KEYS = {"usd", "unit", "offer", "read"}
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class PriceTableError(UsageError):
    """The price table is unusable; the message names the file and every problem found."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"price table {path}: refused, nothing was planned:\n"
                         + "\n".join(f"  - {problem}" for problem in problems))


@dataclass(frozen=True)
class Price:
    usd: str  # the amount as written (a decimal string), so sums are exact to the cent
    unit: str
    offer: str
    read: str


@dataclass(frozen=True)
class RegionPrices:
    region: str
    prices: dict[str, Price]
    instances: dict[str, Price]

    @property
    def read(self) -> str:
        """The oldest read date of the region's prices: an estimate is as current as its stalest price."""
        return min(price.read for price in [*self.prices.values(), *self.instances.values()])


@dataclass(frozen=True)
class PriceTable:
    path: Path
    currency: str
    hours_per_month: int
    regions: dict[str, RegionPrices]
    no_charge: dict[str, str]  # resource type (or provider prefix ending in ":" or "/") -> why it is free

    def no_charge_reason(self, resource_type: str) -> str | None:
        if resource_type in self.no_charge:
            return self.no_charge[resource_type]
        prefixes = [key for key in self.no_charge if key.endswith((":", "/")) and resource_type.startswith(key)]
        return self.no_charge[max(prefixes, key=len)] if prefixes else None


def _entry(value: Any, where: str, unit: str, problems: list[str]) -> Price | None:
    if not isinstance(value, dict):
        problems.append(f"{where}: allowed: a mapping {{usd, unit: {unit}, offer, read}}")
        return None
    missing, extra = ENTRY_KEYS - set(value), set(value) - ENTRY_KEYS
    if missing or extra:
        problems.append(f"{where}: allowed keys usd, unit, offer, read"
                        + (f"; missing {sorted(missing)}" if missing else "")
                        + (f"; unknown {sorted(extra)}" if extra else ""))
        return None
    usd, read = value["usd"], value["read"]
    count = len(problems)
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or usd < 0:
        problems.append(f"{where}.usd = {usd!r}: allowed: a number >= 0 (US dollars per {unit})")
    if value["unit"] != unit:
        problems.append(f"{where}.unit = {value['unit']!r}: allowed: {unit!r}")
    if not isinstance(value["offer"], str) or not value["offer"].strip():
        problems.append(f"{where}.offer = {value['offer']!r}: allowed: the AWS price list offer code, e.g. AmazonEC2")
    if isinstance(read, datetime.date):
        read = read.isoformat()
    if not isinstance(read, str) or not _DATE_RE.match(read):
        problems.append(f"{where}.read = {read!r}: allowed: the date the price was read, YYYY-MM-DD")
    if len(problems) > count:
        return None
    return Price(usd=repr(float(usd)), unit=unit, offer=value["offer"], read=read)


def _region(name: str, value: Any, problems: list[str]) -> RegionPrices | None:
    where = f"regions.{name}"
    if not isinstance(value, dict):
        problems.append(f"{where}: allowed: a mapping of price name -> entry")
        return None
    unknown = set(value) - set(REGION_PRICE_UNITS) - {INSTANCE_PRICES}
    for key in sorted(unknown):
        problems.append(f"{where}.{key}: unknown price; allowed: {sorted([*REGION_PRICE_UNITS, INSTANCE_PRICES])}")
    prices: dict[str, Price] = {}
    for key, unit in REGION_PRICE_UNITS.items():
        if key not in value:
            problems.append(f"{where}.{key}: missing; every region prices it (US dollars per {unit})")
            continue
        price = _entry(value[key], f"{where}.{key}", unit, problems)
        if price:
            prices[key] = price
    instances: dict[str, Price] = {}
    table = value.get(INSTANCE_PRICES)
    if not isinstance(table, dict) or not table:
        problems.append(f"{where}.{INSTANCE_PRICES}: allowed: a mapping of instance type -> entry (at least one)")
    else:
        for instance_type, entry in table.items():
            price = _entry(entry, f"{where}.{INSTANCE_PRICES}.{instance_type}", "hour", problems)
            if price:
                instances[str(instance_type)] = price
    return RegionPrices(name, prices, instances)


def load_price_table(path: Path = DEFAULT_PRICE_TABLE) -> PriceTable:
    """The table at `path`, checked whole; raises PriceTableError listing every problem."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise PriceTableError(path, [f"cannot read the file ({error.strerror})"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise PriceTableError(path, [f"not valid YAML{where}"]) from None
    if not isinstance(document, dict):
        raise PriceTableError(path, ["allowed: a mapping with currency, hoursPerMonth, regions, noCharge"])
    problems: list[str] = []
    if document.get("currency") != "USD":
        problems.append(f"currency = {document.get('currency')!r}: allowed: 'USD' (AWS list prices)")
    hours: Any = document.get("hoursPerMonth")
    if isinstance(hours, bool) or not isinstance(hours, int) or not 672 <= hours <= 744:
        problems.append(f"hoursPerMonth = {hours!r}: allowed: a whole number of hours in a month, 672-744 "
                        "(AWS uses 730)")
    regions_doc = document.get("regions")
    regions: dict[str, RegionPrices] = {}
    if not isinstance(regions_doc, dict) or not regions_doc:
        problems.append("regions: allowed: a mapping of AWS region -> prices (at least one)")
    else:
        for name, value in regions_doc.items():
            region = _region(str(name), value, problems)
            if region:
                regions[str(name)] = region
    no_charge = document.get("noCharge")
    if not isinstance(no_charge, dict) or not all(isinstance(v, str) and v for v in no_charge.values()):
        problems.append("noCharge: allowed: a mapping of resource type (or prefix) -> why it carries no charge")
        no_charge = {}
    unknown = set(document) - {"currency", "hoursPerMonth", "regions", "noCharge"}
    for key in sorted(unknown):
        problems.append(f"{key}: unknown key; allowed: currency, hoursPerMonth, regions, noCharge")
    if problems:
        raise PriceTableError(path, problems)
    return PriceTable(path, "USD", hours, regions, dict(no_charge))
