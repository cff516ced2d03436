"""The aiohttp application: route table with authentication and roles, JSON errors, background tasks
(broker ingest, rule ticks, zone_stats to InfluxDB, re-forecasting, webhooks) and the console's files."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import logging
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator

from aiohttp import web

from floorops.clock import centre_clock
from floorops.config import Config
from floorops.influx import InfluxClient, InfluxWriteError
from floorops.measurements import zone_stats_line
from floorops.site import site_of
from hub.api import ApiError, Route, ok
from hub.api.session import COOKIE, POOL
from hub.api.stream import session_watch
from hub.auth import PERMISSIONS, UserStore
from hub.clock import Clock
from hub.context import CONTEXT, HubContext, ctx
from hub.core import Hub
from hub.db import Database, busy
from hub.dbwait import wait_for_db_lock
from hub.forecasting import ForecastUnavailable, Forecaster
from hub.notify.outbox import NotifySender
from hub.ingest import MqttIngest
from hub.openapi import all_routes
from hub.report_schedule import DailyReports
from hub.report_schedule import run as run_daily_reports
from hub.roster import load_roster
from hub.rules import systems as systems_rule
from hub.systems import SystemWatcher
from hub.webhooks import WebhookSender

log = logging.getLogger("hub.app")
WHEELCHAIR_HISTORY_REFRESH_S = 600.0  # how often the stations' missing hours are looked for in InfluxDB

STATIC_DIR = Path(__file__).resolve().parent.parent / "console" / "static"
TICK_S = 1.0
HOUSEKEEPING_S = 3600.0
ZONE_STATS_CHECK_S = 30.0
FAULT_RATE_CHECK_S = 60.0


def _token(request: web.Request) -> tuple[str | None, bool]:
    """The session token and whether it came from the cookie. Never from the URL: proxies log URLs."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None, False
    cookie = request.cookies.get(COOKIE) or None
    return cookie, cookie is not None


WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _json_content_type(request: web.Request) -> bool:
    return request.content_type == "application/json"


def guarded(route: Route) -> Any:
    """The route's handler behind authentication (401) and its permission (403).

    A write sent with the session cookie must say ``Content-Type: application/json``, body or not: a
    cross-site HTML form cannot send that type, so a form on another site cannot act as the user. Any write
    with a body must be JSON too (a bearer-token write without a body, e.g. an ack, needs no type)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method in WRITES and not _json_content_type(request) and (
                request.body_exists or COOKIE in request.cookies and "Authorization" not in request.headers):
            raise ApiError(415, "send writes as Content-Type: application/json")
        if route.permission is not None:
            token, _ = _token(request)
            user = ctx(request).users.user_for_token(token, ctx(request).hub.clock.now()) if token else None
            if user is None:
                raise ApiError(401, "log in first (POST /api/login), then send the token")
            if user.role not in PERMISSIONS[route.permission]:
                raise ApiError(403, f"the {user.role} role may not do this")
            request["user"] = user
            request["token"] = token
        return await route.handler(request)
    handler.__name__ = route.handler.__name__
    return handler


# No inline script or style anywhere in console/static: the console works under this policy.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin"}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (JSON, files, errors, the WebSocket handshake), set just before it is sent."""
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every error as JSON {"error": ...}; never a stack trace to the client."""
    try:
        return await handler(request)
    except ApiError as exc:
        resp = ok({"error": exc.message}, status=exc.status)
        resp.headers.update(exc.headers)
        return resp
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        resp = ok({"error": exc.reason or "error"}, status=exc.status)
        if "Allow" in exc.headers:  # 405 must say which methods are allowed (RFC 9110)
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:  # noqa: BLE001 - any bug in a handler is a 500 and a log line, not a dropped connection
        log.exception("request failed", extra={"path": request.path, "method": request.method})
        return ok({"error": "internal error (logged on the hub)"}, status=500)


async def static(request: web.Request) -> web.StreamResponse:
    """The console's files; index.html for ``/``. Unknown /api paths stay JSON 404s."""
    rel = request.match_info.get("path", "") or "index.html"
    if rel.startswith(("api/", "ws")):
        raise ApiError(404, f"no such route: /{rel}")
    root = STATIC_DIR.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root) or not target.is_file():  # (a prefix test lets /static-evil through)
        raise ApiError(404, f"not found: /{rel}")
    return web.FileResponse(target, headers={"Cache-Control": "no-cache"})


# -- background tasks -------------------------------------------------------------------------------

