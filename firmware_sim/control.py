"""The running simulator's control server (127.0.0.1 only) and the client behind ``inject``.

``POST /inject {"device","fault"[, "repair_min"]}`` triggers a fault (or ``clear``) now;
``GET /status`` shows virtual time, ground truth per zone and each device's faults; ``GET /faults``
lists the catalogue.

It also plays the hospital's own systems for the hub's checks (hub/systems.py): ``GET /systems/<name>``
(his, pacs, queue, app) answers after the system's delay, or 503 while it is failing;
``POST /systems/<name> {"delay_s", "fail"}`` sets them (``python -m firmware_sim slow his 12``) and
``GET /systems`` lists them. The delay is in real seconds: it is what the hub measures.

And the hospital's WeCom and DingTalk group robots and SMS gateway (firmware_sim/inbox.py): what they and
the mail server received is ``GET /inbox`` (``python -m firmware_sim inbox``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import urllib.error
import urllib.request
from typing import Any

from aiohttp import web

from firmware_sim.faults import UnknownFault
from firmware_sim.inbox import Inbox

log = logging.getLogger(__name__)

SYSTEMS = ("his", "pacs", "queue", "app")  # the hospital information system, imaging, the queue system, the app
MAX_DELAY_S = 600.0


class ControlServer:
    """aiohttp app bound to the simulation (anything with ``inject``, ``status``, ``kinds`` and ``now_ms``)."""

    def __init__(self, sim: Any, now_ms: Any, host: str, port: int, inbox: Inbox | None = None) -> None:
        self.sim = sim
        self.now_ms = now_ms
        self.inbox = inbox or Inbox(now_ms)
        self.host, self.port = host, port
        self.runner: web.AppRunner | None = None
        self.rejected = 0
        self.systems: dict[str, dict[str, Any]] = {n: {"delay_s": 0.0, "fail": False} for n in SYSTEMS}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/inject", self.inject)
        app.router.add_get("/status", self.status)
        app.router.add_get("/faults", self.faults)
        app.router.add_get("/systems", self.list_systems)
        app.router.add_get("/systems/{name}", self.system)
        app.router.add_post("/systems/{name}", self.set_system)
        self.inbox.add_routes(app)
        return app

    async def list_systems(self, request: web.Request) -> web.Response:
        return web.json_response(self.systems)

    async def system(self, request: web.Request) -> web.Response:
        """One of the hospital's systems as the hub's check sees it."""
        state = self.systems.get(request.match_info["name"])
        if state is None:
            return self._error(404, f"no such system; one of {', '.join(SYSTEMS)}")
        if state["delay_s"]:
            await asyncio.sleep(state["delay_s"])
        if state["fail"]:
            return web.json_response({"system": request.match_info["name"], "status": "down"}, status=503)
        return web.json_response({"system": request.match_info["name"], "status": "ok"})

    async def set_system(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.systems:
            return self._error(404, f"no such system; one of {', '.join(SYSTEMS)}")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "body must be JSON {\"delay_s\": number, \"fail\": bool}")
        if not isinstance(body, dict) or set(body) - {"delay_s", "fail"}:
            return self._error(400, "body must be JSON {\"delay_s\": number, \"fail\": bool}")
        delay = body.get("delay_s", self.systems[name]["delay_s"])
        fail = body.get("fail", self.systems[name]["fail"])
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay) \
                or not 0 <= delay <= MAX_DELAY_S:
            return self._error(400, f"delay_s must be a number of seconds from 0 to {MAX_DELAY_S:g}")
        if not isinstance(fail, bool):
            return self._error(400, "fail must be true or false")
        self.systems[name] = {"delay_s": float(delay), "fail": fail}
        log.info("hospital system set", extra={"system": name, **self.systems[name]})
        return web.json_response({name: self.systems[name]})

    def _error(self, status: int, message: str) -> web.Response:
        self.rejected += 1
        return web.json_response({"error": message}, status=status)

    async def inject(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "body must be JSON {\"device\", \"fault\"}")
        if not isinstance(body, dict) or not isinstance(body.get("device"), str) or not isinstance(body.get("fault"), str):
            return self._error(400, "body must be JSON {\"device\": str, \"fault\": str}")
        repair = body.get("repair_min")
        if repair is not None and (isinstance(repair, bool) or not isinstance(repair, (int, float))):
            return self._error(400, "repair_min must be a number of virtual minutes")
        try:
            result = self.sim.inject(body["device"], body["fault"], self.now_ms(), repair)
        except KeyError:
            return self._error(404, f"no simulated device {body['device']!r}")
        except UnknownFault as exc:
            return self._error(400, str(exc))
        log.info("injected", extra={"device": body["device"], "fault": body["fault"]})
        return web.json_response(result)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({**self.sim.status(), "inbox": self.inbox.counts})

    async def faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.kinds.faults.json("kinds"))

    async def start(self) -> None:
        # A slowed /systems answer must not hold a stop for long.
        self.runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()
        log.info("control server listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class ControlError(RuntimeError):
    """The simulator refused the request or is not running."""


def send_inject(port: int, device: str, fault: str, repair_min: float | None = None,
                host: str = "127.0.0.1", timeout_s: float = 10.0) -> dict[str, Any]:
    """Client side of ``python -m firmware_sim inject``."""
    body: dict[str, Any] = {"device": device, "fault": fault}
    if repair_min is not None:
        body["repair_min"] = repair_min
    return _post(host, port, "/inject", body, timeout_s)


def get_status(port: int, host: str = "127.0.0.1", timeout_s: float = 10.0) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=timeout_s) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError) as exc:
        raise ControlError(f"no simulator answering on {host}:{port} ({exc})") from None


def get_inbox(port: int, host: str = "127.0.0.1", timeout_s: float = 10.0) -> dict[str, Any]:
    """Client side of ``python -m firmware_sim inbox``: what the hospital's message services received."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/inbox", timeout=timeout_s) as r:
            answer: dict[str, Any] = json.loads(r.read())
            return answer
    except (urllib.error.URLError, OSError) as exc:
        raise ControlError(f"no simulator answering on {host}:{port} ({exc})") from None


def set_system(port: int, name: str, host: str = "127.0.0.1", timeout_s: float = 10.0,
               **settings: Any) -> dict[str, Any]:
    """Client side of ``python -m firmware_sim slow|fail``: ``delay_s`` and/or ``fail`` of one system."""
    return _post(host, port, f"/systems/{name}", settings, timeout_s)


def _post(host: str, port: int, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """POST JSON to the simulator's control server; its refusal or its absence as a ControlError."""
    req = urllib.request.Request(f"http://{host}:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            answer: dict[str, Any] = json.loads(r.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            msg = json.loads(exc.read()).get("error", "")
        except ValueError:
            msg = ""
        raise ControlError(msg or f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ControlError(f"no simulator answering on {host}:{port} ({exc})") from None
