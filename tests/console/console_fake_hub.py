"""A stand-in hub for the console's unit-level browser tests.

It speaks the agreed HTTP + WebSocket contract (api.md, interfaces item 6) from memory, with the demo site's
real zones and devices, and lets a test do what the real hub cannot be made to do on cue: drop every
WebSocket, refuse reconnections for a while, publish an event at a chosen moment, or lack a route. The
end-to-end behaviour against the real hub is covered by test_console_live.py with the control_centre fixture.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import itertools
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from console import STATIC_DIR
from centre.services import free_port
from floorops.site import Site, load_site
from floorops.config import load_config
from hub.views import site_json

# A kiosk's last reading, as the hub keeps it (GET /api/devices ``readings``).
KIOSK_READINGS = {"resp_ms": 640, "paper_pct": 80.5, "card_reader": "ok", "cpu_pct": 12.0}

# The hub's resolution codes (hub/tickets.py); the stand-in refuses others as the hub does.
RESOLUTION_CODES = ("repaired", "replaced_part", "restarted", "cleared_jam", "refilled", "no_fault_found", "other")


USER = web.RequestKey("user", str)


def int_id(request: web.Request) -> int:
    text = request.match_info["id"]
    return int(text) if text.isdigit() else -1


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class FakeHub:
    """In-memory hub state plus an aiohttp server on a free loopback port, in its own thread."""

    users: dict[str, tuple[str, str]] = field(default_factory=lambda: {
        "admin": ("admin-pw", "admin"), "monitor": ("monitor-pw", "monitor"),
        "maintenance": ("maint-pw", "maintenance"), "fm-zhang": ("zhang-pw", "floor_manager"),
    })
    missing: set[str] = field(default_factory=set)  # path patterns (fnmatch) answered 404: graceful degradation
    port: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    refuse_ws: bool = False
    ws_connects: list[str] = field(default_factory=list)  # query strings of accepted /ws connections

    def __post_init__(self) -> None:
        self.site: Site = load_site(load_config(env={}).site.file)
        self.tokens: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._sockets: set[web.WebSocketResponse] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        now = dt.datetime.now(dt.timezone.utc)
        self.zones = {
            z.id: {"id": z.id, "name": z.name, "capacity": z.capacity, "occupancy": round(z.capacity * 0.4),
                   "waiting": 5, "level": "normal"} for z in self.site.zones
        }
        self.zones["reg_hall"].update(occupancy=240, waiting=61, level="crowded")
        # GET /api/service-levels and /api/wheelchairs, in the hub's shapes (docs/api.md), cut to the site totals.
        level = {"issued": 120, "called": 100, "within_target": 72, "served": 92, "no_show": 8, "abandoned": 6,
                 "waiting": 14, "service_level": 0.72, "no_show_rate": 0.08, "abandonment_rate": 0.05,
                 "avg_wait_s": 1320.0}
        self.service_levels: dict[str, Any] = {"day": now.date().isoformat(), "target_share": 0.8, "queues": [],
                                               "zones": [{"zone": "reg_hall", **level}], "site": level}
        self.wheelchairs: dict[str, Any] = {
            "day": now.date().isoformat(), "charged_soc_pct": 80.0, "hours": [],
            "stations": [{"id": "charger-01", "zone": "entrance", "floor": 1, "online": True, "slots": 8,
                          "docked": 1, "charged": 1, "low_stock": True},
                         {"id": "charger-02", "zone": "reg_hall", "floor": 1, "online": True, "slots": 6,
                          "docked": 6, "charged": 5, "low_stock": False}],
            "site": {"slots": 15, "docked": 9, "charged": 7, "stations": 2, "low_stock": 1, "demand_today": 23,
                     "forecast_today": 40.0}}
        self.zones["lab"].update(occupancy=80, waiting=22, level="busy")
        self.zones["imaging_xr"].update(occupancy=None)  # no occupancy measured yet (probes silent)
        self.devices = {
            d.id: {"id": d.id, "kind": d.kind, "zone": d.zone, "state": "online", "last_seen": iso(now),
                   "readings": KIOSK_READINGS if d.kind == "kiosk" else {}}
            for d in self.site.devices
        }
        self.removal_error = ""  # DELETE /api/devices/{id} answers 503 with this message while it is set
        self.agents = {"edge-1": {"id": "edge-1", "state": "online", "since": iso(now), "seen_at": iso(now)}}
        self.alarms: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.dispatches: dict[int, dict[str, Any]] = {}
        # GET /api/flows and /api/satisfaction (FLOWCONTRACT.md; built in the hub by helpers "flow" and "sat").
        self.k = 5
        self.flows: list[dict[str, Any]] = [
            {"origin": "entrance", "dest": "reg_hall", "count": 42, "median_transit_s": 95.0},
            {"origin": "reg_hall", "dest": "im_clinic", "count": 30, "median_transit_s": 240.0},  # up to floor 2
            {"origin": "reg_hall", "dest": "lab", "count": 20, "median_transit_s": 120.0},
            {"origin": "reg_hall", "dest": "pharmacy", "count": 12, "median_transit_s": 80.0},
            {"origin": "lab", "dest": "imaging_ct", "count": 8, "median_transit_s": 150.0},
        ]
        self.wandering: list[dict[str, Any]] = [
            {"zone": "imaging_ct", "rate": 0.18, "usual": 0.06, "back_and_forth": 7, "visitors": 40,
             "extra_walk_s": 310.0}]
        self.satisfaction: dict[str, Any] = {"target": 80, "zones": [
            {"zone": "pharmacy", "score": 91.5, "ratings": 55}, {"zone": "lab", "score": 76.0, "ratings": 21},
            {"zone": "reg_hall", "score": 62.5, "ratings": 140}]}
        self.rules: dict[str, Any] = {
            "tickets": {"respond_min": 30, "repair_min": {"critical": 120, "major": 240}},
            "rules": {"card_jam": {"enabled": True, "severity": "major", "ticket": True},
                      "zone_crowded": {"enabled": True, "severity": "major", "dispatch": True, "raise_ratio": 0.9,
                                       "busy_ratio": 0.7}},
        }

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeHub":
        self.port = self.port or free_port()
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self.app())
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-hub", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake hub did not start")
        return self

    def stop(self) -> None:
        if not self._loop:
            return
        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            assert self._runner is not None
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop = None

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a coroutine function on the server's loop and wait for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(fn(*args), self._loop).result(10)

    # -- what tests drive ------------------------------------------------------------------------

    def publish(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.call(self._publish, type_, data)

    async def _publish(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        msg = {"id": next(self._ids), "type": type_, "ts": iso(dt.datetime.now(dt.timezone.utc)), "data": data}
        self.events.append(msg)
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(msg))
        return msg

    def drop_sockets(self) -> None:
        async def drop() -> None:
            for ws in list(self._sockets):
                await ws.close(code=1012, message=b"restart")
        self.call(drop)

    def raise_alarm(self, source: str, type_: str = "card_jam", severity: str = "major") -> dict[str, Any]:
        device = self.devices[source]
        alarm_id = len(self.alarms) + 1
        alarm = {"id": alarm_id, "type": type_, "severity": severity, "source": source, "zone": device["zone"],
                 "state": "active", "raised_at": iso(dt.datetime.now(dt.timezone.utc)), "count": 1}
        self.alarms[alarm_id] = alarm
        self.publish("alarm.raised", alarm)
        device["state"] = "fault"
        self.publish("device.updated", device)
        return alarm

    def open_ticket(self, alarm: dict[str, Any], due_in_min: float = 60) -> dict[str, Any]:
        now = dt.datetime.now(dt.timezone.utc)
        ticket_id = len(self.tickets) + 1
        ticket = {"id": ticket_id, "alarm_id": alarm["id"], "device_id": alarm["source"], "fault": alarm["type"],
                  "state": "open", "assignee": None, "opened_at": iso(now),
                  "due_at": iso(now + dt.timedelta(minutes=due_in_min)), "resolved_at": None}
        self.tickets[ticket_id] = ticket
        self.publish("ticket.updated", ticket)
        return ticket

    def offer_dispatch(self, zone: str, assignee: str = "fm-zhang", reason: str = "zone_crowded") -> dict[str, Any]:
        dispatch_id = len(self.dispatches) + 1
        now = dt.datetime.now(dt.timezone.utc)
        d = {"id": dispatch_id, "zone": zone, "reason": reason, "state": "offered", "assignee": assignee,
             "created_at": iso(now), "expires_at": iso(now + dt.timedelta(minutes=3))}
        self.dispatches[dispatch_id] = d
        self.publish("dispatch.offered", d)
        return d

    # -- HTTP ------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_post("/api/login", self.login)
        r.add_get("/api/me", self.me)
        r.add_get("/api/site", self.get_site)
        r.add_get("/api/zones", self._answer(lambda: list(self.zones.values())))
        r.add_get("/api/kpis", self.kpis)
        r.add_get("/api/service-levels", self._answer(lambda: self.service_levels))
        r.add_get("/api/wheelchairs", self._answer(lambda: self.wheelchairs))
        r.add_get("/api/alarms", self._answer(lambda: list(self.alarms.values())))
        r.add_post("/api/alarms/{id}/ack", self.ack)
        r.add_get("/api/tickets", self._answer(lambda: list(self.tickets.values())))
        r.add_post("/api/tickets/{id}/{verb}", self.ticket_verb)
        r.add_get("/api/dispatches", self.get_dispatches)
        r.add_post("/api/dispatches/{id}/{verb}", self.dispatch_verb)
        r.add_get("/api/devices", self._answer(lambda: list(self.devices.values())))
        r.add_post("/api/devices", self.add_device)
        r.add_delete("/api/devices/{id}", self.remove_device)
        r.add_get("/api/agents", self._answer(lambda: list(self.agents.values())))
        r.add_get("/api/devices/{id}/timeline", self.timeline)
        r.add_get("/api/devices/{id}/history", self.history)
        r.add_get("/api/forecast", self.forecast)
        r.add_get("/api/flows", self.get_flows)
        r.add_get("/api/satisfaction", self.get_satisfaction)
        r.add_get("/api/zones/{id}/history", self.zone_history)
        r.add_get("/api/staffing", self.staffing)
        r.add_get("/api/roster", self._answer(lambda: {"date": "2025-11-24", "status": "none", "people": [
            {"id": "p-zhang", "name": "Zhang Wei", "name_zh": "张伟", "role": "floor_manager", "zones": ["reg_hall", "entrance"], "on_duty": True,
             "elastic": False, "username": "fm-zhang"},
            {"id": "p-li", "name": "Li Na", "name_zh": "李娜", "role": "floor_manager", "zones": ["lab"], "on_duty": True, "elastic": True,
             "username": "fm-li"}]}))
        r.add_get("/api/users", self._answer(lambda: [{"username": u, "role": role} for u, (_, role) in self.users.items()]))
        r.add_post("/api/users", self.add_user)
        r.add_get("/api/rules", self._answer(lambda: self.rules))
        r.add_put("/api/rules", self.put_rules)
        r.add_get("/ws", self.ws)
        r.add_get("/", self.index)
        r.add_static("/", STATIC_DIR)
        return app

    @staticmethod
    def _answer(make: Any) -> Any:
        """A GET handler answering what make() returns at request time."""
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(make())
        return handler

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.json_response(data, status=status)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if any(fnmatch.fnmatchcase(path, m) for m in self.missing):
            return self._json({"error": "not found"}, 404)
        if not (path.startswith("/api/") or path == "/ws") or path == "/api/login":
            return await handler(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() \
            or request.query.get("token", "") or request.cookies.get("floorops_session", "")
        if token not in self.tokens:
            return self._json({"error": "unauthorized"}, 401)
        request[USER] = self.tokens[token]
        return await handler(request)

    def role(self, request: web.Request) -> str:
        return self.users[request[USER]][1]

    def _need(self, request: web.Request, *roles: str) -> None:
        if self.role(request) not in roles:
            raise web.HTTPForbidden(text=json.dumps({"error": "forbidden"}), content_type="application/json")

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        entry = self.users.get(body.get("username", ""))
        if not entry or entry[0] != body.get("password"):
            return self._json({"error": "bad credentials"}, 401)
        token = secrets.token_urlsafe(16)
        self.tokens[token] = body["username"]
        resp = self._json({"token": token, "role": entry[1]})
        resp.set_cookie("floorops_session", token, httponly=True, samesite="Strict")
        return resp

    async def me(self, request: web.Request) -> web.Response:
        person = {"fm-zhang": "p-zhang"}.get(request[USER], "")  # the hub gives the roster id
        return self._json({"username": request[USER], "role": self.role(request), "person": person})

    async def get_site(self, request: web.Request) -> web.Response:
        return self._json(site_json(self.site))  # the hub's own view of the site file

    async def kpis(self, request: web.Request) -> web.Response:
        faulted = sum(d["state"] == "fault" for d in self.devices.values())
        return self._json({
            "waiting_now": sum(z["waiting"] for z in self.zones.values()), "avg_wait_s": 754,
            "devices_faulted": faulted, "fault_rate": faulted / len(self.devices),
            "open_tickets": sum(t["state"] != "resolved" for t in self.tickets.values()), "sla_breaches": 0,
            "open_dispatches": sum(d["state"] in ("offered", "accepted") for d in self.dispatches.values()),
            "mtta_s": 95, "mttr_s": 1260})

    async def ack(self, request: web.Request) -> web.Response:
        self._need(request, "monitor", "admin")
        alarm = self.alarms.get(int_id(request))
        if not alarm:
            return self._json({"error": "no such alarm"}, 404)
        alarm["state"] = "acknowledged"
        await self._publish("alarm.updated", alarm)
        return self._json(alarm)

    async def ticket_verb(self, request: web.Request) -> web.Response:
        self._need(request, "maintenance", "admin")
        t = self.tickets.get(int_id(request))
        verb = request.match_info["verb"]
        if not t or verb not in ("accept", "resolve"):
            return self._json({"error": "not found"}, 404)
        if verb == "accept":
            t.update(state="accepted", assignee=request[USER])
        else:
            body = await request.json()
            if body.get("code") not in RESOLUTION_CODES:
                return self._json({"error": f"code must be one of {', '.join(RESOLUTION_CODES)}"}, 400)
            t.update(state="resolved", resolution=body["code"], resolved_at=iso(dt.datetime.now(dt.timezone.utc)))
        await self._publish("ticket.updated", t)
        return self._json(t)

    async def get_dispatches(self, request: web.Request) -> web.Response:
        rows = list(self.dispatches.values())
        if self.role(request) == "floor_manager":
            rows = [d for d in rows if d["assignee"] == request[USER]]
        return self._json(rows)

    async def dispatch_verb(self, request: web.Request) -> web.Response:
        self._need(request, "floor_manager", "admin")
        d = self.dispatches.get(int_id(request))
        states = {"accept": "accepted", "decline": "declined", "complete": "completed"}
        verb = request.match_info["verb"]
        if not d or verb not in states:
            return self._json({"error": "not found"}, 404)
        d["state"] = states[verb]
        await self._publish("dispatch.updated", d)
        return self._json(d)

    async def add_device(self, request: web.Request) -> web.Response:
        self._need(request, "admin")
        body = await request.json()
        if body.get("id") in self.devices:
            return self._json({"error": "device exists"}, 409)
        self.devices[body["id"]] = {"id": body["id"], "kind": body["kind"], "zone": body["zone"], "state": "offline",
                                    "last_seen": None}
        await self._publish("device.updated", self.devices[body["id"]])
        return self._json({"id": body["id"], "mqtt_username": body["id"], "mqtt_password": secrets.token_urlsafe(12),
                           "topic_prefix": f"hospital/{self.site.id}/{body['kind']}/{body['id']}"})

    async def remove_device(self, request: web.Request) -> web.Response:
        """As the hub: admin only, 404 unknown, ``removal_error`` (set by a test) answers 503 with it."""
        self._need(request, "admin")
        device_id = request.match_info["id"]
        if device_id not in self.devices:
            return self._json({"error": f"no such device: {device_id}"}, 404)
        if self.removal_error:
            return self._json({"error": self.removal_error}, 503)
        device = self.devices.pop(device_id)
        await self._publish("device.removed", {**device, "state": "removed"})
        return self._json({"id": device_id, "removed_at": dt.datetime.now(dt.timezone.utc).timestamp(),
                           "mqtt_username": device_id})

    async def add_user(self, request: web.Request) -> web.Response:
        self._need(request, "admin")
        body = await request.json()
        self.users[body["username"]] = (body["password"], body["role"])
        return self._json({"username": body["username"], "role": body["role"]}, 201)

    async def put_rules(self, request: web.Request) -> web.Response:
        self._need(request, "admin")
        self.rules = await request.json()
        return self._json(self.rules)

    async def timeline(self, request: web.Request) -> web.Response:
        device = request.match_info["id"]
        items: list[dict[str, Any]] = [{"at": a["raised_at"], "what": "alarm", "alarm": a}
                                       for a in self.alarms.values() if a["source"] == device]
        items += [{"at": t["opened_at"], "what": "ticket", "ticket": t} for t in self.tickets.values()
                  if t["device_id"] == device]
        items.sort(key=lambda i: i["at"], reverse=True)
        return self._json({"device": self.devices[device], "items": items})

    async def history(self, request: web.Request) -> web.Response:
        now = dt.datetime.now(dt.timezone.utc)
        return self._json([{"ts": iso(now - dt.timedelta(minutes=5 * k)), "cpu_pct": 20 + (k * 7) % 30,
                            "paper_pct": 80 - k, "seq": k} for k in range(60, 0, -1)])

    def site_hour(self, at: dt.datetime) -> int:
        return at.astimezone(self.site.tz).hour

    async def get_flows(self, request: web.Request) -> web.Response:
        """Live (no window): ``flows`` as set. A window (the console's replay): nothing at night (before 07:00 site
        time), each count doubled in the day, so a test sees the slider change the arrows."""
        window = request.query.get("from"), request.query.get("to")
        flows = self.flows
        if window[1]:
            hour = self.site_hour(dt.datetime.fromisoformat(window[1]))
            flows = [] if hour < 7 else [{**f, "count": f["count"] * 2} for f in self.flows]
        return self._json({"from": window[0], "to": window[1], "k": self.k, "flows": flows,
                           "wandering": self.wandering})

    async def get_satisfaction(self, request: web.Request) -> web.Response:
        return self._json({"date": request.query.get("date", ""), **self.satisfaction})

    async def zone_history(self, request: web.Request) -> web.Response:
        """Every 5 minutes for a day from ``since``: a tenth of capacity before 07:00 site time, half of it after,
        the registration hall nearly full (96 %) from 09:00 to 12:00."""
        zone = self.site.zone(request.match_info["id"])
        since = dt.datetime.fromisoformat(request.query.get("since", "1970-01-01T00:00:00+00:00"))
        rows = []
        for k in range(288):
            at = since + dt.timedelta(minutes=5 * k)
            hour = self.site_hour(at)
            share = 0.1 if hour < 7 else 0.96 if zone.id == "reg_hall" and 9 <= hour < 12 else 0.5
            rows.append({"ts": iso(at), "occupancy": round(zone.capacity * share), "devices": 3})
        return self._json(rows)

    async def forecast(self, request: web.Request) -> web.Response:
        zone = request.query.get("zone", "")
        now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        cap = self.zones[zone]["capacity"]
        rows = []
        for k in range(96):
            p50 = cap * (0.35 + 0.3 * abs(((k % 48) - 24) / 24))
            rows.append({"start": iso(now + dt.timedelta(minutes=15 * k)), "p10": p50 * 0.8, "p50": p50, "p90": p50 * 1.2})
        return self._json(rows)

    async def staffing(self, request: web.Request) -> web.Response:
        rows = []
        for z in self.site.zones:
            for hour in range(7, 20):
                req = 2 + (hour in (9, 10, 14))
                rows.append({"zone": z.id, "hour": hour, "arrivals_p50": 40, "arrivals_p90": 55, "aht_min": 4,
                             "required": req, "required_p90": req + 1, "on_roster": 2, "gap": max(0, req - 2)})
        return self._json(rows)

    async def ws(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_ws:
            return self._json({"error": "unavailable"}, 503)
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        self.ws_connects.append(request.query_string)
        since = request.query.get("since")
        if since is not None:
            for msg in self.events:
                if msg["id"] > int(since):
                    await ws.send_str(json.dumps(msg))
        self._sockets.add(ws)
        try:
            async for m in ws:
                if m.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.discard(ws)
        return ws
