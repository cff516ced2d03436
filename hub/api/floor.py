"""The floor: site, zones, devices (live state, history, timeline), KPIs, event catch-up (the roster: hub.api.roster)."""

from __future__ import annotations

import datetime as dt
import json
import re

from aiohttp import web

from floorops.influx import InfluxWriteError, rows
from floorops.measurements import ZONE_OCCUPANCY
from hub import kpis, views
from hub.api import (ANY_OBJ, BOOL, CLOCK, DATE, DIGITS, DURATION, INT, NNUM, NUM, NSTR, STR, TIME, ApiError, Route, arr, obj, ok,
                     query_int, query_time)
from hub.clock import clock_json, iso
from hub.context import ctx

DEVICE = obj(id=STR, kind=STR, zone=STR, queue=STR,
             state={"type": "string", "enum": ["online", "offline", "fault", "unknown", "removed"]},
             last_seen=TIME, faults=arr(STR), readings=ANY_OBJ, maintenance=BOOL)
AGENT = obj(id=STR, state={"type": "string", "enum": ["online", "offline"]}, since=TIME, seen_at=TIME)
ZONE = obj(id=STR, name=STR, name_zh=STR, capacity=INT, occupancy=NNUM, occupancy_at=TIME, waiting=INT,
           avg_wait_s=NUM, level={"type": "string", "enum": ["normal", "busy", "crowded"]})
NINT = {"type": ["integer", "null"]}
SERVICE_LEVEL = obj(issued=INT, called=INT, within_target=INT, served=INT, no_show=INT, abandoned=INT, waiting=INT,
                    service_level=NNUM, no_show_rate=NNUM, abandonment_rate=NNUM, avg_wait_s=NNUM)
CHAIR_HOUR = obj(hour=INT, demand=INT, returned=INT, supply=NINT, forecast=NNUM)
STATION = obj(id=STR, zone=STR, floor=INT, online={"type": "boolean"}, slots=INT, docked=INT, charged=INT,
              low_stock={"type": "boolean"}, hours=arr(CHAIR_HOUR))
# Device kind -> the InfluxDB measurement of its readings (docs/architecture.md).
HIDDEN_COLUMNS = {"time", "site", "zone", "device_id", "kind", "mac_hash"}


