"""Wheelchair low stock: a station's charged chairs below ``min_available`` (at most its slots); cleared
once it holds ``min_available + clear_margin`` (at most its slots).

The alarm is about the station's stock, not a fault of the device: its source is the station, its
device_id empty, so the charger's state stays "online" and no repair ticket is opened."""

from __future__ import annotations

from typing import Container

from floorops.topics import EdgeRecord
from hub.rules.base import Signal
from hub.rules.config import RuleSet
from hub.wheelchairs import Stock

RULE = "wheelchair_low_stock"


def signals(rec: EdgeRecord, stock: Stock | None, rules: RuleSet, open_: Container[tuple[str, str]]) -> list[Signal]:
    if stock is None or stock.slots == 0:
        return []
    rule = rules.rule(RULE)
    low = min(rule["min_available"], stock.slots)
    clear_at = min(rule["min_available"] + rule["clear_margin"], stock.slots)
    detail = {"station": rec.device_id, "charged": stock.charged, "docked": stock.docked, "slots": stock.slots,
              "min_available": low}
    sig = dict(source=rec.device_id, kind=rec.kind, zone=rec.zone, device_ts=int(rec.ts or 0), detail=detail)
    if stock.charged < low:
        return [Signal(RULE, active=True, **sig)]
    if (rec.device_id, RULE) in open_ and stock.charged >= clear_at:
        return [Signal(RULE, active=False, **sig)]
    return []