async def ticker(c: HubContext) -> None:
    locked_logged = float("-inf")
    while True:
        await asyncio.sleep(TICK_S)
        if c.ingest is not None:
            try:
                c.hub.check_ingest(c.ingest.stalled_for(), c.ingest.health().get("error", ""))
            except Exception:  # noqa: BLE001 - the periodic check keeps running after a bug
                log.exception("ingest check failed")
            try:
                c.hub.check_broker(c.ingest.broker_dropped)
            except Exception as exc:  # noqa: BLE001 - the next tick tries again with the same counter
                if not busy(exc):
                    log.exception("broker check failed")
        try:
            c.hub.tick()
        except Exception as exc:  # noqa: BLE001 - keep ticking
            if not busy(exc):
                log.exception("tick failed")
            elif time.monotonic() - locked_logged >= 10:  # held by another process: the next tick retries
                locked_logged = time.monotonic()
                log.warning("tick skipped: database locked by another process")


async def fault_rate_watch(c: HubContext) -> None:
    """The fault_rate_high alarm (hub.rules.reliability): a few queries, once a minute."""
    while True:
        await asyncio.sleep(FAULT_RATE_CHECK_S)
        try:
            c.hub.check_fault_rate()
        except Exception as exc:  # noqa: BLE001 - the next minute tries again
            if not busy(exc):
                log.exception("fault rate check failed")
        try:
            c.hub.check_satisfaction()  # satisfaction_low (hub.rules.satisfaction): the zones' daily scores
        except Exception as exc:  # noqa: BLE001 - the next minute tries again
            if not busy(exc):
                log.exception("satisfaction check failed")


def system_watcher(c: HubContext) -> SystemWatcher:
    """The checks of the hospital's systems (hub.systems), feeding the hub's rules and InfluxDB."""
    hub = c.hub
    return SystemWatcher(c.cfg.systems.checks, hub.site.id, hub.clock,
                         threshold_ms=lambda slow_ms: systems_rule.threshold(hub.rules, slow_ms)[0],
                         apply=hub.check_system, write=c.influx.write)


async def housekeeping(c: HubContext) -> None:
    while True:
        await asyncio.sleep(HOUSEKEEPING_S)
        try:
            c.hub.housekeeping()
        except Exception:  # noqa: BLE001 - housekeeping keeps running after a bug
            log.exception("housekeeping failed")


def zone_stats_lines(hub: Hub, now: float) -> tuple[list[str], list[tuple[str, float]]]:
    """zone_stats points for every zone's closed 15-minute buckets not written yet (interfaces item 4)."""
    bucket_s = hub.cfg.models.bucket_min * 60
    current = now - now % bucket_s
    done = {(r["zone"], r["bucket_start"]): r for r in hub.db.all("SELECT * FROM zone_buckets WHERE bucket_start >= ?",
                                                                  (current - bucket_s,))}
    lines, keys = [], []
    start = current - bucket_s
    for z in hub.site.zones:
        row = done.get((z.id, start))
        if row is not None and row["written"]:
            continue
        zs = hub.state.zones[z.id]
        lines.append(zone_stats_line(hub.site.id, z.id, int(row["arrivals"]) if row else 0,
                                     int(hub.state.zone_waiting(z.id)),
                                     float(zs.occupancy) if zs.occupancy is not None else None, int(start * 1e9)))
        keys.append((z.id, start))
    return lines, keys


async def flow_history_loader(c: HubContext) -> None:
    """Once at start: the last days of the edge's flow intervals from InfluxDB into the hub's memory
    (hub.flows: the wandering rule's usual level, the reports), retried every 30 s until InfluxDB answers."""
    from hub.flows import KEEP_S, intervals_from_influx

    hub = c.hub
    since_ms = int((hub.clock.now() - KEEP_S) * 1000)
    while True:
        try:
            loaded = await intervals_from_influx(c.influx, hub.site.id, since_ms, None, c.cfg.edge.flows_k,
                                                 int(c.cfg.edge.flows_interval_s * 1000))
        except InfluxWriteError as exc:
            log.info("flow history not loaded yet; retrying", extra={"error": str(exc)})
            await asyncio.sleep(30)
            continue
        for iv in loaded:
            hub.flows.add(iv)
        log.info("flow history loaded", extra={"intervals": len(loaded)})
        return