async def site(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    return ok({**views.site_json(hub.site), "clock": clock_json(hub.clock, hub.tz)})


async def zones(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    return ok([views.zone_json(hub, z.id) for z in hub.site.zones])


async def devices(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    return ok([views.device_json(hub, d) for d in sorted(hub.state.devices)])


async def agents(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    return ok([views.agent_json(hub, a) for a in sorted(hub.state.agents)])


def _device(request: web.Request) -> str:
    """A live device, or a removed one: its history stays."""
    device_id = request.match_info["id"]
    if ctx(request).hub.state.known(device_id) is None:
        raise ApiError(404, f"no such device: {device_id}")
    return device_id


async def history(request: web.Request) -> web.Response:
    c = ctx(request)
    device_id = _device(request)
    if not re.match(r"^[A-Za-z0-9_-]{1,64}$", device_id):  # it goes into InfluxQL
        raise ApiError(404, f"no such device: {device_id}")
    since, limit = _since_and_limit(request, "1h")
    measurement = c.hub.site.kinds.get(c.hub.state.known(device_id).kind).history_measurement  # type: ignore[union-attr]  # - a known device (404 otherwise)
    q = (f'SELECT * FROM "{measurement}" WHERE "device_id" = \'{device_id}\' AND time >= {int(since * 1000)}ms '
         f"ORDER BY time ASC LIMIT {limit}")
    return ok(await _influx_rows(request, q))


async def _influx_rows(request: web.Request, q: str) -> list[dict]:
    c = ctx(request)
    try:
        series = await c.influx.query(q, epoch="ms")
    except InfluxWriteError as exc:
        raise ApiError(503, f"InfluxDB is unavailable: {exc}") from None
    out = []
    for s in series:
        for r in rows(s):
            item = {"ts": iso(r["time"] / 1000, c.hub.tz)}
            item.update({k: v for k, v in r.items() if k not in HIDDEN_COLUMNS and v is not None})
            out.append(item)
    return out


def _since_and_limit(request: web.Request, default: str) -> tuple[float, int]:
    since = query_time(request, "since", default, ctx(request).hub.clock.now())
    limit = query_int(request, "limit", 1000, 1, 10000)
    assert limit is not None
    return since, limit


async def zone_history(request: web.Request) -> web.Response:
    """The zone's occupancy as the edge measured it (InfluxDB ``zone_occupancy``)."""
    zone = request.match_info["id"]
    if zone not in ctx(request).hub.state.zones:
        raise ApiError(404, f"no such zone: {zone}")
    since, limit = _since_and_limit(request, "6h")
    q = (f'SELECT occupancy, devices FROM "{ZONE_OCCUPANCY}" WHERE "zone" = \'{zone}\' '
         f"AND time >= {int(since * 1000)}ms ORDER BY time ASC LIMIT {limit}")
    return ok(await _influx_rows(request, q))


async def timeline(request: web.Request) -> web.Response:
    c = ctx(request)
    device_id = _device(request)
    hub = c.hub
    items = []
    for r in hub.db.all("SELECT id FROM alarms WHERE device_id=? ORDER BY id DESC LIMIT 200", (device_id,)):
        a = hub.alarms.json(r["id"])
        items.append({"at": a["raised_at"], "what": "alarm", "alarm": a, "history": hub.alarms.history(r["id"])})
    for t in hub.db.all("SELECT id FROM tickets WHERE device_id=? ORDER BY id DESC LIMIT 200", (device_id,)):
        tj = hub.tickets.json(t["id"])
        items.append({"at": tj["opened_at"], "what": "ticket", "ticket": tj})
    for e in hub.db.all("SELECT id, type, at, data FROM events WHERE type IN ('device.updated', 'device.removed') AND "
                        "json_extract(data, '$.id')=? ORDER BY id DESC LIMIT 200", (device_id,)):
        items.append({"at": iso(e["at"], hub.tz), "what": "event", "type": e["type"], "data": json.loads(e["data"])})
    items.sort(key=lambda i: i["at"] or "", reverse=True)
    return ok({"device": views.device_json(hub, device_id), "items": items})


def _date(request: web.Request) -> dt.date | None:
    day = request.query.get("date")
    try:
        return dt.date.fromisoformat(day) if day is not None else None
    except ValueError:
        raise ApiError(400, "date must be YYYY-MM-DD") from None


async def kpi(request: web.Request) -> web.Response:
    return ok(kpis.compute(ctx(request).hub, _date(request)))


async def service_levels(request: web.Request) -> web.Response:
    return ok(views.service_levels_json(ctx(request).hub, _date(request)))


async def wheelchairs(request: web.Request) -> web.Response:
    return ok(views.wheelchairs_json(ctx(request).hub, _date(request)))


async def nearest_wheelchairs(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    zone = request.match_info["id"]
    if zone not in hub.state.zones:
        raise ApiError(404, "no such zone")
    need = query_int(request, "need", 1, 1, 1000)
    assert need is not None
    return ok({"zone": zone, "need": need, "station": hub.nearest_wheelchair_station(zone, need)})


async def events(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    since = query_int(request, "since", 0)
    assert since is not None
    return ok([json.loads(e.wire(hub.tz)) for e in hub.bus.since(since, request["user"], limit=1000)])


EVENT = obj(id=INT, type=STR, ts=STR, data=ANY_OBJ)
SHARE = {"type": "number", "minimum": 0, "maximum": 1}
NSHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
SHIFT_TIMES = obj(time_to_accept_s=NNUM, time_to_arrive_s=NNUM)
# hub.kpis.compute; mean times are null on a day without one to measure.
KPIS = {**obj(
    day=DATE, waiting_now=INT, avg_wait_s=NUM, devices_faulted=INT, fault_rate=SHARE,
    fault_rate_by_kind={"type": "object", "additionalProperties": SHARE}, fault_rate_target=SHARE,
    open_tickets=INT, sla_breaches=INT, open_dispatches=INT, active_alarms=INT, mtta_s=NNUM, mttr_s=NNUM,
    dispatch_time_to_accept_s=NNUM, dispatch_time_to_complete_s=NNUM, dispatch_expired_share=SHARE,
    dispatch_time_to_arrive_s=NNUM, dispatch_by_shift=obj(day=SHIFT_TIMES, night=SHIFT_TIMES),
    night_shift={"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$"}, night_emergency_calls=INT,
    night_emergency_timeout_rate=NSHARE, night_emergency_timeout_target=SHARE, requests_open=INT,
    requests_overdue=INT),
    "required": ["day", "waiting_now", "fault_rate", "open_tickets", "dispatch_by_shift",
                 "night_emergency_timeout_rate", "requests_open", "requests_overdue"]}
ROUTES = [
    Route("GET", "/api/site", site, "read",
          "The site: zones with floor-plan rectangles and polygons, floors and their plans, queues, and the "
          "centre's clock (as GET /api/clock)", obj(clock=CLOCK), tag="floor"),
    Route("GET", "/api/zones", zones, "read", "Every zone's occupancy, waiting and level", arr(ZONE), tag="floor"),
    Route("GET", "/api/zones/{id}/history", zone_history, "read",
          "The zone's measured occupancy from InfluxDB (?since=6h, 30m, 2d, epoch or ISO 8601)",
          arr(obj(ts=STR, occupancy=NUM, devices=NUM)),
          query={"since": DURATION, "limit": {"type": "integer", "minimum": 1, "maximum": 10000}}, tag="floor"),
    Route("GET", "/api/devices", devices, "read", "Every device's live state", arr(DEVICE), tag="devices"),
    Route("GET", "/api/agents", agents, "read", "Every edge agent's state from its retained status (Last Will offline)",
          arr(AGENT), tag="devices"),
    Route("GET", "/api/devices/{id}/history", history, "read",
          "The device's readings from InfluxDB (?since=1h, 30m, 2d, epoch or ISO 8601)",
          arr(obj(ts=STR)), query={"since": DURATION, "limit": {"type": "integer", "minimum": 1, "maximum": 10000}}, tag="devices"),
    Route("GET", "/api/devices/{id}/timeline", timeline, "read", "Alarms, tickets and state changes of a device",
          obj(device=DEVICE, items=arr(ANY_OBJ)), tag="devices"),
    Route("GET", "/api/kpis", kpi, "read",
          "Operations KPIs (today, or ?date=): waits, faults, tickets, alarms; dispatch time to accept and to "
          "arrive, overall and per day/night shift; the night emergency-call timeout rate; open and overdue "
          "requests", KPIS, query={"date": DATE}, tag="floor"),
    Route("GET", "/api/service-levels", service_levels, "read",
          "Queue service levels of today (or ?date=): per queue, zone and site, from the screens' ticket events",
          obj(day=STR, target_share=NUM, queues=arr(SERVICE_LEVEL), zones=arr(SERVICE_LEVEL), site=SERVICE_LEVEL),
          query={"date": DATE}, tag="floor"),
    Route("GET", "/api/wheelchairs", wheelchairs, "read",
          "Wheelchairs now per charging station and for the site; today's (or ?date=) demand, supply and "
          "forecast by hour, for the site and each station", obj(day=STR, charged_soc_pct=NUM, stations=arr(STATION), site=ANY_OBJ,
                                  hours=arr(CHAIR_HOUR)),
          query={"date": DATE}, tag="floor"),
    Route("GET", "/api/zones/{id}/wheelchair-station", nearest_wheelchairs, "read",
          "The station a wheelchair request from the zone goes to: same zone, same floor, then any, with at least "
          "?need= (1) charged chairs; station null when none has them", obj(zone=STR, need=INT, station=NSTR),
          query={"need": {"type": "integer", "minimum": 1, "maximum": 1000}}, tag="floor"),
    Route("GET", "/api/events", events, "read", "Events after id ?since= (catch-up)", arr(EVENT),
          query={"since": DIGITS}, tag="stream"),
]
