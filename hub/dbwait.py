"""HTTP actions while another process holds the database's write lock.

The hub's connection does not wait for the lock (``Database.fail_fast``: the event loop must never sleep
in SQLite's busy handler), so ``BEGIN IMMEDIATE`` fails at once with ``database is locked`` before the
action has changed anything. This middleware then runs the handler again after an async back-off, up to
``hub.db_busy_wait_s``, and answers 503 with a clear error when the lock is still held."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from hub.api import ok
from hub.context import ctx
from hub.db import busy

log = logging.getLogger("hub.dbwait")

FIRST_S = 0.02
MAX_S = 0.5


@web.middleware
async def wait_for_db_lock(request: web.Request, handler: Any) -> web.StreamResponse:
    deadline = time.monotonic() + ctx(request).cfg.hub.db_busy_wait_s
    delay = FIRST_S
    while True:
        try:
            return await handler(request)
        except Exception as exc:
            if not busy(exc):
                raise
            if time.monotonic() + delay > deadline:
                ctx(request).hub.metrics["http_db_busy"] += 1
                log.warning("database locked; request refused", extra={"path": request.path,
                                                                       "method": request.method})
                return ok({"error": "the database is locked by another process (a backup?); nothing was "
                                    "changed, try again in a moment"}, status=503)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_S)
