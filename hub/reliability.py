"""Device reliability against the hospital's target ("keep smart-device faults within 5%"): fault rate, MTTR
and MTBF per kind and per device, for a day, an ISO week or a month (docs/api.md, GET /api/kpis/reliability).

Definitions (the same as the daily KPI of hub/kpis.py, which uses ``fault_rates``):

- an *equipment fault* is an alarm of a rule that opens a ticket (``ticket`` true in the rules in force:
  card jam, printer offline, device offline, charger faults ...);
- *fault rate* of a kind over a period: the share of the kind's devices (those the hub has now) that had an
  equipment fault alarm active at any moment of the period;
- a *failure* is a ticket opened in the period (tickets closed because their device was removed are not);
- *MTTR*: mean time from a ticket being opened to its resolution, over the period's resolved tickets;
- *MTBF*: time in service (the period so far, less the time with a ticket open) divided by the failures;
  none without failures;
- per device, *fault rate*: the share of the period's days so far on which it had an equipment fault alarm
  active (one device cannot be a share of devices; averaged over a kind's devices it is the kind's mean
  daily fault rate); *availability*: the share of the period so far without a ticket open.

A *site-wide outage* is not a device fault: when ``device_offline`` alarms are raised for at least
``OUTAGE_SHARE`` of the hub's devices, each within ``OUTAGE_GAP_S`` of the one before (the simulator or the
hospital's network killed, the broker restarted), the devices did not fail, the centre's link to them did.
Those alarms (and their tickets) count neither in the fault rate nor as failures; the offline alarms and
tickets themselves stay, for people to see.

Functions of the database and the device list only (no Hub), so the hub core (the ``fault_rate_high``
alarm) and the KPI routes share them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from hub.db import Database
from hub.tickets import REMOVED_RESOLUTION

PERIODS = ("day", "week", "month")


def equipment_fault_types(rule_settings: Mapping[str, Any]) -> list[str]:
    """The alarm types that count as equipment faults: those whose rule opens a ticket."""
    return [name for name, r in rule_settings["rules"].items() if r.get("ticket")]


def period_bounds(period: str, day: dt.date, tz: ZoneInfo) -> tuple[dt.date, dt.date]:
    """[first day, day after the last) of the day, ISO week (Monday first) or month holding ``day``."""
    if period == "day":
        return day, day + dt.timedelta(days=1)
    if period == "week":
        first = day - dt.timedelta(days=day.weekday())
        return first, first + dt.timedelta(days=7)
    if period == "month":
        first = day.replace(day=1)
        after = (first + dt.timedelta(days=32)).replace(day=1)
        return first, after
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def _epoch(day: dt.date, tz: ZoneInfo) -> float:
    return dt.datetime.combine(day, dt.time(), tz).timestamp()


FaultSpan = tuple[str, float, float | None]  # device id, raised_at, cleared_at (None: still open)
OFFLINE = "device_offline"
OUTAGE_SHARE = 0.8  # of the hub's devices offline together: the site's link, not its devices, failed
OUTAGE_GAP_S = 120.0  # ... each raised within this of the one before (serial devices need a few polls)


def site_outage_alarms(db: Database, devices: Mapping[str, str], start: float, end: float) -> set[int]:
    """Ids of the ``device_offline`` alarms active in [start, end) that belong to a site-wide outage: a run
    of offline alarms, each raised within ``OUTAGE_GAP_S`` of the previous, covering ``OUTAGE_SHARE`` of
    ``devices`` (the devices the hub has now)."""
    if not devices:
        return set()
    active = db.one("SELECT MIN(raised_at) AS t FROM alarms WHERE type=? AND device_id != '' AND raised_at < ? "
                    "AND (cleared_at IS NULL OR cleared_at >= ?)", (OFFLINE, end, start))
    if active is None or active["t"] is None:
        return set()
    need = OUTAGE_SHARE * len(devices)
    # A run reaching the earliest active alarm began at most one gap per device before it.
    rows = db.all("SELECT id, device_id, raised_at FROM alarms WHERE type=? AND device_id != '' AND raised_at >= ? "
                  "AND raised_at < ? ORDER BY raised_at, id",
                  (OFFLINE, active["t"] - len(devices) * OUTAGE_GAP_S, end))
    out: set[int] = set()
    run: list[Any] = []

    def close() -> None:
        if len({r["device_id"] for r in run if r["device_id"] in devices}) >= need:
            out.update(r["id"] for r in run)

    for r in rows:
        if run and r["raised_at"] - run[-1]["raised_at"] > OUTAGE_GAP_S:
            close()
            run = []
        run.append(r)
    close()
    return out


def fault_spans(db: Database, fault_types: list[str], start: float, end: float,
                devices: Mapping[str, str] | None = None) -> list[FaultSpan]:
    """Equipment fault alarms of devices active at some moment of [start, end); with ``devices``, less
    the offline alarms of a site-wide outage (:func:`site_outage_alarms`)."""
    if not fault_types:
        return []
    outage = site_outage_alarms(db, devices, start, end) if devices is not None and OFFLINE in fault_types else set()
    marks = ",".join("?" * len(fault_types))
    return [(r["device_id"], r["raised_at"], r["cleared_at"]) for r in db.all(
        f"SELECT id, device_id, raised_at, cleared_at FROM alarms WHERE device_id != '' AND type IN ({marks}) "
        "AND raised_at < ? AND (cleared_at IS NULL OR cleared_at >= ?)", (*fault_types, end, start))
        if r["id"] not in outage]


def rates_of(spans: list[FaultSpan], devices: Mapping[str, str], start: float,
             end: float) -> dict[str, tuple[int, int]]:
    """kind -> (devices faulted in [start, end), devices of the kind); ``devices``: device id -> kind. A
    device's fault is counted under the kind it has now (only the devices the hub has now count)."""
    per_kind: dict[str, int] = defaultdict(int)
    for kind in devices.values():
        per_kind[kind] += 1
    faulted: dict[str, set[str]] = defaultdict(set)
    for dev in faulted_devices(spans, devices, start, end):
        faulted[devices[dev]].add(dev)
    return {k: (len(faulted.get(k, ())), n) for k, n in sorted(per_kind.items())}


