"""The committed price table loads, and bad price-table data is refused naming the file, the key and what
is allowed (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops.cost.price_table import DEFAULT_PRICE_TABLE, PriceTableError, load_price_table
from tests.cost_helpers import plan_with


def test_the_committed_table_prices_the_supported_regions():
    table = load_price_table()
    assert {"us-east-1", "us-west-2", "eu-west-1"} <= set(table.regions)
    for region in table.regions.values():
        assert region.instances["m6i.xlarge"].unit == "hour"  # the stacks' node type
        assert all(price.offer and price.read for price in region.prices.values())


def broken_table(tmp_path: Path, change) -> Path:
    document = yaml.safe_load(DEFAULT_PRICE_TABLE.read_text())
    change(document)
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _set(path: list[str], value):
    def change(document):
        node = document
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return change


BAD_TABLES = [
    (_set(["regions", "us-east-1", "nlbHour", "usd"], -0.02),
     "regions.us-east-1.nlbHour.usd = -0.02: allowed: a number >= 0"),
    (_set(["regions", "us-east-1", "nlbHour", "usd"], "cheap"), "regions.us-east-1.nlbHour.usd = 'cheap'"),
    (_set(["regions", "eu-west-1", "natGatewayDataGb", "unit"], "hour"),
     "regions.eu-west-1.natGatewayDataGb.unit = 'hour': allowed: 'GB'"),
    (_set(["regions", "us-west-2", "kmsKeyMonth", "read"], KeyError),
     "regions.us-west-2.kmsKeyMonth: allowed keys usd, unit, offer, read; missing ['read']"),
    (_set(["regions", "us-west-2", "eksClusterHour"], KeyError), "regions.us-west-2.eksClusterHour: missing"),
    (_set(["regions", "us-east-1", "instanceHour", "m6i.xlarge", "read"], "last week"),
     "regions.us-east-1.instanceHour.m6i.xlarge.read = 'last week': allowed: the date the price was read"),
    (_set(["currency"], "EUR"), "currency = 'EUR': allowed: 'USD'"),
    (_set(["hoursPerMonth"], 720.5), "hoursPerMonth = 720.5"),
]


@pytest.mark.parametrize(("change", "message"), BAD_TABLES, ids=[message.split(":")[0] for _, message in BAD_TABLES])
def test_bad_price_table_data_is_refused_naming_the_key(tmp_path, change, message):
    path = broken_table(tmp_path, change)
    with pytest.raises(PriceTableError) as refused:
        load_price_table(path)
    assert message in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_bad_price_table_stops_the_plan_with_exit_2_and_writes_nothing(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("regions: [unclosed\n")
    outcome, printed = plan_with(tmp_path / "plan", price_table=path)
    assert outcome.exit_code == 2
    assert f"price table {path}: refused" in printed and "not valid YAML at line 2" in printed
    assert not (tmp_path / "plan").exists()


