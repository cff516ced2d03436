"""Operations KPIs computed from the hub database: waits, device faults, tickets, dispatches.

mtta_s: mean time from an alarm being raised to its acknowledgement; mttr_s: mean time from a ticket being
opened to its resolution; fault_rate: share of a kind's devices that had an equipment fault alarm today
(local day; hub.reliability defines it; the target is rules.fault_rate_high.target, 5% by default); sla_breaches: tickets answered or repaired after their due
time (or still open past it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.core import Hub
from hub.reliability import equipment_fault_types, fault_rates
from hub.tickets import REMOVED_RESOLUTION


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
    first_offer = {r["request_id"]: r["created_at"] for r in disp if r["request_id"] is not None}
    for r in disp:
        first_offer[r["request_id"]] = min(first_offer.get(r["request_id"], r["created_at"]), r["created_at"])
    accepted = [r["answered_at"] - first_offer[r["request_id"]] for r in disp if r["answered_at"] is not None
                and r["state"] in ("accepted", "completed")]
    completed = [r["completed_at"] - first_offer[r["request_id"]] for r in disp if r["completed_at"] is not None]
    finished = [r for r in disp if r["state"] != "offered"]
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
        "open_tickets": db.one("SELECT COUNT(*) FROM tickets WHERE state != 'resolved'")[0],
        "sla_breaches": breaches[0] if breaches else 0,
        "open_dispatches": db.one("SELECT COUNT(*) FROM dispatches WHERE state IN ('offered','accepted')")[0],
        "active_alarms": len(hub.alarms.open),
        "mtta_s": _mean(mtta),
        "mttr_s": _mean(mttr),
        "dispatch_time_to_accept_s": _mean(accepted),
        "dispatch_time_to_complete_s": _mean(completed),
        "dispatch_expired_share": round(len(expired) / len(finished), 4) if finished else 0.0,
    }
