"""Reference for the hub's WebSocket fan-out: a bare aiohttp server that sends each POSTed text to every
connected WebSocket client (one awaited send per client), nothing else. bench/alarm_latency.py runs it
in the same run as the hub, to the same clients, so the harness's own cost (500 clients parsing in one
Python process on the same cores) can be told apart from the hub's.

    python bench/ws_fanout_reference.py PORT
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

clients: set[web.WebSocketResponse] = set()


async def ws(request: web.Request) -> web.WebSocketResponse:
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    clients.add(sock)
    try:
        async for _ in sock:
            pass
    finally:
        clients.discard(sock)
    return sock


async def emit(request: web.Request) -> web.Response:
    text = await request.text()
    await asyncio.gather(*(c.send_str(text) for c in tuple(clients)), return_exceptions=True)
    return web.Response(text=str(len(clients)))


def main() -> None:
    app = web.Application()
    app.router.add_get("/ws", ws)
    app.router.add_post("/emit", emit)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
