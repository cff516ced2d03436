"""Operations KPIs computed from the hub database: waits, device faults, tickets, dispatches.

mtta_s: mean time from an alarm being raised to its acknowledgement; mttr_s: mean time from a ticket being
opened to its resolution; fault_rate: share of a kind's devices that had an equipment fault alarm today
(local day; hub.reliability defines it; the target is rules.fault_rate_high.target, 5% by default); sla_breaches: tickets answered or repaired after their due
time (or still open past it).

Dispatch (issue #15): time to accept and time to arrive are measured from the job's start (a person's
request: when it was raised, so the wait for a free person counts; a device job: its first offer) to the
first acceptance and to the arrival confirmed on the phone, for the jobs started in that date's shifts,
overall and per shift (``night`` is hub.requests settings ``night_shift``, site local time; the rest is
``day``). A night shift is one shift across midnight: the date's night runs into the next morning, and the
date's own small hours belong to the night before (``shift_of``). night_emergency_timeout_rate: the share of
emergencies raised in that night shift whose arrival came after their target (or that are past it and
nobody has arrived yet).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from hub.core import Hub
from hub.db import Database
from hub.reliability import equipment_fault_types, fault_rates
from hub.requests import in_shift
from hub.roster import shift_bounds
from hub.tickets import REMOVED_RESOLUTION


def count(db: Database, sql: str) -> int:
    """A ``SELECT COUNT(*)``'s number (an aggregate always has its one row)."""
    row = db.one(sql)
    return int(row[0]) if row is not None else 0


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def compute(hub: Hub, day: dt.date | None = None) -> dict[str, Any]:
    db, now = hub.db, hub.clock.now()
    local_now = dt.datetime.fromtimestamp(now, hub.tz)
    day = day or local_now.date()
    start = dt.datetime.combine(day, dt.time(), hub.tz).timestamp()
    end = start + 86400
    mtta = [r[0] for r in db.all("SELECT acked_at - raised_at FROM alarms WHERE acked_at IS NOT NULL "
                                 "AND raised_at >= ? AND raised_at < ?", (start, end))]
    mttr = [r[0] for r in db.all("SELECT resolved_at - opened_at FROM tickets WHERE resolved_at IS NOT NULL "
                                 "AND resolution != ? AND opened_at >= ? AND opened_at < ?",
                                 (REMOVED_RESOLUTION, start, end))]
    rates = fault_rates(db, equipment_fault_types(hub.rules.settings),
                        {d.id: d.kind for d in hub.state.devices.values()}, start, end)
    fault_rate = {k: round(f / n, 4) for k, (f, n) in rates.items()}
    faulted_total = sum(f for f, _ in rates.values())
    total_devices = sum(n for _, n in rates.values())
    breaches = db.one(
        "SELECT COUNT(*) FROM tickets WHERE opened_at >= ? AND opened_at < ? AND ("
        "COALESCE(accepted_at, resolved_at, ?) > respond_due_at OR COALESCE(resolved_at, ?) > due_at)",
        (start, end, now, now),
    )
    disp = db.all("SELECT state, created_at, answered_at, completed_at, request_id FROM dispatches "
                  "WHERE created_at >= ? AND created_at < ?", (start, end))
    measured = _dispatch_times(hub, day, start, end)
    first_offer = {r["request_id"]: r["created_at"] for r in disp if r["request_id"] is not None}
    for r in disp:
        first_offer[r["request_id"]] = min(first_offer.get(r["request_id"], r["created_at"]), r["created_at"])
    accepted = [r["answered_at"] - first_offer[r["request_id"]] for r in disp if r["answered_at"] is not None
                and r["state"] in ("accepted", "arrived", "completed")]
    completed = [r["completed_at"] - first_offer[r["request_id"]] for r in disp if r["completed_at"] is not None]
    # A withdrawn offer (taken back for an emergency) was neither answered nor left to expire: not counted.
    finished = [r for r in disp if r["state"] not in ("offered", "withdrawn")]
    expired = [r for r in finished if r["state"] == "expired"]
    waiting_now = sum(q.waiting for q in hub.state.queues.values())
    waits = [(q.avg_wait_s, q.waiting) for q in hub.state.queues.values() if q.at is not None]
    total_w = sum(w for _, w in waits)
    avg_wait = (sum(a * w for a, w in waits) / total_w) if total_w else (_mean([a for a, _ in waits]) or 0.0)
    return {
        "day": day.isoformat(),
        "waiting_now": waiting_now,
        "avg_wait_s": round(avg_wait, 1),
        "devices_faulted": sum(1 for d in hub.state.devices.values() if d.state in ("fault", "offline")),
        "fault_rate": round(faulted_total / total_devices, 4) if total_devices else 0.0,
        "fault_rate_by_kind": fault_rate,
        "fault_rate_target": hub.rules.rule("fault_rate_high")["target"],
        "open_tickets": count(db, "SELECT COUNT(*) FROM tickets WHERE state != 'resolved'"),
        "sla_breaches": breaches[0] if breaches else 0,
        "open_dispatches": count(db, "SELECT COUNT(*) FROM dispatches WHERE state IN ('offered','accepted','arrived')"),
        "active_alarms": len(hub.alarms.open),
        "mtta_s": _mean(mtta),
        "mttr_s": _mean(mttr),
        "dispatch_time_to_accept_s": _mean(accepted),
        "dispatch_time_to_complete_s": _mean(completed),
        "dispatch_expired_share": round(len(expired) / len(finished), 4) if finished else 0.0,
        **measured,
    }


