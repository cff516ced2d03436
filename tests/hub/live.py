"""An in-process hub HTTP server on a free port, in its own thread and event loop (for API tests)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from floorops.config import Config
from hub.app import create_app
from hub.auth import UserStore
from hub.clock import Clock
from hub.context import CONTEXT

PASSWORDS = {"admin": "admin-pass-1", "monitor": "monitor-pass-1", "fm-zhang": "fm-pass-123",
             "fm-li": "fm-pass-456", "maintenance": "maint-pass-1", "desk": "desk-pass-1",
             "liaison-lab": "liaison-pass-1"}
ROLE_OF = {"admin": "admin", "monitor": "monitor", "fm-zhang": "floor_manager", "fm-li": "floor_manager",
           "maintenance": "maintenance", "desk": "service_desk", "liaison-lab": "liaison"}


class LiveHub:
    def __init__(self, cfg: Config, clock: Clock | None = None, connect_broker: bool = False,
                 background: bool = False) -> None:
        self.cfg = cfg
        self.app = create_app(cfg, clock, connect_broker=connect_broker, background=background)
        self.ctx = self.app[CONTEXT]
        users = UserStore(self.ctx.hub.db)
        for name, pw in PASSWORDS.items():
            users.upsert(name, ROLE_OF[name], pw, person=(p.id if (p := self.ctx.hub.roster.by_username(name)) else ""))
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = f"http://{cfg.hub.http_host}:{cfg.hub.http_port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, self.cfg.hub.http_host, self.cfg.hub.http_port).start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    def start(self) -> "LiveHub":
        self._thread.start()
        assert self._ready.wait(20)
        return self

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` on the server's loop thread (the hub is single-threaded by design)."""
        async def wrapper() -> Any:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(10)

    def login(self, username: str = "monitor") -> str:
        from tests.hub.conftest import http
        status, body = http(self.url + "/api/login", "POST", {"username": username, "password": PASSWORDS[username]})
        assert status == 200, body
        return body["token"]

    def get_when_models_loaded(self, path: str, token: str) -> tuple[int, Any]:
        """GET ``path``; the first calls may find the models package still importing (503 "starting")."""
        import time

        from tests.hub.conftest import http
        for _ in range(40):
            status, body = http(self.url + path, token=token)
            if status != 503 or "starting" not in str(body):
                break
            time.sleep(0.5)
        return status, body

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(20)
