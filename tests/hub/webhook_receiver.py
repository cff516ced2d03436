"""A real local webhook receiver (aiohttp on a free loopback port, in its own thread) that records every
request as it arrived (path, headers, raw body) and answers as the test tells it to."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from centre.services import free_port


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Behaviour = Callable[["Receiver", Request], Awaitable[web.StreamResponse]]


async def answer_204(receiver: "Receiver", request: Request) -> web.StreamResponse:
    return web.Response(status=204)


class Receiver:
    def __init__(self, behaviour: Behaviour = answer_204, port: int | None = None) -> None:
        self.behaviour = behaviour
        self.port = port or free_port()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        req = Request(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
        with self._lock:
            self.requests.append(req)
        return await self.behaviour(self, req)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self) -> "Receiver":
        self._thread.start()
        assert self._ready.wait(10), "receiver did not start"
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            # Cleanup cancels the handlers still waiting (a hung receiver's) after shutdown_timeout.
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def got(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, check: Callable[[list[Request]], Any], timeout_s: float = 20.0, what: str = "requests") -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = check(self.got())
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"receiver: {what} not seen within {timeout_s} s; got {len(self.got())} requests")
