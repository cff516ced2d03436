"""Wheelchairs as a resource, from the charging stations' slot readings.

Now: per station (a charger device) and for the site, the chairs docked (a slot not ``empty``) and the
chairs charged (docked, not in ``fault``, state of charge at or above ``charged_soc_pct``). A slot that
goes from occupied to ``empty`` between two readings is a chair taken (demand); the reverse, a chair
returned. Each station's hour (local) is a row of ``wheelchair_hours`` with both counts and the fewest
charged chairs seen, so a day's supply against demand survives a hub restart; the previous reading is
the device's stored readings, so a restart loses no transition either.

Hours the hub did not see (before it ran: ``firmware_sim load-history``'s simulated past) are imported at
start from InfluxDB's ``wheelchair_hour`` points (:func:`hours_from_influx`, :func:`import_hours`); an hour
the hub has a row for is its own and is never overwritten.

The demand forecast for an hour of a day is the mean demand of that hour on the same weekday of the
last ``FORECAST_WEEKS`` weeks that have any record. ``nearest_station`` is what a wheelchair request
routes to.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from floorops.contract import SLOT_STATES
from floorops.influx import InfluxClient, rows
from floorops.kinds import charger
from floorops.measurements import WHEELCHAIR_HOUR
from floorops.site import Site
from hub.db import Database

FORECAST_WEEKS = 4
KEEP_DAYS = 400
IMPORT_DAYS = FORECAST_WEEKS * 7 + 1  # what the forecast of today reads, and yesterday's day


@dataclass(frozen=True)
class Stock:
    slots: int
    docked: int
    charged: int


def slot_state(slot: Any) -> str:
    """The slot's state by name; the contract's number is accepted too (floorops.contract.SLOT_STATES)."""
    state = slot.get("state") if isinstance(slot, dict) else None
    return SLOT_STATES.get(state, "") if isinstance(state, int) else state if isinstance(state, str) else ""


def occupied(slot: Any) -> bool:
    return slot_state(slot) not in ("", "empty")


def stock(readings: Mapping[str, Any], charged_soc_pct: float) -> Stock | None:
    """Counts of one station's reading; None when it holds no slots (never read, or not a charger)."""
    slots = readings.get("slots")
    if not isinstance(slots, list):
        return None
    docked = [s for s in slots if occupied(s)]
    charged = [s for s in docked if slot_state(s) != "fault" and isinstance(s.get("soc_pct"), (int, float))
               and s["soc_pct"] >= charged_soc_pct]
    return Stock(len(slots), len(docked), len(charged))


def transitions(previous: Mapping[str, Any], readings: Mapping[str, Any]) -> tuple[int, int]:
    """(taken, returned) between two readings of one station, slot by slot."""
    before = {s.get("slot"): occupied(s) for s in previous.get("slots") or [] if isinstance(s, dict)}
    taken = returned = 0
    for s in readings.get("slots") or []:
        if not isinstance(s, dict) or s.get("slot") not in before:
            continue
        was, now = before[s["slot"]], occupied(s)
        taken += was and not now
        returned += now and not was
    return taken, returned


def hour_start(ts: float, tz: ZoneInfo) -> float:
    local = dt.datetime.fromtimestamp(ts, tz)
    return local.replace(minute=0, second=0, microsecond=0).timestamp()


def record(db: Database, tz: ZoneInfo, station: str, zone: str, ts: float, taken: int, returned: int,
           charged: int) -> None:
    """Add a reading's transitions to its station's hour (inside the caller's transaction)."""
    db.execute("INSERT INTO wheelchair_hours(station, zone, hour_start, taken, returned, min_charged) "
               "VALUES (?,?,?,?,?,?) ON CONFLICT(station, hour_start) DO UPDATE SET taken=taken+excluded.taken, "
               "returned=returned+excluded.returned, min_charged=MIN(COALESCE(min_charged, excluded.min_charged), "
               "excluded.min_charged)", (station, zone, hour_start(ts, tz), taken, returned, charged))


