"""Run the hub until SIGTERM/SIGINT: the aiohttp server on cfg.hub.http_host:http_port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from floorops.config import Config
from floorops.tls import server_context
from floorops.varperms import UMASK
from hub.app import create_app

log = logging.getLogger("hub.server")


async def _run(cfg: Config) -> None:
    app = create_app(cfg, own_process=True)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    # HTTPS when given a certificate (hub.tls_cert / tls_key); the session cookie is then Secure.
    ssl_ctx = server_context(cfg.path(cfg.hub.tls_cert), cfg.path(cfg.hub.tls_key)) if cfg.hub.tls_cert else None
    site = web.TCPSite(runner, cfg.hub.http_host, cfg.hub.http_port, ssl_context=ssl_ctx)
    await site.start()
    scheme = "https" if ssl_ctx else "http"
    log.info("hub listening", extra={"url": f"{scheme}://{cfg.hub.http_host}:{cfg.hub.http_port}"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("hub stopping")
    await runner.cleanup()


def serve(cfg: Config) -> int:
    os.umask(UMASK)  # hub.sqlite, its WAL and backups: the owner's only (floorops/varperms.py)
    asyncio.run(_run(cfg))
    return 0
