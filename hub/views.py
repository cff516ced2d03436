"""The JSON the API and the events show of the live state: devices, agents, zones and the site, and the
day's figures computed from it (wheelchairs, service levels, satisfaction).

One home for each shape, so a ``device.updated`` event and ``GET /api/devices`` can never disagree; the
core only decides when to show it (hub.core), the API routes where (hub.api.floor)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from floorops.site import Site
from hub import service_levels, wheelchairs
from hub.alarms import AlarmManager
from hub.clock import Clock, iso
from hub.db import Database
from hub.rules import crowding
from hub.rules import wheelchairs as wheelchair_rule
from hub.rules.base import RuleSet
from hub.satisfaction import SatisfactionManager
from hub.silences import SilenceManager
from hub.state import LiveState


class Hub(Protocol):
    """What the views read of the hub (hub.core.Hub), named so this module needs not import the core."""

    site: Site
    tz: ZoneInfo
    state: LiveState
    alarms: AlarmManager
    rules: RuleSet
    silences: SilenceManager
    db: Database
    clock: Clock
    satisfaction: SatisfactionManager


def device_json(hub: Hub, device_id: str) -> dict[str, Any]:
    """A live device, or a removed one (``state: "removed"``), whose history is still served."""
    d = hub.state.known(device_id)
    if d is None:
        raise KeyError(device_id)
    live = device_id in hub.state.devices
    return {"id": d.id, "kind": d.kind, "zone": d.zone, "queue": d.queue, "state": d.state if live else "removed",
            "last_seen": iso(d.last_seen, hub.tz), "faults": sorted(d.faults) if live else [],
            "readings": d.readings, "maintenance": live and hub.silences.in_maintenance(d.id, d.zone, d.kind)}


def agent_json(hub: Hub, agent_id: str) -> dict[str, Any]:
    a = hub.state.agents[agent_id]
    return {"id": a.id, "state": a.state, "since": iso(a.since, hub.tz), "seen_at": iso(a.seen_at, hub.tz)}


def zone_json(hub: Hub, zone_id: str) -> dict[str, Any]:
    z = hub.state.zones[zone_id]
    info = hub.site.zone(zone_id)
    crowded = (zone_id, "zone_crowded") in hub.alarms.open
    return {"id": z.id, "name": info.name, "name_zh": info.name_zh, "capacity": z.capacity,
            "occupancy": z.occupancy, "occupancy_at": iso(z.occupancy_at, hub.tz),
            "waiting": hub.state.zone_waiting(zone_id), "avg_wait_s": round(hub.state.zone_avg_wait(zone_id), 1),
            "level": crowding.level(z, hub.rules, crowded)}


def site_json(s: Site) -> dict[str, Any]:
    floors = sorted({z.floor for z in s.zones})
    return {"id": s.id, "name": s.name, "name_zh": s.name_zh, "timezone": s.timezone, "floors": floors,
            "device_kinds": [k.json() for k in s.kinds],
            "zones": [{"id": z.id, "name": z.name, "name_zh": z.name_zh, "kind": z.kind, "capacity": z.capacity,
                       "floor": z.floor, "x": z.x, "y": z.y, "w": z.w, "h": z.h,
                       "polygon": [list(p) for p in z.polygon]} for z in s.zones],
            # The drawn floors (docs/site.md "[[floors]]"); "floors" above stays the list of numbers.
            "floor_plans": [{"number": f.number, "name": f.name, "name_zh": f.name_zh,
                             "outline": [list(p) for p in f.outline],
                             "corridors": [[list(p) for p in c] for c in f.corridors],
                             "lifts": [list(p) for p in f.lifts]} for f in s.floors],
            "queues": [{"id": q.id, "zone": q.zone, "name": q.name, "name_zh": q.name_zh} for q in s.queues]}


def wheelchairs_json(hub: Hub, day: dt.date | None = None) -> dict[str, Any]:
    """The stations now and the day's demand (hub.wheelchairs); a station whose stock alarm is open is low."""
    low = [src for src, type_ in hub.alarms.open if type_ == wheelchair_rule.RULE]
    return wheelchairs.compute(hub.db, hub.site, hub.state.devices.values(),
                               hub.rules.rule(wheelchair_rule.RULE)["charged_soc_pct"], hub.clock.now(), low, day)


def service_levels_json(hub: Hub, day: dt.date | None = None) -> dict[str, Any]:
    return service_levels.compute(hub.db, hub.site, hub.rules, hub.clock.now(), day)


def satisfaction_json(hub: Hub, first: dt.date | None = None, last: dt.date | None = None,
                      zone: str | None = None) -> dict[str, Any]:
    """The zones' scores from ``first`` to ``last`` (either alone: that day; neither: today)."""
    today = hub.satisfaction.today()
    return hub.satisfaction.scores(first or last or today, last or first or today, zone)
