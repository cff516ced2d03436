"""Run the hub until SIGTERM/SIGINT: the aiohttp server on cfg.hub.http_host:http_port."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from floorops.config import Config
from hub.app import create_app

log = logging.getLogger("hub.server")


async def _run(cfg: Config) -> None:
    app = create_app(cfg)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, cfg.hub.http_host, cfg.hub.http_port)
    await site.start()
    log.info("hub listening", extra={"url": f"http://{cfg.hub.http_host}:{cfg.hub.http_port}"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("hub stopping")
    await runner.cleanup()


def serve(cfg: Config) -> int:
    asyncio.run(_run(cfg))
    return 0
