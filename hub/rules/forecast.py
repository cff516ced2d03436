"""Crowding forecast: a zone whose forecast occupancy (p50) reaches ``ratio`` of its capacity within the
next ``horizon_min`` minutes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from floorops.site import Site
from hub.rules.base import Signal
from hub.rules.config import RuleSet


def signals(forecasts: dict[str, list[dict[str, Any]]], site: Site, now: float, rules: RuleSet) -> list[Signal]:
    rule = rules.rule("crowding_forecast")
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
