"""Patient flow between zones and back-and-forth wandering (hub.flows): aggregates of the edge, never a
count under its k. Live from the hub's memory; a time range (the plan's replay) from InfluxDB."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from floorops.influx import InfluxWriteError
from hub.api import DURATION, INT, NNUM, NUM, STR, ApiError, Route, arr, obj, ok, query_time
from hub.context import ctx
from hub.flows import LIVE_S, Interval, Summary, intervals_from_influx

FLOW = obj(origin=STR, dest=STR, count=INT, tracked=INT, median_transit_s=NNUM)
WANDERING = obj(zone=STR, visitors=INT, back_and_forth=INT, rate=NNUM, rate_seen=NNUM, usual=NNUM, extra_walk_s=NUM,
                via={"type": "object", "additionalProperties": INT})


async def _from_influx(request: web.Request, from_ms: int, wander_from_ms: int, to_ms: int) -> tuple[Summary, Summary]:
    """The flows of ``[from_ms, to_ms)`` and the wandering of ``[wander_from_ms, to_ms)``, from InfluxDB."""
    c = ctx(request)
    flows, wandering = Summary(), Summary()
    try:
        intervals = await intervals_from_influx(c.influx, c.hub.site.id, min(from_ms, wander_from_ms), to_ms,
                                                c.cfg.edge.flows_k, int(c.cfg.edge.flows_interval_s * 1000))
    except InfluxWriteError as exc:
        raise ApiError(503, f"InfluxDB is unavailable: {exc}") from None
    for iv in intervals:
        if iv.start_ms >= from_ms:
            flows.add(iv)
        if iv.start_ms >= wander_from_ms:
            wandering.add(iv)
    return flows, wandering


def _live_until(intervals: Iterable[Interval], now: float, interval_late_s: float) -> float:
    """The end of the live window: the newest interval's end, while it is fresh, else now. An interval is
    published only once it is over (and late sightings are in), so "the last 15 minutes before now" would
    miss every 15-minute interval: live is the last 15 minutes the edge has published."""
    newest = max((iv.end_ms / 1000 for iv in intervals), default=None)
    if newest is None or newest < now - LIVE_S - interval_late_s or newest > now:
        return now
    return newest


async def flows(request: web.Request) -> web.Response:
    c = ctx(request)
    hub = c.hub
    now = hub.clock.now()
    zone = request.query.get("zone", "")
    if zone and zone not in hub.state.zones:
        raise ApiError(400, f"zone: no such zone: {zone}")
    ranged = "from" in request.query or "to" in request.query
    if ranged:
        to_s = query_time(request, "to", "0s", now)
        from_s = query_time(request, "from", f"{int(now - to_s + LIVE_S)}s", now)
    else:
        to_s = _live_until(c.hub.flows.intervals, now, c.cfg.edge.flows_interval_s + c.cfg.edge.flows_lateness_s)
        from_s = to_s - LIVE_S
    if to_s <= from_s:
        raise ApiError(400, "from must be before to")
    if to_s - from_s > 31 * 86_400:
        raise ApiError(400, "at most 31 days at a time")
    from_ms, to_ms = int(from_s * 1000), int(to_s * 1000)
    # Wandering over at least the wandering_high rule's window: the edge publishes a zone's visitors and its
    # back-and-forths apart, each once it reaches k, so over 15 minutes their ratio can read 155 %.
    wander_from_ms = min(from_ms, to_ms - int(hub.rules.rule("wandering_high")["window_s"] * 1000))
    if ranged:
        s, w = await _from_influx(request, from_ms, wander_from_ms, to_ms)
    else:
        s, w = hub.flows.summary(from_ms, to_ms), hub.flows.summary(wander_from_ms, to_ms)
    usual = hub.flows.usual(wander_from_ms)
    k = hub.flows.intervals[-1].k if hub.flows.intervals else s.k
    return ok({"from": from_s, "to": to_s, "k": k, "flows": s.flows_json(zone), "other": s.other,
               "wandering_from": wander_from_ms / 1000, "wandering": w.wandering_json(usual, zone)})


ROUTES = [
    Route("GET", "/api/flows", flows, "read",
          "Patient flow between zones and back-and-forth wandering, aggregated at the edge (never a count "
          "under k): the last 15 minutes the edge published (from memory), or ?from=&to= (ISO 8601, epoch, or 2h for 2 hours ago) "
          "from InfluxDB; ?zone= keeps the pairs with that zone and its wandering. The wandering covers at least "
          "the wandering_high rule's window before `to` (from `wandering_from`)",
          obj(**{"from": NUM, "to": NUM}, k=INT, flows=arr(FLOW), other=INT, wandering_from=NUM,
              wandering=arr(WANDERING)),
          query={"from": DURATION, "to": DURATION, "zone": STR}, tag="floor"),
]
