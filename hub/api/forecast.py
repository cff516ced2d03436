"""Forecast and staffing, answered by the models service; 503 with a clear error while no model is trained."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from hub.api import ANY_OBJ, DATE, NUM, STR, ApiError, Route, arr, obj, ok, query_int
from hub.context import ctx
from hub.forecasting import ForecastUnavailable

BUCKET = obj(start=STR, p10=NUM, p50=NUM, p90=NUM)


TARGETS = ("occupancy", "arrivals", "waiting")
QUEUE_TARGETS = ("arrivals", "waiting")


async def forecast(request: web.Request) -> web.Response:
    c = ctx(request)
    zone = request.query.get("zone")
    queue = request.query.get("queue")
    if zone and queue:
        raise ApiError(400, "ask for a zone or a queue, not both")
    if zone is not None and zone not in c.hub.state.zones:  # empty too: no zone of the site (the OpenAPI enum)
        raise ApiError(400, f"no such zone: {zone}")
    if queue and queue not in c.hub.state.queues:
        raise ApiError(400, f"no such queue: {queue}")
    target = request.query.get("target") or ("arrivals" if queue else "occupancy")
    if target not in TARGETS:
        raise ApiError(400, f"target must be one of {', '.join(TARGETS)}")
    if queue and target not in QUEUE_TARGETS:
        raise ApiError(400, f"a queue's forecast is one of {', '.join(QUEUE_TARGETS)}")
    hours = query_int(request, "hours", 24, 1, 168)
    now = dt.datetime.fromtimestamp(c.hub.clock.now(), c.hub.tz)
    key = f"queue:{queue}" if queue else zone  # the models service's key of a queue's series
    try:
        result = await asyncio.get_running_loop().run_in_executor(
            None, lambda: c.forecaster.forecast(now, hours=hours, zones=[key] if key else None, target=target))
    except ForecastUnavailable as exc:
        raise ApiError(503, str(exc)) from None
    return ok(result.get(key, []) if key else result)


async def staffing(request: web.Request) -> web.Response:
    c = ctx(request)
    text = request.query.get("date")
    try:
        day = dt.date.fromisoformat(text) if text is not None else dt.datetime.fromtimestamp(c.hub.clock.now(), c.hub.tz).date()
    except ValueError:
        raise ApiError(400, "date must be YYYY-MM-DD") from None
    try:
        result = await asyncio.get_running_loop().run_in_executor(None, lambda: c.forecaster.staffing(day))
    except ForecastUnavailable as exc:
        raise ApiError(503, str(exc)) from None
    return ok(result)


ROUTES = [
    Route("GET", "/api/forecast", forecast, "read",
          "Forecast per bucket (occupancy by default): one zone's list (?zone=), one queue's (?queue=, arrivals or "
          "waiting), or every series' ({zone or queue:<id>: [...]})", {"type": ["array", "object"]},
          query={"zone": {"type": "string", "x-enum-site-zones": True}, "queue": {"type": "string"},
                 "target": {"type": "string", "enum": list(TARGETS)},
                 "hours": {"type": "integer", "minimum": 1, "maximum": 168}}, tag="forecast"),
    Route("GET", "/api/staffing", staffing, "read", "Staff required per zone and hour (?date=YYYY-MM-DD)", arr(ANY_OBJ),
          query={"date": DATE}, tag="forecast"),
]
