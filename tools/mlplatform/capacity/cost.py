"""Node prices per pool: on-demand from the instance catalog, spot from the pinned, dated spot price table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ..catalog import Catalog
from ..model import Pool

HOURS_PER_MONTH = 730  # AWS's billing convention for a month (24 x 365 / 12)


@dataclass(frozen=True)
class SpotTable:
    source: str
    date: str
    # region -> instance type -> median price over the region's zones (USD per hour)
    prices: dict[str, dict[str, float]]


@dataclass(frozen=True)
class NodePrice:
    usd_per_hour: float
    basis: str  # "on-demand", "spot (median of N zones)", or "on-demand (no spot price pinned)"


@lru_cache(maxsize=1)
def load_spot_table() -> SpotTable:
    raw: dict[str, Any] = yaml.safe_load(
        resources.files("mlplatform").joinpath("data/spot-prices.yaml").read_text("utf-8")
    )
    prices: dict[str, dict[str, float]] = {}
    for region, table in raw.items():
        if region.startswith("_"):
            continue
        prices[region] = {it: float(statistics.median(row["zones"].values())) for it, row in table.items()}
    return SpotTable(source=" ".join(str(raw["_source"]).split()), date=str(raw["_date"]), prices=prices)


def node_price(pool: Pool, catalog: Catalog, region: str, spot: SpotTable | None = None) -> NodePrice:
    """What one node of the pool costs per hour, by the pool's capacity type."""
    it = catalog.instance_types[pool.planning_instance_type]
    on_demand = it.price_on_demand_usd_per_hour
    if not pool.spot:
        return NodePrice(on_demand, "on-demand")
    spot = spot or load_spot_table()
    price = spot.prices.get(region, {}).get(it.name)
    if price is None:
        return NodePrice(on_demand, f"on-demand (no spot price pinned for {it.name} in {region})")
    return NodePrice(price, f"spot (median over zones, table of {spot.date})")


def monthly(usd_per_hour: float) -> float:
    return usd_per_hour * HOURS_PER_MONTH
