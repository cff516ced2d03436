"""Long waits: a queue's average wait or its waiting count above its limits, cleared only once both are
back below ``clear_factor`` of the limits (hysteresis).

The limits in force for a queue at a time of day, later ones winning: the rule's own, its zone kind's
(``zone_kinds``: the hospital's "30 people or 25 minutes" at registration and payment), the queue's
(``queues``), then the first of ``periods`` (limits by time of day) that covers the minute and names the
queue, its zone kind, or nothing (every queue). Pure functions: the caller passes the local minute.
"""

from __future__ import annotations

from typing import Any

from floorops.topics import EdgeRecord
from hub.rules.base import Signal
from hub.rules.config import RuleSet, hhmm


def _covers(period: dict[str, Any], minute: int) -> bool:
    start, end = hhmm(period["from"], "from"), hhmm(period["to"], "to")
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end  # past midnight


def limits(rule: dict[str, Any], queue: str, zone_kind: str, minute: int) -> tuple[float, float]:
    """(max_avg_wait_s, max_waiting) for ``queue`` in a zone of ``zone_kind`` at ``minute`` after local
    midnight, from the ``long_wait`` settings ``rule``."""
    out = {"max_avg_wait_s": rule["max_avg_wait_s"], "max_waiting": rule["max_waiting"]}
    out.update(rule.get("zone_kinds", {}).get(zone_kind, {}))
    out.update(rule["queues"].get(queue, {}))
    for p in rule.get("periods", []):
        named = p.get("queues") or p.get("zone_kinds")
        if _covers(p, minute) and (not named or queue in p.get("queues", []) or zone_kind in p.get("zone_kinds", [])):
            out.update({k: p[k] for k in ("max_avg_wait_s", "max_waiting") if k in p})
            break
    return out["max_avg_wait_s"], out["max_waiting"]


def thresholds(rules: RuleSet, queue: str, zone_kind: str = "", minute: int = 0) -> tuple[float, float]:
    return limits(rules.rule("long_wait"), queue, zone_kind, minute)


def signals(rec: EdgeRecord, rules: RuleSet, queue: str, zone_kind: str = "", minute: int = 0) -> list[Signal]:
    """``minute``: the site's local time of day (minutes after midnight) the limits are taken for."""
    if rec.channel != "telemetry" or not queue:
        return []
    waiting, avg = rec.data.get("waiting"), rec.data.get("avg_wait_s")
    if not isinstance(waiting, (int, float)) or not isinstance(avg, (int, float)):
        return []
    max_avg, max_waiting = thresholds(rules, queue, zone_kind, minute)
    factor = rules.rule("long_wait")["clear_factor"]
    detail = {"queue": queue, "waiting": waiting, "avg_wait_s": avg, "max_avg_wait_s": max_avg,
              "max_waiting": max_waiting}
    sig = dict(source=queue, device_id="", kind="queue", zone=rec.zone, device_ts=int(rec.ts or 0), detail=detail)
    if avg > max_avg or waiting > max_waiting:
        return [Signal("long_wait", active=True, **sig)]
    if avg <= max_avg * factor and waiting <= max_waiting * factor:
        return [Signal("long_wait", active=False, **sig)]
    return []
