"""The hospital's systems as the hub checks them (hub.systems), and device reliability against the
target (hub.reliability)."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from hub import reliability
from hub.api import (ANY_OBJ, BOOL, DATE, INT, NNUM, NUM, STR, TIME, ApiError, Route, arr, enum, obj, ok,
                     query_choice)
from hub.context import ctx

RESULT = obj(at=TIME, ok=BOOL, response_ms=NNUM, status_code={"type": ["integer", "null"]}, error=STR,
             cert_days_left=NNUM)
SYSTEM = obj(name=STR, kind=enum("http", "tcp"), target=STR, interval_s=NUM,
             state=enum("up", "failing", "slow", "down", "unknown"),
             last={"oneOf": [RESULT, {"type": "null"}]},
             last_error={"oneOf": [obj(at=TIME, error=STR), {"type": "null"}]},
             alarms=arr(STR), recent=arr(obj(at=TIME, ok=BOOL, response_ms=NNUM)))
RELIABILITY_FIGURES = dict(failures=INT, mttr_s=NNUM, mtbf_s=NNUM)
RELIABILITY = obj(
    period=enum(*reliability.PERIODS), **{"from": DATE, "to": DATE}, target=NUM, fault_rate=NUM,
    mean_daily_fault_rate=NUM, **RELIABILITY_FIGURES,
    by_kind={"type": "object", "additionalProperties": obj(devices=INT, faulted=INT, fault_rate=NUM,
                                                           over_target=BOOL, **RELIABILITY_FIGURES)},
    devices=arr(obj(id=STR, kind=STR, fault_days=INT, days=INT, fault_rate=NUM, over_target=BOOL,
                    availability=NUM, downtime_s=NUM, **RELIABILITY_FIGURES)),
    trend=arr(obj(date=DATE, fault_rate=NUM, by_kind=ANY_OBJ)))


async def systems(request: web.Request) -> web.Response:
    c = ctx(request)
    if c.systems is None:
        return ok([])
    return ok(c.systems.json(c.hub.alarms.open, c.hub.tz))


async def reliability_kpis(request: web.Request) -> web.Response:
    hub = ctx(request).hub
    period = query_choice(request, "period", reliability.PERIODS) or "day"
    text = request.query.get("date")
    now = hub.clock.now()
    try:
        day = dt.date.fromisoformat(text) if text is not None else dt.datetime.fromtimestamp(now, hub.tz).date()
    except ValueError:
        raise ApiError(400, "date must be YYYY-MM-DD") from None
    devices = {d.id: d.kind for d in hub.state.devices.values()}
    return ok(reliability.report(hub.db, hub.rules.settings, devices, hub.tz, now, period, day))


ROUTES = [
    Route("GET", "/api/systems", systems, "read",
          "The hospital's systems the hub checks ([[systems.checks]]): state, last result, last error, recent "
          "response times, open alarms", arr(SYSTEM), tag="systems"),
    Route("GET", "/api/kpis/reliability", reliability_kpis, "read",
          "Device fault rate against the target, failures, MTTR and MTBF per kind and per device, and the daily "
          "fault rate, for the day, ISO week or month holding ?date= (default: today)", RELIABILITY,
          query={"period": enum(*reliability.PERIODS), "date": DATE}, tag="floor"),
]