def _hours_of(day: dt.date, tz: ZoneInfo) -> list[float]:
    """Start of each local hour of ``day`` (23 or 25 on a daylight-saving change)."""
    start = dt.datetime.combine(day, dt.time(), tz).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).timestamp()
    return [h for h in (start + 3600 * i for i in range(26)) if h < end]


def _by_hour(db: Database, day: dt.date, tz: ZoneInfo, station: str | None = None) -> dict[int, dict[str, int]]:
    """Local hour -> chairs taken, returned and fewest charged on ``day``, summed over the stations (or of
    ``station`` alone)."""
    hours = _hours_of(day, tz)
    out: dict[int, dict[str, int]] = {}
    which, args = ("AND station = ?", (station,)) if station is not None else ("", ())
    for r in db.all("SELECT hour_start, SUM(taken), SUM(returned), SUM(min_charged) FROM wheelchair_hours "
                    f"WHERE hour_start >= ? AND hour_start <= ? {which} GROUP BY hour_start",
                    (hours[0], hours[-1], *args)):
        hour = dt.datetime.fromtimestamp(r[0], tz).hour
        out[hour] = {"taken": r[1] or 0, "returned": r[2] or 0, "min_charged": r[3]}
    return out


def forecast(db: Database, day: dt.date, tz: ZoneInfo, station: str | None = None) -> dict[int, float]:
    """Expected chairs taken per local hour of ``day`` (at the site, or at ``station``): the mean of the same
    weekday's hours over the last ``FORECAST_WEEKS`` weeks that have any record (none: an empty forecast)."""
    weeks = []
    for w in range(1, FORECAST_WEEKS + 1):
        past = day - dt.timedelta(weeks=w)
        hours = _hours_of(past, tz)
        if db.one("SELECT 1 FROM wheelchair_hours WHERE hour_start >= ? AND hour_start <= ?",
                  (hours[0], hours[-1])) is not None:
            weeks.append(_by_hour(db, past, tz, station))
    if not weeks:
        return {}
    return {h: round(sum(w.get(h, {}).get("taken", 0) for w in weeks) / len(weeks), 2) for h in range(24)}


