"""Wheelchair low stock: a station's charged chairs below ``min_available`` (at most its slots); cleared
once it holds ``min_available + clear_margin`` (at most its slots).

The alarm is about the station's stock, not a fault of the device: its source is the station, its
device_id empty, so the charger's state stays "online" and no repair ticket is opened. (The hub records
the chairs taken and returned from the same readings: hub.wheelchairs.)"""

from __future__ import annotations

from typing import Any

from floorops.kinds import charger
from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal, record_of
from hub.wheelchairs import stock as stock_of

RULE = "wheelchair_low_stock"


def evaluate(ctx: RuleContext) -> list[Signal]:
    """A charger station's reading (``ctx.rec``)."""
    rec = record_of(ctx)
    if rec.channel != "telemetry":
        return []
    rule = ctx.rules.rule(RULE)
    stock = stock_of(rec.data, rule["charged_soc_pct"])
    if stock is None or stock.slots == 0:
        return []
    low = min(rule["min_available"], stock.slots)
    clear_at = min(rule["min_available"] + rule["clear_margin"], stock.slots)
    detail = {"station": rec.device_id, "charged": stock.charged, "docked": stock.docked, "slots": stock.slots,
              "min_available": low}
    sig: dict[str, Any] = dict(source=rec.device_id, kind=rec.kind, zone=rec.zone, device_ts=int(rec.ts or 0), detail=detail)
    if stock.charged < low:
        return [Signal(RULE, active=True, **sig)]
    if (rec.device_id, RULE) in ctx.open and stock.charged >= clear_at:
        return [Signal(RULE, active=False, **sig)]
    return []


FAMILY = RuleFamily("wheelchairs", per_kind=True, evaluate=evaluate, rules=(
    Rule(RULE, "major", "fewer charged wheelchairs at a station than min_available", dispatch=True, settings=(
        Setting("charged_soc_pct", charger.CHARGED_SOC_PCT, "a docked chair counts as charged from this state of charge (%)"),
        Setting("min_available", 2, "raise below this many charged chairs (at most the station's slots) ...",
                type="integer"),
        Setting("clear_margin", 1, "... clear at this many more (at most the station's slots)", type="integer"),
    )),
))