def shift_of(ts: float, tz: ZoneInfo, night: str) -> tuple[dt.date, str]:
    """The shift ``ts`` falls in: ("day" or "night", and the date the shift began). A night shift that
    crosses midnight ("20:00-08:00") is one shift: its small hours belong to the evening before."""
    local = dt.datetime.fromtimestamp(ts, tz)
    if not in_shift(ts, tz, night):
        return local.date(), "day"
    start, _ = shift_bounds(night)
    return (local.date() - dt.timedelta(days=1) if local.time() < start else local.date()), "night"


def _dispatch_times(hub: Hub, day: dt.date, start: float, end: float) -> dict[str, Any]:
    """Time to accept and to arrive, overall and per shift, and the night emergency timeout rate, for the
    shifts that began on ``day`` (its day shift, and its night shift into the next morning)."""
    db, now, settings = hub.db, hub.clock.now(), hub.requests.settings
    night = settings["night_shift"]
    rows = db.all(
        "SELECT COALESCE(r.raised_at, MIN(d.created_at)) AS started, MIN(d.answered_at) "
        "FILTER (WHERE d.state IN ('accepted','arrived','completed')) AS accepted, MIN(d.arrived_at) AS arrived "
        "FROM dispatches d LEFT JOIN requests r ON r.id = d.service_request "
        "GROUP BY d.request_id HAVING started >= ? AND started < ?", (start, end + 86400))
    shifts: dict[str, dict[str, list[float]]] = {s: {"accept": [], "arrive": []} for s in ("all", "day", "night")}
    for r in rows:
        began, shift = shift_of(r["started"], hub.tz, night)
        if began != day:
            continue
        for step, col in (("accept", "accepted"), ("arrive", "arrived")):
            if r[col] is not None:
                shifts["all"][step].append(r[col] - r["started"])
                shifts[shift][step].append(r[col] - r["started"])
    emergencies = [e for e in db.all("SELECT raised_at, due_at, answered_at FROM requests WHERE kind='emergency' "
                                     "AND raised_at >= ? AND raised_at < ?", (start, end + 86400))
                   if shift_of(e["raised_at"], hub.tz, night) == (day, "night")
                   and (e["answered_at"] is not None or now > e["due_at"])]
    late = [e for e in emergencies if (e["answered_at"] if e["answered_at"] is not None else now) > e["due_at"]]
    tiles = hub.requests.tiles()
    return {
        "dispatch_time_to_arrive_s": _mean(shifts["all"]["arrive"]),
        "dispatch_by_shift": {s: {"time_to_accept_s": _mean(shifts[s]["accept"]),
                                  "time_to_arrive_s": _mean(shifts[s]["arrive"])} for s in ("day", "night")},
        "night_shift": night,
        "night_emergency_calls": len(emergencies),
        "night_emergency_timeout_rate": round(len(late) / len(emergencies), 4) if emergencies else None,
        "night_emergency_timeout_target": 0.10,
        "requests_open": sum(t["open"] for t in tiles.values()),
        "requests_overdue": sum(t["overdue"] for t in tiles.values()),
    }