def stations_now(site: Site, devices: Iterable[Any], charged_soc_pct: float,
                 low: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Each live charger's stock now (``devices``: hub.state.DeviceState); ``low``: stations alarmed."""
    low_set = set(low)
    out = []
    for d in sorted(devices, key=lambda d: d.id):
        if d.kind != charger.KIND.name:
            continue
        s = stock(d.readings, charged_soc_pct)
        zone = site.zone(d.zone)
        out.append({"id": d.id, "zone": d.zone, "floor": zone.floor, "online": d.state not in ("offline", "unknown"),
                    "slots": s.slots if s else 0, "docked": s.docked if s else 0, "charged": s.charged if s else 0,
                    "low_stock": d.id in low_set})
    return out


def nearest_station(site: Site, stations: list[dict[str, Any]], zone_id: str, need: int = 1) -> str | None:
    """The station a wheelchair request from ``zone_id`` goes to: among online stations with at least
    ``need`` charged chairs, one in the same zone, else the nearest on the same floor (distance between
    zone centres on the floor plan), else the nearest floor (then distance); None when none has stock."""
    here = site.zone(zone_id)

    def centre(zone: Any) -> tuple[float, float]:
        return zone.x + zone.w / 2, zone.y + zone.h / 2

    def cost(st: dict[str, Any]) -> tuple[int, int, float, str]:
        there = site.zone(st["zone"])
        (x1, y1), (x2, y2) = centre(here), centre(there)
        return (0 if st["zone"] == zone_id else 1, abs(there.floor - here.floor), math.hypot(x2 - x1, y2 - y1),
                st["id"])

    ready = [s for s in stations if s["online"] and s["charged"] >= need]
    return min(ready, key=cost)["id"] if ready else None


def compute(db: Database, site: Site, devices: Iterable[Any], charged_soc_pct: float, now: float,
            low: Iterable[str] = (), day: dt.date | None = None) -> dict[str, Any]:
    """GET /api/wheelchairs: the stations now, the site's totals, and ``day``'s hours (default today) for the
    site and for each station: chairs taken (demand), returned, the fewest charged chairs (supply: the
    stations' hourly minimums summed) and the demand forecast."""
    tz = site.tz
    day = day or dt.datetime.fromtimestamp(now, tz).date()
    stations = stations_now(site, devices, charged_soc_pct, low)
    expected = forecast(db, day, tz)
    hours = _day_hours(_by_hour(db, day, tz), expected)
    for st in stations:
        st["hours"] = _day_hours(_by_hour(db, day, tz, st["id"]), forecast(db, day, tz, st["id"]))
    totals = {k: sum(s[k] for s in stations if s["online"]) for k in ("slots", "docked", "charged")}
    return {"day": day.isoformat(), "charged_soc_pct": charged_soc_pct, "stations": stations,
            "site": {**totals, "stations": len(stations), "low_stock": sum(s["low_stock"] for s in stations),
                     "demand_today": sum(h["demand"] for h in hours),
                     "forecast_today": round(sum(expected.values()), 1) if expected else None},
            "hours": hours}


def _day_hours(seen: Mapping[int, Mapping[str, Any]], expected: Mapping[int, float]) -> list[dict[str, Any]]:
    return [{"hour": h, "demand": seen.get(h, {}).get("taken", 0), "returned": seen.get(h, {}).get("returned", 0),
             "supply": seen.get(h, {}).get("min_charged"), "forecast": expected.get(h)} for h in range(24)]


@dataclass(frozen=True)
class ImportedHour:
    station: str
    zone: str
    hour_start: float  # epoch seconds
    taken: int
    returned: int
    min_charged: int | None


def hours_from_points(points: Iterable[Mapping[str, Any]]) -> list[ImportedHour]:
    """``wheelchair_hour`` rows (``time`` in ms, tags as columns) as hours; a row without a station or a
    usable demand is skipped."""
    out = []
    for r in points:
        demand, returned, supply = r.get("demand"), r.get("returned"), r.get("supply_min")
        if not r.get("station") or not isinstance(r.get("time"), (int, float)) or not isinstance(demand, (int, float)):
            continue
        out.append(ImportedHour(str(r["station"]), str(r.get("zone") or ""), float(r["time"]) / 1000, int(demand),
                                int(returned) if isinstance(returned, (int, float)) else 0,
                                int(supply) if isinstance(supply, (int, float)) else None))
    return out


async def hours_from_influx(influx: InfluxClient, site: str, from_s: float, to_s: float) -> list[ImportedHour]:
    """The stations' hours in InfluxDB that start in ``[from_s, to_s)``; InfluxWriteError if it is down."""
    q = (f'SELECT * FROM "{WHEELCHAIR_HOUR}" WHERE "site" = \'{site}\' AND time >= {int(from_s * 1000)}ms '
         f"AND time < {int(to_s * 1000)}ms")
    return hours_from_points([r for s in await influx.query(q, epoch="ms") for r in rows(s)])


def import_hours(db: Database, hours: Iterable[ImportedHour], stations: Iterable[str]) -> int:
    """Add the hours the hub has no row for, of the site's ``stations`` (inside the caller's transaction);
    a row the hub has, measured live, stays as it is. Returns the number of hours added."""
    known = set(stations)
    before = db.conn.total_changes
    db.conn.executemany(
        "INSERT INTO wheelchair_hours(station, zone, hour_start, taken, returned, min_charged) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(station, hour_start) DO NOTHING",
        [(h.station, h.zone, h.hour_start, h.taken, h.returned, h.min_charged) for h in hours if h.station in known])
    return int(db.conn.total_changes - before)


def prune(db: Database, now: float) -> None:
    db.execute("DELETE FROM wheelchair_hours WHERE hour_start < ?", (now - KEEP_DAYS * 86400,))
