"""Queue service levels from the calling screens' ticket events: the share of tickets called within the
target wait, no-shows and abandonment, per queue and zone, for a local day.

Each ticket is a row of ``queue_tickets`` (SQLite, written in the batch's transaction), so nothing is
held in memory and a hub restart loses no ticket. A ticket is matched by queue and label: a call takes
the newest uncalled ticket of that label issued at or before it (labels come round again during a day);
a later call of the same ticket (a recall) keeps the first call time. Times are the screen's own (one
device issues and calls, so its clock offset cancels out). A call, a ``ticket_served`` or a
``ticket_no_show`` with no matching ticket (issued before the hub knew the queue) is counted and ignored.

Abandoned: issued, never called, and either older than ``abandon_after_s`` or of a day that is over.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from floorops.site import Site
from hub.db import Database
from hub.rules.base import RuleSet

MATCH_WINDOW_S = 86400.0  # a call matches a ticket issued within the last day
KEEP_DAYS = 400  # a year of tickets, for month-on-month comparison


def target_wait_s(rules: RuleSet, queue: str, zone_kind: str) -> float:
    """The queue's target issue-to-call time: its own, else its zone kind's, else the rule's."""
    rule = rules.rule("service_level_low")
    own = rule["queues"].get(queue, {}).get("target_wait_s")
    if own is not None:
        return float(own)
    return float(rule["zone_kinds"].get(zone_kind, {}).get("target_wait_s", rule["target_wait_s"]))


def local_day(ts: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).date().isoformat()


def record(db: Database, tz: ZoneInfo, event: str, queue: str, zone: str, ticket: str, ts: float) -> str | None:
    """Store one ticket event (inside the caller's transaction). Returns the local day of the ticket it
    applies to (its issue day, which a call after midnight keeps), or None when it matched no ticket."""
    if event == "ticket_issued":
        day = local_day(ts, tz)
        db.execute("INSERT OR IGNORE INTO queue_tickets(queue, ticket, zone, day, issued_at) VALUES (?,?,?,?,?)",
                   (queue, ticket, zone, day, ts))
        return day
    if event == "ticket_called":
        row = db.one("SELECT rowid, day FROM queue_tickets WHERE queue=? AND ticket=? AND called_at IS NULL "
                     "AND issued_at<=? AND issued_at>=? ORDER BY issued_at DESC LIMIT 1",
                     (queue, ticket, ts, ts - MATCH_WINDOW_S))
        if row is None:  # a recall (the first call counts), or no such ticket
            row = db.one("SELECT rowid, day FROM queue_tickets WHERE queue=? AND ticket=? AND called_at IS NOT NULL "
                         "AND called_at<=? AND issued_at>=? ORDER BY issued_at DESC LIMIT 1",
                         (queue, ticket, ts, ts - MATCH_WINDOW_S))
            return None if row is None else str(row[1])
        db.execute("UPDATE queue_tickets SET called_at=? WHERE rowid=?", (ts, row[0]))
        return str(row[1])
    outcome = {"ticket_served": "served", "ticket_no_show": "no_show"}.get(event)
    if outcome is None:
        return local_day(ts, tz)
    row = db.one("SELECT rowid, day FROM queue_tickets WHERE queue=? AND ticket=? AND called_at IS NOT NULL "
                 "AND called_at<=? AND called_at>=? ORDER BY called_at DESC LIMIT 1",
                 (queue, ticket, ts, ts - MATCH_WINDOW_S))
    if row is None:
        return None
    db.execute("UPDATE queue_tickets SET outcome=?, ended_at=? WHERE rowid=?", (outcome, ts, row[0]))
    return str(row[1])


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _finish(c: dict[str, Any]) -> dict[str, Any]:
    c["service_level"] = _ratio(c["within_target"], c["called"])
    c["no_show_rate"] = _ratio(c["no_show"], c["called"])
    c["abandonment_rate"] = _ratio(c["abandoned"], c["issued"])
    c["avg_wait_s"] = round(c.pop("wait_sum_s") / c["called"], 1) if c["called"] else None
    return c


_COUNTS = ("issued", "called", "within_target", "served", "no_show", "abandoned", "waiting", "wait_sum_s")


def queue_counts(db: Database, queue: str, day: str, target_s: float, abandon_before: float) -> dict[str, Any]:
    """Raw counts of one queue's tickets of ``day``: tickets uncalled and issued before ``abandon_before``
    are abandoned, the other uncalled ones still waiting."""
    r = db.one(
        "SELECT COUNT(*), COUNT(called_at), SUM(called_at - issued_at <= ?), SUM(outcome='served'), "
        "SUM(outcome='no_show'), SUM(called_at IS NULL AND issued_at < ?), SUM(called_at IS NULL AND issued_at >= ?), "
        "SUM(called_at - issued_at) FROM queue_tickets WHERE day=? AND queue=?",
        (target_s, abandon_before, abandon_before, day, queue))
    values = list(r) if r is not None else [0] * len(_COUNTS)
    return {k: (v or 0) for k, v in zip(_COUNTS, values, strict=True)}


def compute(db: Database, site: Site, rules: RuleSet, now: float, day: dt.date | None = None) -> dict[str, Any]:
    """Per queue and per zone service levels of ``day`` (default: today, local)."""
    tz = site.tz
    today = dt.datetime.fromtimestamp(now, tz).date()
    day = day or today
    rule = rules.rule("service_level_low")
    # A day that is over has no ticket still waiting: what was never called was abandoned.
    abandon_before = now - rule["abandon_after_s"] if day >= today else float("inf")
    queues: list[dict[str, Any]] = []
    zones: dict[str, dict[str, Any]] = {}
    for q in site.queues:
        zone = site.zone(q.zone)
        target = target_wait_s(rules, q.id, zone.kind)
        c = queue_counts(db, q.id, day.isoformat(), target, abandon_before)
        z = zones.setdefault(q.zone, {"zone": q.zone, "name": zone.name, "name_zh": zone.name_zh,
                                      **{k: 0 for k in _COUNTS}})
        for k in _COUNTS:
            z[k] += c[k]
        queues.append(_finish({"queue": q.id, "zone": q.zone, "name": q.name, "name_zh": q.name_zh,
                               "target_wait_s": target, **c}))
    site_counts = {k: sum(z[k] for z in zones.values()) for k in _COUNTS}
    return {"day": day.isoformat(), "target_share": rule["target_share"], "queues": queues,
            "zones": [_finish(z) for z in zones.values()], "site": _finish(site_counts)}


def prune(db: Database, now: float) -> None:
    db.execute("DELETE FROM queue_tickets WHERE issued_at < ?", (now - KEEP_DAYS * 86400,))
