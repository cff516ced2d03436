"""Outbound webhooks: a generic JSON POST per alarm and dispatch event to every URL in cfg.hub.webhooks,
retried with exponential backoff; a receiver that keeps failing is logged and counted, never blocking."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import aiohttp

from hub.events import Event

log = logging.getLogger("hub.webhooks")

FORWARDED = ("alarm.raised", "alarm.cleared", "alarm.updated", "dispatch.offered", "dispatch.updated")


class WebhookSender:
    def __init__(self, urls: list[str], retries: int = 5, backoff_s: float = 0.5, timeout_s: float = 5.0) -> None:
        self.urls = list(urls)
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(10_000)
        self.stats: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None

    def offer(self, event: Event, body: dict[str, Any]) -> None:
        if not self.urls or event.type not in FORWARDED:
            return
        for url in self.urls:
            try:
                self.queue.put_nowait((url, body))
            except asyncio.QueueFull:
                self.stats["dropped"] += 1

    async def run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            while True:
                url, body = await self.queue.get()
                asyncio.create_task(self._deliver(url, body))
        finally:
            await self._session.close()

    async def _deliver(self, url: str, body: dict[str, Any]) -> None:
        assert self._session is not None
        for attempt in range(self.retries + 1):
            try:
                async with self._session.post(url, json=body, headers={"User-Agent": "FloorOps-hub"}) as r:
                    if r.status < 300:
                        self.stats["delivered"] += 1
                        return
                    if 400 <= r.status < 500 and r.status not in (408, 429):
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            self.stats["retries"] += 1
            await asyncio.sleep(self.backoff_s * 2 ** attempt)
        self.stats["failed"] += 1
        log.error("webhook not delivered", extra={"url": url, "event": body.get("type")})
