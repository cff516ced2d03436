"""The WebSocket: ``/ws?since=N`` replays the events after id N the user may see, then streams live ones.

Authentication is the session cookie (browsers) or ``Authorization: Bearer`` on the upgrade request (other
clients); never a token in the URL. The socket lives as long as its session: logout, expiry, a changed
role or password (also from ``python -m hub users``, another process) close it with 4001 within a second
or two (``session_watch``). A browser's Origin must be in cfg.hub.ws_origins (default: the hub's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web

from hub.api import ApiError, Route, query_int, served_over_https
from hub.clock import iso
from hub.context import HubContext, ctx

log = logging.getLogger("hub.stream")

CLOSE_TOO_SLOW = 4000  # the client fell behind: reconnect with ?since=
CLOSE_SESSION_ENDED = 4001  # logout, expiry, role or password change: sign in again
SESSION_CHECK_S = 1.0


def _origin_allowed(request: web.Request) -> bool:
    """Browsers always send Origin on a WebSocket upgrade; a request without one is not from a web page
    (curl, a script with a bearer token) and cannot carry a victim's cookie cross-site, so it passes."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    allowed = ctx(request).cfg.hub.ws_origins or [
        f"{'https' if served_over_https(request) else 'http'}://{request.host}"]
    return origin.rstrip("/").lower() in {a.rstrip("/").lower() for a in allowed}


async def ws(request: web.Request) -> web.StreamResponse:
    hub = ctx(request).hub
    user = request["user"]
    since = query_int(request, "since", None)  # a bad value is a 400 before anything is subscribed
    if not _origin_allowed(request):
        raise ApiError(403, "this Origin may not open the hub's WebSocket (cfg.hub.ws_origins)")
    sock = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await sock.prepare(request)
    # Subscribe and note the newest event with no await in between: live events are those after live_from,
    # the backlog is since < id <= live_from, read in pages while live ones queue up.
    sub = hub.bus.subscribe(user, request.get("token"))
    live_from = hub.bus.last_id()
    sub.last_id = live_from

    async def reader() -> None:
        async for msg in sock:
            if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break

    read_task = asyncio.create_task(reader())
    read_task.add_done_callback(lambda _: sub.close())
    try:
        if since is not None:
            if since > live_from or (since < live_from and hub.bus.first_id() > since + 1):
                # Events the client missed are pruned, or its id is from another database: reload instead.
                await sock.send_str(json.dumps({"type": "resync", "ts": iso(hub.clock.now(), hub.tz),
                                                "data": {"last_id": live_from,
                                                         "reason": "pruned" if since < live_from else "unknown_id"}}))
            else:
                for page in hub.bus.backlog(since, live_from, user):
                    for e in page:
                        await sock.send_str(e.wire(hub.tz))
                    if sub.close_code is not None or read_task.done():
                        break
        while True:
            text = await sub.queue.get()
            if text is None:
                if sub.close_code is not None:
                    await sock.close(code=sub.close_code, message=sub.close_reason.encode())
                elif sub.overflowed:  # fell too far behind: the client reconnects with ?since=
                    await sock.close(code=CLOSE_TOO_SLOW, message=b"too slow; reconnect with ?since=")
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


def check_sessions(c: HubContext) -> int:
    """Close (4001) every socket whose session is gone, expired, or whose user's role changed. The sessions
    table is the truth, so a change made by another process (``python -m hub users``) counts too."""
    subs = [s for s in tuple(c.hub.bus.subscribers) if s.token and s.close_code is None]
    if not subs:
        return 0
    live = c.users.live_sessions(list({s.token for s in subs if s.token}), c.hub.clock.now())
    ended = 0
    for s in subs:
        now_user = live.get(s.token or "")
        if now_user is None or now_user.role != s.user.role:
            s.end(CLOSE_SESSION_ENDED, "session ended; sign in again")
            ended += 1
    if ended:
        c.hub.metrics["ws_sessions_ended"] += ended
        log.info("websockets closed: session ended", extra={"closed": ended})
    return ended


async def session_watch(c: HubContext) -> None:
    while True:
        await asyncio.sleep(SESSION_CHECK_S)
        try:
            check_sessions(c)
        except Exception:  # noqa: BLE001 - keep watching
            log.exception("session check failed")


ROUTES = [Route("GET", "/ws", ws, "read",
                "WebSocket of events {id, type, ts, data}; ?since=N replays every missed event (or sends one "
                "{type: resync} when they are pruned). Auth: session cookie or Authorization: Bearer (no token in "
                "the URL). Close codes: 4000 too slow (reconnect with ?since=), 4001 session ended (sign in again)",
                {}, query={"since": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}, tag="stream")]
