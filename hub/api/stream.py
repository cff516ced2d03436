"""The WebSocket: ``/ws?since=N`` replays the events after id N the user may see, then streams live ones."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from hub.api import ApiError, Route
from hub.context import ctx


async def ws(request: web.Request) -> web.StreamResponse:
    hub = ctx(request).hub
    user = request["user"]
    since = request.query.get("since")
    if since is not None and not since.isdigit():
        raise ApiError(400, "since must be an event id")
    sock = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await sock.prepare(request)
    # Subscribe and read the backlog with no await in between: nothing can be published in the gap.
    sub = hub.bus.subscribe(user)
    backlog = hub.bus.since(int(since), user) if since is not None else []
    if backlog:
        sub.last_id = backlog[-1].id

    async def reader() -> None:
        async for msg in sock:
            if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break

    read_task = asyncio.create_task(reader())
    read_task.add_done_callback(lambda _: sub.close())
    try:
        for e in backlog:
            await sock.send_str(e.wire(hub.tz))
        while True:
            text = await sub.queue.get()
            if text is None:
                if sub.overflowed:  # fell too far behind: the client reconnects with ?since=
                    await sock.close(code=4000, message=b"too slow; reconnect with ?since=")
                break
            await sock.send_str(text)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.bus.unsubscribe(sub)
        read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await read_task
        if not sock.closed:
            await sock.close()
    return sock


ROUTES = [Route("GET", "/ws", ws, "read", "WebSocket of events {id, type, ts, data}; ?since=N replays", {}, tag="stream")]
