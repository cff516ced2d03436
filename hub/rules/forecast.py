"""Crowding forecast: a zone whose forecast occupancy (p50) reaches ``ratio`` of its capacity within the
next ``horizon_min`` minutes."""

from __future__ import annotations

import datetime as dt

from hub.rules.base import Rule, RuleContext, RuleFamily, Setting, Signal


def evaluate(ctx: RuleContext) -> list[Signal]:
    """Each zone of ``ctx.site`` with a forecast in ``ctx.forecasts``."""
    forecasts, site, now = ctx.forecasts, ctx.site, ctx.now
    if site is None:
        return []
    rule = ctx.rules.rule("crowding_forecast")
    horizon = now + rule["horizon_min"] * 60
    out = []
    for zone in site.zones:
        buckets = forecasts.get(zone.id)
        if buckets is None:
            continue
        peak = None
        for b in buckets:
            start = dt.datetime.fromisoformat(str(b["start"])).timestamp()
            if start < horizon and start + 3600 > now and (peak is None or b["p50"] > peak["p50"]):
                peak = b
        limit = rule["ratio"] * zone.capacity
        active = peak is not None and float(peak["p50"]) >= limit
        detail = {"capacity": zone.capacity, "limit": limit}
        if peak is not None:
            detail.update(start=peak["start"], p50=peak["p50"], p90=peak.get("p90"))
        out.append(Signal("crowding_forecast", zone.id, active, zone=zone.id, kind="zone", detail=detail))
    return out


FAMILY = RuleFamily("forecast", evaluate=evaluate, rules=(
    Rule("crowding_forecast", "warning", "forecast p50 occupancy reaching ratio x capacity within horizon_min",
         dispatch=True, settings=(
             Setting("ratio", 0.9, "fraction of the zone's capacity"),
             Setting("horizon_min", 60.0, "how far ahead to look (minutes)"),
         )),
))