async def import_wheelchair_history(c: HubContext) -> int:
    """One pass: the charging stations' hours before this one that the hub has no row for, from InfluxDB
    (``firmware_sim load-history``'s past), so the demand forecast has its weeks from the first day
    (hub.wheelchairs.import_hours: an hour the hub measured is never overwritten). Returns the hours added;
    InfluxWriteError if InfluxDB is down, the database's error if it is busy."""
    from floorops.kinds import charger
    from hub import wheelchairs

    hub = c.hub
    stations = [d.id for d in hub.site.devices if d.kind == charger.KIND.name]
    if not stations:
        return 0
    until = wheelchairs.hour_start(hub.clock.now(), hub.tz)  # this hour is the hub's own, measured live
    hours = await wheelchairs.hours_from_influx(c.influx, hub.site.id, until - wheelchairs.IMPORT_DAYS * 86_400, until)
    with hub.unit_of_work():
        added = wheelchairs.import_hours(hub.db, hours, stations)
    hub.metrics["wheelchair_history_hours"] += added
    log.info("wheelchair history imported", extra={"hours": added, "read": len(hours)})
    return added


async def wheelchair_history_loader(c: HubContext, retry_s: float = 30.0,
                                    refresh_s: float = WHEELCHAIR_HISTORY_REFRESH_S) -> None:
    """:func:`import_wheelchair_history` at start and every ``refresh_s`` after (``make run`` loads the history
    once the hub runs; a pass imports only what is missing); a failure (InfluxDB down, the database busy) is
    counted and logged and tried again after ``retry_s``: the hub serves meanwhile, without a forecast."""
    hub = c.hub
    while True:
        try:
            await import_wheelchair_history(c)
        except Exception as exc:  # noqa: BLE001 - InfluxDB down or the database busy: nothing added, tried again
            hub.metrics["wheelchair_history_failed"] += 1
            log.warning("wheelchair history not imported; retrying", extra={"error": str(exc)})
            await asyncio.sleep(retry_s)
            continue
        await asyncio.sleep(refresh_s)


async def zone_stats_writer(c: HubContext) -> None:
    hub = c.hub
    while True:
        await asyncio.sleep(ZONE_STATS_CHECK_S)
        lines, keys = zone_stats_lines(hub, hub.clock.now())
        if not lines:
            continue
        try:
            await c.influx.write(lines)
        except InfluxWriteError as exc:
            log.warning("zone_stats not written; retrying", extra={"error": str(exc)})
            continue
        try:
            with hub.unit_of_work():
                hub.db.conn.executemany(
                    "INSERT INTO zone_buckets(zone, bucket_start, arrivals, written) VALUES (?,?,0,1) "
                    "ON CONFLICT(zone, bucket_start) DO UPDATE SET written=1", keys)
        except Exception as exc:  # noqa: BLE001 - the points are idempotent: written again next time
            log.warning("zone_stats not marked written; retrying", extra={"error": str(exc)})


def freeze_long_lived(after: str) -> None:
    """Take every object alive now (modules, the site, the state; scikit-learn once warmed up) out of the
    cyclic garbage collector's scans. They live as long as the process, and without this each full
    collection walked them all: 100-140 ms with the loop's thread waiting for the GIL, several times a
    minute under load, and a fault's alarm waited behind it (docs/benchmarks.md, "Hub alarm latency")."""
    gc.collect()
    gc.freeze()
    log.info("long-lived objects frozen for the garbage collector", extra={"after": after,
                                                                          "frozen": gc.get_freeze_count()})


async def forecaster_loop(c: HubContext, freeze_after_warm_up: bool = False) -> None:
    hub = c.hub
    loop = asyncio.get_running_loop()
    every = max(30, c.cfg.models.forecast_every_s)
    await loop.run_in_executor(None, c.forecaster.warm_up)  # import scikit-learn once, off the loop
    if freeze_after_warm_up:
        freeze_long_lived("forecaster warm-up")
    while True:
        c.forecaster.reload()  # pick up a newly trained model
        now = dt.datetime.fromtimestamp(hub.clock.now(), hub.tz)
        try:
            result = await loop.run_in_executor(None, functools.partial(c.forecaster.forecast, now, hours=24))
            hub.apply_forecast(result)
            lines = await loop.run_in_executor(None, c.forecaster.forecast_lines, result)
            if lines:
                await c.influx.write(lines)
        except ForecastUnavailable as exc:
            log.info("no forecast", extra={"reason": str(exc)})
        except InfluxWriteError as exc:
            log.warning("forecast not stored in InfluxDB", extra={"error": str(exc)})
        except Exception:  # noqa: BLE001 - a model bug must not stop the hub
            log.exception("forecast failed")
        await asyncio.sleep(every)


# -- the application -----------------------------------------------------------------------------------