def faulted_devices(spans: list[FaultSpan], devices: Mapping[str, str], start: float, end: float) -> set[str]:
    """The devices (of those the hub has now) with an equipment fault active at some moment of [start, end)."""
    return {dev for dev, raised, cleared in spans
            if dev in devices and raised < end and (cleared is None or cleared >= start)}


def fault_rates(db: Database, fault_types: list[str], devices: Mapping[str, str], start: float,
                end: float) -> dict[str, tuple[int, int]]:
    """kind -> (devices faulted in [start, end), devices of the kind)."""
    return rates_of(fault_spans(db, fault_types, start, end, devices), devices, start, end)


def _rate(faulted: int, total: int) -> float:
    return round(faulted / total, 4) if total else 0.0


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _merged_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length of the union of the intervals (two tickets open at once are one outage)."""
    total, cur_start, cur_end = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_end is None or s > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def report(db: Database, rule_settings: Mapping[str, Any], devices: Mapping[str, str], tz: ZoneInfo, now: float,
           period: str, day: dt.date) -> dict[str, Any]:
    """Fault rate (the period's and each day's), failures, MTTR and MTBF per kind and per device."""
    first, after = period_bounds(period, day, tz)
    start, end = _epoch(first, tz), _epoch(after, tz)
    observed_end = min(end, max(now, start))
    span = observed_end - start
    types = equipment_fault_types(rule_settings)
    target = float(rule_settings["rules"]["fault_rate_high"]["target"])
    spans = fault_spans(db, types, start, end, devices)
    rates = rates_of(spans, devices, start, end)
    outage = site_outage_alarms(db, devices, start, end)

    trend: list[dict[str, Any]] = []
    fault_days: dict[str, int] = defaultdict(int)  # device -> days of the period so far with a fault
    d = first
    while d < after and _epoch(d, tz) <= now:
        day_start, day_end = _epoch(d, tz), _epoch(d + dt.timedelta(days=1), tz)
        day_rates = rates_of(spans, devices, day_start, day_end)
        for dev in faulted_devices(spans, devices, day_start, day_end):
            fault_days[dev] += 1
        faulted, total = sum(f for f, _ in day_rates.values()), sum(n for _, n in day_rates.values())
        trend.append({"date": d.isoformat(), "fault_rate": _rate(faulted, total),
                      "by_kind": {k: _rate(f, n) for k, (f, n) in day_rates.items()}})
        d += dt.timedelta(days=1)

    tickets = db.all("SELECT alarm_id, device_id, opened_at, resolved_at, resolution FROM tickets "
                     "WHERE opened_at < ? AND (resolved_at IS NULL OR resolved_at >= ?) AND "
                     "(resolution IS NULL OR resolution != ?)", (end, start, REMOVED_RESOLUTION))
    failures: dict[str, int] = defaultdict(int)
    repairs: dict[str, list[float]] = defaultdict(list)
    outages: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in tickets:
        dev = t["device_id"]
        if dev not in devices or t["alarm_id"] in outage:
            continue
        if start <= t["opened_at"] < end:
            failures[dev] += 1
            if t["resolved_at"] is not None:
                repairs[dev].append(t["resolved_at"] - t["opened_at"])
        s = max(t["opened_at"], start)
        e = min(t["resolved_at"] if t["resolved_at"] is not None else observed_end, observed_end)
        if e > s:
            outages[dev].append((s, e))

    def mtbf(in_service_s: float, n: int) -> float | None:
        return round(in_service_s / n, 1) if n else None

    device_rows: list[dict[str, Any]] = []
    for dev, kind in sorted(devices.items()):
        down = _merged_length(outages.get(dev, []))
        rate = _rate(fault_days.get(dev, 0), len(trend))
        device_rows.append({"id": dev, "kind": kind, "fault_days": fault_days.get(dev, 0), "days": len(trend),
                            "fault_rate": rate, "over_target": rate > target,
                            "availability": round(1 - down / span, 4) if span > 0 else 1.0,
                            "failures": failures.get(dev, 0),
                            "downtime_s": round(down, 1), "mttr_s": _mean(repairs.get(dev, [])),
                            "mtbf_s": mtbf(span - down, failures.get(dev, 0))})
    by_kind: dict[str, Any] = {}
    for kind, (faulted, total) in rates.items():
        rows = [r for r in device_rows if r["kind"] == kind]
        n_fail = sum(r["failures"] for r in rows)
        by_kind[kind] = {"devices": total, "faulted": faulted, "fault_rate": _rate(faulted, total),
                         "over_target": _rate(faulted, total) > target, "failures": n_fail,
                         "mttr_s": _mean([x for r in rows for x in repairs.get(r["id"], [])]),
                         "mtbf_s": mtbf(sum(span - r["downtime_s"] for r in rows), n_fail)}
    faulted_all, total_all = sum(f for f, _ in rates.values()), sum(n for _, n in rates.values())
    all_fail = sum(r["failures"] for r in device_rows)
    daily = [p["fault_rate"] for p in trend]
    return {
        "period": period, "from": first.isoformat(), "to": (after - dt.timedelta(days=1)).isoformat(),
        "target": target,
        "fault_rate": _rate(faulted_all, total_all),
        "mean_daily_fault_rate": round(sum(daily) / len(daily), 4) if daily else 0.0,
        "failures": all_fail,
        "mttr_s": _mean([x for v in repairs.values() for x in v]),
        "mtbf_s": mtbf(sum(span - r["downtime_s"] for r in device_rows), all_fail),
        "by_kind": by_kind, "devices": device_rows, "trend": trend,
    }
