"""Zone crowding: occupancy against capacity, raised after it stays at or above ``raise_ratio`` for
``min_duration_s``, cleared when it falls to ``clear_ratio`` or below (hysteresis in between)."""

from __future__ import annotations

from typing import Any

from hub.rules.base import Rule, RuleContext, RuleFamily, RuleSet, Setting, Signal
from hub.state import ZoneState


def level(zone: ZoneState, rules: RuleSet, crowded: bool) -> str:
    """normal / busy / crowded, as the console colours a zone."""
    if crowded:
        return "crowded"
    if zone.occupancy is not None and zone.occupancy >= rules.rule("zone_crowded")["busy_ratio"] * zone.capacity:
        return "busy"
    return "normal"


def evaluate(ctx: RuleContext) -> list[Signal]:
    """Check one zone, ``ctx.zone`` (on a new reading, and on every tick for the minimum duration)."""
    zone, now, rules = ctx.zone, ctx.now, ctx.rules
    if zone is None or zone.occupancy is None or zone.capacity <= 0:
        return []
    rule = rules.rule("zone_crowded")
    ratio = zone.occupancy / zone.capacity
    detail = {"occupancy": zone.occupancy, "capacity": zone.capacity, "ratio": round(ratio, 3)}
    base: dict[str, Any] = dict(source=zone.id, zone=zone.id, kind="zone", detail=detail)
    if ratio >= rule["raise_ratio"]:
        if zone.crowd_since is None:
            zone.crowd_since = now
        if now - zone.crowd_since >= rule["min_duration_s"]:
            return [Signal("zone_crowded", active=True, **base)]
        return []
    if ratio <= rule["clear_ratio"]:
        zone.crowd_since = None
        return [Signal("zone_crowded", active=False, **base)]
    return []


def _hysteresis(rule: dict[str, Any]) -> str | None:
    return "clear_ratio must not exceed raise_ratio (hysteresis)" if rule["clear_ratio"] > rule["raise_ratio"] else None


FAMILY = RuleFamily("crowding", evaluate=evaluate, rules=(
    Rule("zone_crowded", "major", "occupancy / capacity of a zone", dispatch=True, check=_hysteresis, settings=(
        Setting("raise_ratio", 0.9, "raise at this fraction of capacity ..."),
        Setting("clear_ratio", 0.75, "clear at this fraction or below (hysteresis)"),
        Setting("min_duration_s", 120.0, "... held for this long (s)"),
        Setting("busy_ratio", 0.7, "the zone shows busy from this fraction"),
    )),
))