def create_app(cfg: Config, clock: Clock | None = None, connect_broker: bool = True,
               background: bool = True, own_process: bool = False) -> web.Application:
    """The hub as an aiohttp application. Tests pass a ManualClock and may leave the broker or the
    background loops out (then they call ``hub.tick()`` and ``hub.apply_messages`` themselves).
    ``own_process`` (``python -m hub``): the hub is the process, so what it holds at start-up lives until
    the process ends and is frozen for the garbage collector (``freeze_long_lived``); never in a test's
    process, where it would keep every earlier test's objects alive."""
    clock = clock or centre_clock(cfg)  # [clock]: the real wall clock, or make run's demo clock
    site = site_of(cfg)
    roster = load_roster(cfg.hub.roster_file)
    db = Database(cfg.path(cfg.hub.db_path))
    hub = Hub(cfg, site, db, clock, roster)
    db.fail_fast()  # from here on the event loop never waits in SQLite for another process's lock
    c = HubContext(cfg=cfg, hub=hub, users=UserStore(db),
                   influx=InfluxClient(cfg.influx.url, cfg.influx.database, cfg.influx.username, cfg.influx.password,
                                       cfg.influx.timeout_s),
                   forecaster=Forecaster(cfg, site, lambda: hub.roster))
    if cfg.hub.webhooks:
        c.webhooks = WebhookSender.from_config(cfg.hub, db, hub.tz)
        c.webhooks.attach(hub.bus)
    if cfg.systems.checks:
        c.systems = system_watcher(c)
    notify_sender = None  # notify branch: pages to people's channels, from the notify outbox
    if hub.notify_settings.channels:
        notify_sender = NotifySender(db, clock, hub.notify_settings.channels, hub.notify_settings.outbox)
        c.extra["notify"] = notify_sender
        notify_sender.finished.append(hub.requests.on_outbox_finish)  # closure notices' outcome, number erased
    daily_reports = None  # the daily report ([reports] daily_to), sent through the notify outbox
    if cfg.reports.daily_to:
        daily_reports = DailyReports(cfg.reports, hub, notify_sender.wake if notify_sender else lambda: None)
        c.extra["reports"] = daily_reports
    app = web.Application(middlewares=[errors, wait_for_db_lock], client_max_size=1024 * 1024)
    app.on_response_prepare.append(security_headers)
    app[CONTEXT] = c
    for r in all_routes():
        app.router.add_route(r.method, r.path, guarded(r))
    app.router.add_get("/", static)
    app.router.add_get(r"/{path:(?!api/|ws$|healthz$|metrics$).*}", static)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[Any]] = []
        if not background:  # otherwise the forecasting loop warms up first
            threading.Thread(target=c.forecaster.warm_up, name="forecast-warm-up", daemon=True).start()
        if connect_broker:
            c.ingest = MqttIngest(cfg, site.id, hub.apply_until)
            c.ingest.start()
            hub.screens.publisher = c.ingest.publish
            tasks.append(asyncio.create_task(c.ingest.run(), name="ingest"))
        if background:
            tasks += [asyncio.create_task(ticker(c), name="ticker"),
                      asyncio.create_task(housekeeping(c), name="housekeeping"),
                      asyncio.create_task(zone_stats_writer(c), name="zone-stats"),
                      asyncio.create_task(flow_history_loader(c), name="flow-history"),
                      asyncio.create_task(wheelchair_history_loader(c), name="wheelchair-history"),
                      asyncio.create_task(forecaster_loop(c, own_process), name="forecast"),
                      asyncio.create_task(fault_rate_watch(c), name="fault-rate")]
        if c.systems is not None:  # configured checks run with or without the other background loops
            tasks.append(asyncio.create_task(c.systems.run(), name="systems"))
        if c.webhooks is not None:
            tasks.append(asyncio.create_task(c.webhooks.run(), name="webhooks"))
        if notify_sender is not None:
            tasks.append(asyncio.create_task(notify_sender.run(), name="notify"))
        if daily_reports is not None:  # with or without the other background loops, like the system checks
            tasks.append(asyncio.create_task(run_daily_reports(daily_reports), name="daily-report"))
        tasks.append(asyncio.create_task(session_watch(c), name="session-watch"))
        if own_process:
            freeze_long_lived("start-up")
        yield
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for sub in tuple(hub.bus.subscribers):
            sub.close()
        if c.ingest is not None:
            c.ingest.stop()
        await c.influx.close()
        if POOL in c.extra:
            c.extra[POOL].close()
        db.close()

    app.cleanup_ctx.append(lifecycle)
    return app
