"""Long waits: a queue's average wait or its waiting count above its limits, cleared only once both are
back below ``clear_factor`` of the limits (hysteresis).

The limits in force for a queue at a time of day, later ones winning: the rule's own, its zone kind's
(``zone_kinds``: the hospital's "30 people or 25 minutes" at registration and payment), the queue's
(``queues``), then the first of ``periods`` (limits by time of day) that covers the minute and names the
queue, its zone kind, or nothing (every queue).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.rules.base import Rule, RuleContext, RuleFamily, RuleSet, Setting, Signal, record_of

LIMITS = ("max_avg_wait_s", "max_waiting")

# The hospital's words: over 30 people or 25 minutes' wait at registration and payment is too long.
REGISTRATION_AND_PAYMENT_WAIT: dict[str, dict[str, float]] = {
    k: {"max_avg_wait_s": 1500.0, "max_waiting": 30.0} for k in ("registration", "payment")}


def _minute_of(hh_mm: str) -> int:
    """Minutes after midnight of a validated "HH:MM" (hub.rules.config.hhmm checked it)."""
    return int(hh_mm[:2]) * 60 + int(hh_mm[3:])


def _covers(period: dict[str, Any], minute: int) -> bool:
    start, end = _minute_of(period["from"]), _minute_of(period["to"])
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
            out.update({k: p[k] for k in LIMITS if k in p})
            break
    return out["max_avg_wait_s"], out["max_waiting"]


def thresholds(rules: RuleSet, queue: str, zone_kind: str = "", minute: int = 0) -> tuple[float, float]:
    return limits(rules.rule("long_wait"), queue, zone_kind, minute)


def evaluate(ctx: RuleContext) -> list[Signal]:
    """A queue screen's reading of ``ctx.queue`` (the hub has applied it to the queue's live state). With
    ``ctx.site``, the limits of the record's zone kind and of the site's local time of ``ctx.now`` apply."""
    rec, rules, queue = record_of(ctx), ctx.rules, ctx.queue
    if rec.channel != "telemetry" or not queue:
        return []
    waiting, avg = rec.data.get("waiting"), rec.data.get("avg_wait_s")
    if not isinstance(waiting, (int, float)) or not isinstance(avg, (int, float)):
        return []
    zone_kind, minute = "", 0
    if ctx.site is not None:
        zone_id = next((q.zone for q in ctx.site.queues if q.id == queue), rec.zone)
        zone_kind = next((z.kind for z in ctx.site.zones if z.id == zone_id), "")
        local = dt.datetime.fromtimestamp(ctx.now, ctx.site.tz)
        minute = local.hour * 60 + local.minute
    max_avg, max_waiting = thresholds(rules, queue, zone_kind, minute)
    factor = rules.rule("long_wait")["clear_factor"]
    detail = {"queue": queue, "waiting": waiting, "avg_wait_s": avg, "max_avg_wait_s": max_avg,
              "max_waiting": max_waiting}
    sig: dict[str, Any] = dict(source=queue, device_id="", kind="queue", zone=rec.zone, device_ts=int(rec.ts or 0), detail=detail)
    if avg > max_avg or waiting > max_waiting:
        return [Signal("long_wait", active=True, **sig)]
    if avg <= max_avg * factor and waiting <= max_waiting * factor:
        return [Signal("long_wait", active=False, **sig)]
    return []


FAMILY = RuleFamily("waits", per_kind=True, evaluate=evaluate, rules=(
    Rule("long_wait", "minor", "a queue's average wait or waiting count over its limits", dispatch=True,
         settings=(
             Setting("max_avg_wait_s", 2700.0, "raise when the average wait is above this (s), or ..."),
             Setting("max_waiting", 60.0, "... when more people than this are waiting"),
             Setting("clear_factor", 0.8, "clear when both are below this fraction of their limits"),
             Setting("zone_kinds", REGISTRATION_AND_PAYMENT_WAIT, "per zone kind, its own max_avg_wait_s and/or "
                     "max_waiting (over the two above)", type="per_zone_kind", fields=LIMITS),
             Setting("queues", {}, "per queue id, its own max_avg_wait_s and/or max_waiting (over its zone "
                     "kind's)", type="per_queue", fields=LIMITS),
             Setting("periods", [], "limits by time of day (site's local time): from, to (\"HH:MM\"), queues "
                     "and/or zone_kinds (none: every queue), max_avg_wait_s and/or max_waiting; the first "
                     "covering period wins over the above", type="periods", fields=LIMITS),
         )),
))
